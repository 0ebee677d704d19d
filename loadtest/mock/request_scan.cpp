// Hand-written JSON walk for scan_request(): strict enough to reject what is not JSON (the mock
// answers 400 then, as OpenAI does), lenient about numbers, and bounded in nesting depth so hostile
// input cannot blow the stack.
#include "loadtest/mock/request_scan.hpp"

#include <charconv>
#include <string>

#include "loadtest/mock/nvext_check.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace augur::mock {
namespace {

constexpr int kMaxDepth = 128;

class Cursor {
 public:
  explicit Cursor(std::string_view text) : s_(text) {}

  bool at_end() {
    skip_ws();
    return i_ == s_.size();
  }

  // Raw contents of a string (escapes kept), cursor after the closing quote.
  bool string(std::string_view& raw) {
    skip_ws();
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    const std::size_t start = ++i_;
    while (i_ < s_.size()) {
      skip_plain();
      if (i_ >= s_.size()) break;
      const char c = s_[i_];
      if (c == '"') {
        raw = s_.substr(start, i_ - start);
        ++i_;
        return true;
      }
      if (c == '\\') {
        i_ += 2;
        continue;
      }
      if (static_cast<unsigned char>(c) < 0x20) return false;
      ++i_;
    }
    return false;
  }

  // Any value; `raw` is its text (for a string: with the quotes).
  bool value(std::string_view& raw, int depth) {
    skip_ws();
    if (i_ >= s_.size() || depth > kMaxDepth) return false;
    const std::size_t start = i_;
    bool ok = false;
    switch (s_[i_]) {
      case '"': {
        std::string_view ignored;
        ok = string(ignored);
        break;
      }
      case '{':
        ok = object([](std::string_view, std::string_view) {}, depth + 1);
        break;
      case '[':
        ok = array([](std::string_view) {}, depth + 1);
        break;
      case 't':
        ok = literal("true");
        break;
      case 'f':
        ok = literal("false");
        break;
      case 'n':
        ok = literal("null");
        break;
      default:
        ok = number();
    }
    if (ok) raw = s_.substr(start, i_ - start);
    return ok;
  }

  // Calls on_item(raw_value) for each element of an array, in order.
  template <class OnItem>
  bool array(OnItem&& on_item, int depth) {
    if (!eat('[')) return false;
    if (eat(']')) return true;
    for (;;) {
      std::string_view item;
      if (!value(item, depth)) return false;
      on_item(item);
      if (eat(',')) continue;
      return eat(']');
    }
  }

  // Calls on_member(raw_key, raw_value) for each member, in order.
  template <class OnMember>
  bool object(OnMember&& on_member, int depth) {
    if (!eat('{')) return false;
    if (eat('}')) return true;
    for (;;) {
      std::string_view key, val;
      if (!string(key) || !eat(':') || !value(val, depth)) return false;
      on_member(key, val);
      if (eat(',')) continue;
      return eat('}');
    }
  }

 private:
  // Past string bytes that need no look (not '"', '\\' or a control byte), 16 at a time: most
  // of a request body is message text, and the proxies under test add more.
  void skip_plain() {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20), high = _mm_set1_epi8(char(0x80));
    while (i_ + 16 <= s_.size()) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s_.data() + i_));
      // Unsigned "below 0x20" as a signed compare with the top bit flipped (UTF-8 passes).
      const __m128i control = _mm_cmplt_epi8(_mm_xor_si128(v, high), _mm_xor_si128(space, high));
      const __m128i stop = _mm_or_si128(
          control, _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
      const int mask = _mm_movemask_epi8(stop);
      if (mask != 0) {
        i_ += static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
        return;
      }
      i_ += 16;
    }
#endif
  }

  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
      ++i_;
  }

  bool eat(char c) {
    skip_ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  bool number() {
    const std::size_t start = i_;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
        ++i_;
      } else {
        break;
      }
    }
    return i_ > start;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

// Whether a raw key (escapes kept) spells "nvext". Escaped spellings are rare, so they take a slow
// path: serde reads the key unescaped, and the mock should see the member Dynamo sees. Five
// characters take at most 30 bytes escaped, so longer keys are not it.
bool is_nvext_key(std::string_view raw) {
  if (raw == "nvext") return true;
  if (raw.find('\\') == std::string_view::npos || raw.size() > 30) return false;
  std::string decoded;
  // The key's view is followed by its closing quote in the body.
  return decode_json_string({raw.data(), raw.size() + 1}, decoded) && decoded == "nvext";
}

std::optional<std::int64_t> to_count(std::string_view raw) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
  if (ec != std::errc{} || end != raw.data() + raw.size() || v < 0) return std::nullopt;
  return v;
}

// Contents of a raw JSON string value (quotes stripped, escapes kept); null data() otherwise.
std::string_view string_contents(std::string_view raw) {
  return raw.size() >= 2 && raw.front() == '"' ? raw.substr(1, raw.size() - 2) : std::string_view{};
}

