// Hashing a conversation in one walk over the parsed body: every message's hash is structural
// (types, keys, string bytes and numbers, as parsed), so what counts is what the client sent, not
// how it spaced it, and nothing is serialised again.
#include "proxy/context/conversation_shape.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <span>

#include "common/literal.hpp"
#include "common/printable.hpp"
#include "common/text_hash.hpp"

namespace augur::proxy {
namespace {

namespace dom = simdjson::dom;

// Tags keep differently typed values apart ("1" vs 1, [] vs {}).
enum Tag : std::uint64_t {
  t_string = 1,
  t_int,
  t_uint,
  t_double,
  t_true,
  t_false,
  t_null,
  t_array,
  t_object,
  t_end
};

std::string_view string_of(dom::element e) {
  std::string_view s;
  return e.get_string().get(s) == simdjson::SUCCESS ? s : std::string_view();
}

// A value's hash with its type folded in, so the walk below mixes once per value (its chain of
// mixes is what the walk waits on).
std::uint64_t tagged(Tag tag, std::uint64_t v) { return v ^ (tag * 0x9E3779B97F4A7C15ull); }

std::uint64_t hash_element(dom::element e, std::uint64_t h);

// An object's hash (hash_element's), calling `visit(key, value)` on each member on the way.
template <class Visit>
std::uint64_t hash_object(dom::object o, std::uint64_t h, Visit&& visit) {
  h = mix(h, t_object);
  for (const dom::key_value_pair field : o) {
    h = hash_element(field.value, mix(h, hash_short(field.key)));
    visit(field.key, field.value);
  }
  return mix(h, t_end);
}

std::uint64_t hash_element(dom::element e, std::uint64_t h) {
  switch (e.type()) {
    case dom::element_type::STRING:
      return mix(h, tagged(t_string, hash_short(e.get_string().value_unsafe())));
    case dom::element_type::INT64:
      return mix(h, tagged(t_int, static_cast<std::uint64_t>(e.get_int64().value_unsafe())));
    case dom::element_type::UINT64:
      return mix(h, tagged(t_uint, e.get_uint64().value_unsafe()));
    case dom::element_type::DOUBLE: {
      const double d = e.get_double().value_unsafe();
      std::uint64_t bits = 0;
      std::memcpy(&bits, &d, sizeof bits);
      return mix(h, tagged(t_double, bits));
    }
    case dom::element_type::BOOL:
      return mix(h, e.get_bool().value_unsafe() ? t_true : t_false);
    case dom::element_type::NULL_VALUE:
      return mix(h, t_null);
    case dom::element_type::ARRAY:
      h = mix(h, t_array);
      for (dom::element child : dom::array(e)) h = hash_element(child, h);
      return mix(h, t_end);
    case dom::element_type::OBJECT:
      return hash_object(dom::object(e), h, [](std::string_view, dom::element) {});
  }
  return h;
}

std::string_view member(dom::object o, std::string_view key) {
  dom::element e;
  return o[key].get(e) == simdjson::SUCCESS ? string_of(e) : std::string_view();
}

// Calls `f` with each piece of text in a content value: a string, or the "text" of each part.
template <class F>
void for_each_text(dom::element content, F&& f) {
  if (content.is_string()) {
    f(string_of(content));
    return;
  }
  dom::array parts;
  if (content.get_array().get(parts) != simdjson::SUCCESS) return;
  for (dom::element part : parts) {
    dom::object o;
    if (part.get_object().get(o) != simdjson::SUCCESS) continue;
    if (const std::string_view t = member(o, "text"); !t.empty()) f(t);
  }
}

bool has_tool_result_part(dom::element content) {
  dom::array parts;
  if (content.get_array().get(parts) != simdjson::SUCCESS) return false;
  for (dom::element part : parts) {
    dom::object o;
    if (part.get_object().get(o) == simdjson::SUCCESS &&
        is_literal(member(o, "type"), "tool_result")) {
      return true;
    }
  }
  return false;
}

// Hashing text word by word costs a hash per word; the same system prompt and task come with
// every call of a run. Each io thread remembers its recent texts' word hashes by a hash of their
// raw bytes (one pass at memory speed), direct-mapped: a collision only costs a recomputation.
std::uint64_t word_hash(std::span<const std::string_view> pieces, bool mask_digits) {
  struct Slot {
    std::uint64_t raw = 0;
    std::uint64_t words = 0;
  };
  thread_local std::array<Slot, 1024> cache{};
  std::uint64_t raw = mask_digits ? 0x6d61736b : 0x706c61696e;
  for (const std::string_view p : pieces) raw = hash_bytes(p, mix(raw, p.size()));
  Slot& slot = cache[raw % cache.size()];
  if (slot.raw == raw && raw != 0) return slot.words;
  std::uint64_t words = 0;
  for (const std::string_view p : pieces) words = hash_words(p, mask_digits, words);
  slot = {raw, words};
  return words;
}

// The system prompt's pieces, kept as views (valid during the read) for its hash and the rules.
struct SystemText {
  std::vector<std::string_view>& pieces;
  void add(std::string_view s) { pieces.push_back(s); }
  std::uint64_t hash() const { return pieces.empty() ? 0 : word_hash(pieces, true); }
  bool contains(std::string_view needle) const {
    return std::any_of(pieces.begin(), pieces.end(), [&](std::string_view p) {
      return p.find(needle) != std::string_view::npos;
    });
  }
};

enum class Kind { system, user_turn, tool_result, other };

// What one message (or Responses input item) is, and its hash (hash_element's), in one walk over
// its members. A user message's text pieces go to `text`.
Kind read_message(dom::element m, SystemText& system, std::vector<std::string_view>& text,
                  std::uint64_t& hash) {
  dom::object o;
  if (m.get_object().get(o) != simdjson::SUCCESS) {
    hash = hash_element(m, 0);
    return Kind::other;
  }
  // The first of each key counts, as a lookup would find it.
  std::string_view role, type;
  bool has_role = false, has_type = false, has_content = false;
  dom::element content;
  hash = hash_object(o, 0, [&](std::string_view key, dom::element value) {
    if (is_literal(key, "role") && !has_role) {
      role = string_of(value);
      has_role = true;
    } else if (is_literal(key, "type") && !has_type) {
      type = string_of(value);
      has_type = true;
    } else if (is_literal(key, "content") && !has_content) {
      content = value;
      has_content = true;
    }
  });
  if (is_literal(type, "function_call_output")) return Kind::tool_result;  // Responses
  if (is_literal(role, "tool") || is_literal(role, "function")) return Kind::tool_result;  // chat
  if (is_literal(role, "system") || is_literal(role, "developer")) {
    if (has_content) for_each_text(content, [&](std::string_view s) { system.add(s); });
    return Kind::system;
  }
  if (role != "user" || !has_content) return Kind::other;
  if (has_tool_result_part(content)) return Kind::tool_result;  // Messages
  text.clear();
  for_each_text(content, [&](std::string_view s) { text.push_back(s); });
  return Kind::user_turn;
}

// Names go to names[used...], reusing the strings a previous body left there.
void read_tools(dom::array tools, std::vector<std::uint64_t>& hashes,
                std::vector<std::string>& names, std::size_t& used) {
  for (dom::element tool : tools) {
    dom::object o;
    if (tool.get_object().get(o) != simdjson::SUCCESS) continue;
    std::string_view name = member(o, "name");
    dom::object function;
    if (name.empty() && o["function"].get_object().get(function) == simdjson::SUCCESS) {
      name = member(function, "name");
    }
    if (name.empty()) continue;
    hashes.push_back(hash_bytes(name));
    if (used < kMaxToolNames && name.size() <= 64 && printable_ascii(name)) {
      if (used < names.size()) {
        names[used].assign(name);
      } else {
        names.emplace_back(name);
      }
      ++used;
    }
  }
}

bool matches(const AgentRule& rule, const SystemText& system,
             const std::vector<std::string>& tools) {
  if (!rule.system_prompt_contains.empty() && !system.contains(rule.system_prompt_contains)) {
    return false;
  }
  return std::all_of(rule.tools.begin(), rule.tools.end(), [&](const std::string& t) {
    return std::find(tools.begin(), tools.end(), t) != tools.end();
  });
}

}  // namespace

void read_conversation(dom::object root, std::span<const AgentRule> rules, ConversationShape& out) {
  // Scratch lists, kept by the thread between bodies (only views and hashes: nothing outlives
  // the call), so reading a conversation allocates nothing once they have grown.
  thread_local std::vector<std::string_view> system_pieces, text;
  thread_local std::vector<std::uint64_t> tool_hashes;
  system_pieces.clear();
  text.clear();
  tool_hashes.clear();
  SystemText system{system_pieces};
  dom::element list;
  bool have_list = false;
  std::size_t tool_names = 0;
  for (const dom::key_value_pair field : root) {
    const std::string_view key = field.key;
    if ((is_literal(key, "messages") || is_literal(key, "input")) && !have_list) {
      list = field.value;
      have_list = true;
    } else if (is_literal(key, "system") || is_literal(key, "instructions")) {
      for_each_text(field.value, [&](std::string_view s) { system.add(s); });
    } else if (is_literal(key, "tools")) {
      dom::array tools;
      if (field.value.get_array().get(tools) == simdjson::SUCCESS) {
        read_tools(tools, tool_hashes, out.tools, tool_names);
      }
    }
  }
  out.tools.resize(tool_names);
  if (!have_list) return;

  // The message hashes first (into `prefix`, chained in place below): system messages among them
  // feed the agent, which seeds the chain.
  std::vector<std::uint64_t>& hashes = out.prefix;
  hashes.clear();
  const auto add = [&](std::uint64_t hash, Kind kind) {
    if (kind == Kind::user_turn) {
      out.last_user_turn = static_cast<std::int64_t>(hashes.size());
      if (out.task == 0) out.task = std::max<std::uint64_t>(word_hash(text, false), 1);
    }
    hashes.push_back(hash);
  };
  dom::array items;
  if (list.get_array().get(items) == simdjson::SUCCESS) {
    hashes.reserve(items.size());
    for (dom::element m : items) {
      std::uint64_t hash = 0;
      const Kind kind = read_message(m, system, text, hash);
      add(hash, kind);
    }
  } else if (list.is_string()) {  // Responses: one input string is one user message
    text.assign(1, string_of(list));
    add(hash_element(list, 0), Kind::user_turn);
  } else {
    return;
  }

  std::sort(tool_hashes.begin(), tool_hashes.end());
  std::uint64_t agent = mix(system.hash(), tool_hashes.size());
  for (const std::uint64_t t : tool_hashes) agent = mix(agent, t);
  out.agent = agent;
  std::uint64_t chain = agent;
  for (std::uint64_t& h : out.prefix) h = chain = mix(chain, h);
  for (const AgentRule& rule : rules) {
    if (matches(rule, system, out.tools)) {
      out.agent_name = rule.name;
      break;
    }
  }
}

}  // namespace augur::proxy