// Calls on_member for each member of `raw` when it is an object (values already validated).
template <class OnMember>
void members(std::string_view raw, OnMember&& on_member) {
  if (raw.empty() || raw.front() != '{') return;
  Cursor(raw).object(on_member, 1);
}

// Calls on_item for each element of `raw` when it is an array.
template <class OnItem>
void items(std::string_view raw, OnItem&& on_item) {
  if (raw.empty() || raw.front() != '[') return;
  Cursor(raw).array(on_item, 1);
}

// The first tool's name: "name" (Responses and Messages tools) or "function"."name" (the Chat
// Completions shape some clients send to /v1/responses too).
std::string_view first_tool_name(std::string_view tools) {
  std::string_view name;
  items(tools, [&](std::string_view tool) {
    if (!name.empty()) return;
    members(tool, [&](std::string_view key, std::string_view val) {
      if (!name.empty()) return;
      if (key == "name") {
        name = string_contents(val);
      } else if (key == "function") {
        members(val, [&](std::string_view k, std::string_view v) {
          if (k == "name" && name.empty()) name = string_contents(v);
        });
      }
    });
  });
  return name;
}

// Input items of type function_call_output (Responses "input" array).
std::int64_t count_function_call_outputs(std::string_view input) {
  std::int64_t n = 0;
  items(input, [&](std::string_view item) {
    members(item, [&](std::string_view key, std::string_view val) {
      if (key == "type" && val == R"("function_call_output")") ++n;
    });
  });
  return n;
}

// tool_result content blocks of user messages (Messages "messages" array).
std::int64_t count_tool_results(std::string_view messages) {
  std::int64_t n = 0;
  items(messages, [&](std::string_view message) {
    bool user = false;
    std::int64_t in_message = 0;
    members(message, [&](std::string_view key, std::string_view val) {
      if (key == "role") {
        user = val == R"("user")";
      } else if (key == "content") {
        items(val, [&](std::string_view block) {
          members(block, [&](std::string_view k, std::string_view v) {
            if (k == "type" && v == R"("tool_result")") ++in_message;
          });
        });
      }
    });
    if (user) n += in_message;
  });
  return n;
}

}  // namespace

DialectFields scan_dialect_request(std::string_view body, Dialect dialect) {
  DialectFields f;
  const bool responses = dialect == Dialect::responses;
  const std::string_view max_key = responses ? "max_output_tokens" : "max_tokens";
  const std::string_view instructions_key = responses ? "instructions" : "system";
  std::string_view conversation;
  Cursor cur(body);
  const bool ok = cur.object(
      [&](std::string_view key, std::string_view val) {
        if (key == "model") {
          f.model = string_contents(val);
        } else if (key == "stream") {
          f.stream = val == "true";
        } else if (key == max_key) {
          f.max_tokens_raw = val;
          f.max_tokens = to_count(val);
        } else if (key == instructions_key) {
          f.instructions = val;
        } else if (key == "tools") {
          f.tools = val;
        } else if (key == (responses ? "input" : "messages")) {
          conversation = val;
        } else if (responses && key == "previous_response_id") {
          f.previous_response_id = string_contents(val);
        }
      },
      0);
  f.is_object = ok && cur.at_end();
  if (!f.is_object) return f;
  f.tool_name = first_tool_name(f.tools);
  f.tool_results =
      responses ? count_function_call_outputs(conversation) : count_tool_results(conversation);
  return f;
}

RequestFields scan_request(std::string_view body) {
  RequestFields f;
  std::optional<std::int64_t> max_tokens, max_completion_tokens;
  Cursor cur(body);
  const bool ok = cur.object(
      [&](std::string_view key, std::string_view val) {
        if (key == "model") {
          f.model = val.size() >= 2 && val.front() == '"' ? val.substr(1, val.size() - 2)
                                                          : std::string_view{};
        } else if (key == "stream") {
          f.stream = val == "true";
        } else if (key == "max_tokens") {
          max_tokens = to_count(val);
        } else if (key == "max_completion_tokens") {
          max_completion_tokens = to_count(val);
        } else if (is_nvext_key(key)) {
          if (f.nvext.data() == nullptr) {
            f.nvext = val;
          } else if (f.nvext_repeat_key.data() == nullptr) {
            f.nvext_repeat_key = key;
          }
        } else if (key == "stream_options") {
          Cursor inner(val);
          f.include_usage = false;
          inner.object(
              [&](std::string_view k, std::string_view v) {
                if (k == "include_usage") f.include_usage = v == "true";
              },
              1);
        }
      },
      0);
  f.is_object = ok && cur.at_end();
  f.max_tokens = max_tokens ? max_tokens : max_completion_tokens;
  return f;
}

}  // namespace augur::mock
