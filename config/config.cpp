// The YAML config loader: walks the document with yaml-cpp, fills a Config, and turns every
// problem (syntax, unknown key, wrong type, bad value, dangling reference) into a ConfigError with
// file, line and dotted key path. Each section is a table of key -> reader, so adding a key is one
// line in the table and unknown keys are caught everywhere for free.
#include "config/config.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/redis_url.hpp"
#include "config/scalars.hpp"

namespace augur::config {

namespace {

std::string format_error(const std::string& file, int line, const std::string& key,
                         const std::string& message) {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  return out + message;
}

// "1" rather than std::to_string's "1.000000".
std::string shortest(double x) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(x);
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string join(std::initializer_list<std::string_view> words) {
  std::string out;
  for (std::string_view w : words) out += (out.empty() ? "" : ", ") + std::string(w);
  return out;
}

// A node being read, with what an error about it needs: the file, the 1-based line to blame and
// its dotted key path.
class Value {
 public:
  Value(const std::string& file, const YAML::Node& node, std::string path, int line)
      : file_(file), node_(node), path_(std::move(path)), line_(line) {}

  [[noreturn]] void fail(const std::string& message) const {
    throw ConfigError(file_, line_, path_, message);
  }

  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  int line() const { return line_; }
  bool is_null() const { return node_.IsNull(); }

  // A child node. A null value ("key:" with nothing after it) is blamed on its key's line, because
  // yaml-cpp marks it where the next token starts, often the following line.
  Value child(const std::string& path, const YAML::Node& node, int fallback_line) const {
    int line = fallback_line;
    if (!node.IsNull() && node.Mark().line >= 0) line = node.Mark().line + 1;
    return Value(file_, node, path, line);
  }

  // The scalar's text with ${NAME} replaced by that environment variable (detail::expand_env),
  // before any reader parses it, so every value may come from the environment; `expected` names
  // what was wanted, for the error ("a duration").
  std::string scalar(std::string_view expected) const {
    if (!node_.IsScalar()) fail("expected " + std::string(expected) + ", got " + kind());
    auto expanded = detail::expand_env(node_.Scalar(), [](const std::string& name) {
      return static_cast<const char*>(std::getenv(name.c_str()));
    });
    if (!expanded.value) fail(expanded.error);
    return std::move(*expanded.value);
  }

  std::string kind() const {
    switch (node_.Type()) {
      case YAML::NodeType::Null:
        return "nothing";
      case YAML::NodeType::Sequence:
        return "a list";
      case YAML::NodeType::Map:
        return "a mapping";
      case YAML::NodeType::Scalar:
        return quoted(node_.Scalar());
      default:
        return "an undefined value";
    }
  }

 private:
  const std::string& file_;
  YAML::Node node_;
  std::string path_;
  int line_;
};

using Reader = std::function<void(const Value&)>;
using Fields = std::initializer_list<std::pair<std::string_view, Reader>>;

int mark_line(const YAML::Node& node, int fallback) {
  return node.Mark().line >= 0 ? node.Mark().line + 1 : fallback;
}

// Reads a mapping in document order, handing each value to its key's reader. Unknown and repeated
// keys are errors (a typo must not silently fall back to a default); `required` keys must appear.
// A null value (an empty section) leaves every default in place.
void read_map(const Value& v, Fields fields,
              std::initializer_list<std::string_view> required = {}) {
  if (v.is_null()) {
    if (required.size() > 0) v.fail("missing required key " + quoted(*required.begin()));
    return;
  }
  if (!v.node().IsMap()) v.fail("expected a mapping (key: value), got " + v.kind());
  std::map<std::string, int, std::less<>> seen;
  for (auto it = v.node().begin(); it != v.node().end(); ++it) {
    // Copies: the iterator's pair is a temporary proxy, so references into it would dangle.
    const YAML::Node key_node = it->first;
    const YAML::Node value_node = it->second;
    const int key_line = mark_line(key_node, v.line());
    if (!key_node.IsScalar()) v.child(v.path(), key_node, key_line).fail("keys must be plain text");
    const std::string& key = key_node.Scalar();
    const std::string path = v.path().empty() ? key : v.path() + "." + key;
    const Value key_value = v.child(path, key_node, key_line);
    if (auto [pos, inserted] = seen.emplace(key, key_line); !inserted)
      key_value.fail("duplicate key (first given on line " + std::to_string(pos->second) + ")");
    const Reader* reader = nullptr;
    for (const auto& [name, r] : fields)
      if (name == key) reader = &r;
    if (reader == nullptr) {
      std::vector<std::string_view> names;
      for (const auto& f : fields) names.push_back(f.first);
      std::string message = "unknown key " + quoted(key);
      if (auto guess = detail::nearest(key, names); !guess.empty())
        message += " (did you mean " + quoted(guess) + "?)";
      key_value.fail(message);
    }
    (*reader)(v.child(path, value_node, key_line));
  }
  for (std::string_view r : required)
    if (seen.find(r) == seen.end()) v.fail("missing required key " + quoted(r));
}

// Reads a list, handing each item with its index to `item`. A null value is an empty list.
void read_list(const Value& v, const std::function<void(const Value&, std::size_t)>& item) {
  if (v.is_null()) return;
  if (!v.node().IsSequence()) v.fail("expected a list, got " + v.kind());
  std::size_t i = 0;
  for (const YAML::Node& n : v.node()) {
    item(v.child(v.path() + "[" + std::to_string(i) + "]", n, v.line()), i);
    ++i;
  }
}

// ---- Readers for one value each. They bind the destination, so a section's table reads as
// "key -> where it goes".

Reader boolean(bool& out) {
  return [&out](const Value& v) {
    auto b = detail::boolean(v.scalar("true or false"));
    if (!b.value) v.fail(b.error + ", got " + v.kind());
    out = *b.value;
  };
}

// Free text; a null value ("token:") is the empty string, which is what it looks like.
Reader text(std::string& out, bool allow_empty = true) {
  return [&out, allow_empty](const Value& v) {
    out = v.is_null() ? std::string() : v.scalar("text");
    if (!allow_empty && out.empty()) v.fail("must not be empty");
  };
}

Reader duration(Duration& out, Duration min = Duration{0}) {
  return [&out, min](const Value& v) {
    const std::string& s = v.scalar("a duration such as 30s, 250ms or 2m");
    auto d = detail::duration(s);
    if (!d.value) v.fail("bad duration " + quoted(s) + ": " + d.error);
    if (*d.value < min)
      v.fail("must be at least " + std::to_string(min.count()) + "ms, got " + quoted(s));
    out = *d.value;
  };
}

template <class T>
Reader count(T& out, std::uint64_t min = 0, std::uint64_t max = std::numeric_limits<T>::max()) {
  return [&out, min, max](const Value& v) {
    const std::string& s = v.scalar("a whole number");
    auto n = detail::count(s);
    if (!n.value) v.fail(n.error + ", got " + quoted(s));
    if (*n.value < min) v.fail("must be at least " + std::to_string(min) + ", got " + s);
    if (*n.value > max) v.fail("must be at most " + std::to_string(max) + ", got " + s);
    out = static_cast<T>(*n.value);
  };
}

Reader bytes(std::size_t& out, std::size_t min = 0) {
  return [&out, min](const Value& v) {
    const std::string& s = v.scalar("a size such as 65536, 64KiB or 1MB");
    auto n = detail::size(s);
    if (!n.value) v.fail("bad size " + quoted(s) + ": " + n.error);
    if (*n.value < min)
      v.fail("must be at least " + std::to_string(min) + " bytes, got " + quoted(s));
    out = *n.value;
  };
}

Reader number(double& out, double min, double max = std::numeric_limits<double>::infinity()) {
  return [&out, min, max](const Value& v) {
    const std::string& s = v.scalar("a number");
    auto n = detail::number(s);
    if (!n.value) v.fail(n.error + ", got " + quoted(s));
    if (*n.value < min) v.fail("must be at least " + shortest(min) + ", got " + s);
    if (*n.value > max) v.fail("must be at most " + shortest(max) + ", got " + s);
    out = *n.value;
  };
}

Reader integer(int& out, int min, int max) {
  return [&out, min, max](const Value& v) {
    const std::string& s = v.scalar("a whole number");
    auto n = detail::count(s);
    if (!n.value || *n.value < static_cast<std::uint64_t>(min) ||
        *n.value > static_cast<std::uint64_t>(max))
      v.fail("expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
             ", got " + quoted(s));
    out = static_cast<int>(*n.value);
  };
}

Reader endpoint(Endpoint& out) {
  return [&out](const Value& v) {
    const std::string& s = v.scalar("host:port");
    auto ep = detail::endpoint(s);
    if (!ep.value) v.fail("bad address " + quoted(s) + ": " + ep.error);
    out = *ep.value;
  };
}

// A bearer token is compared with the Authorization header's value, which cannot hold a control
// character and loses blanks at its ends: such a token could never match. Usually it is a Secret
// written with `echo` (a trailing newline), now that the token can come from the environment.
void check_token(const Value& v, const std::string& token) {
  for (unsigned char ch : token)
    if (ch < 0x20 || ch == 0x7f)
      v.fail(ch == '\n' || ch == '\r'
                 ? "the token holds a line break (a Secret made with echo? use printf or "
                   "--from-literal)"
                 : "the token holds a control character");
  if (!token.empty() && (token.front() == ' ' || token.back() == ' '))
    v.fail("the token starts or ends with a blank, which no Authorization header keeps");
}

// One of a fixed set of words.
Reader one_of(std::string& out, std::initializer_list<std::string_view> allowed) {
  return [&out, allowed](const Value& v) {
    const std::string& s = v.scalar("one of " + join(allowed));
    for (std::string_view a : allowed)
      if (s == a) {
        out = s;
        return;
      }
    std::string message = "expected one of " + join(allowed) + ", got " + quoted(s);
    if (auto guess = detail::nearest(s, allowed); !guess.empty())
      message += " (did you mean " + quoted(guess) + "?)";
    v.fail(message);
  };
}

// ---- Sections.

constexpr std::pair<std::string_view, HintFormat> kHints[] = {
    {"nat_headers", HintFormat::nat_headers},
    {"prefix_headers", HintFormat::prefix_headers},
    {"nvext", HintFormat::nvext},
    {"nvext_nat", HintFormat::nvext_nat},
    {"dynamo_headers", HintFormat::dynamo_headers},
};

Reader hints(std::vector<HintFormat>& out) {
  return [&out](const Value& v) {
    out.clear();
    read_list(v, [&out](const Value& item, std::size_t) {
      std::string name;
      one_of(name, {"nat_headers", "prefix_headers", "nvext", "nvext_nat", "dynamo_headers"})(item);
      HintFormat format{};
      for (const auto& [n, f] : kHints)
        if (n == name) format = f;
      for (HintFormat f : out) {
        if (f == format) item.fail("hint format " + quoted(name) + " is listed twice");
        // Both write nvext.agent_hints, with different keys: one body cannot satisfy both.
        if ((f == HintFormat::nvext && format == HintFormat::nvext_nat) ||
            (f == HintFormat::nvext_nat && format == HintFormat::nvext)) {
          item.fail(
              "nvext and nvext_nat exclude each other: nvext for Dynamo 1.3 and later, "
              "nvext_nat for NAT's router and older Dynamo");
        }
      }
      out.push_back(format);
    });
  };
}

// One of `names`, stored as the enum value at the same position of `values`.
template <class E>
Reader choice(E& out, std::initializer_list<std::string_view> names,
              std::initializer_list<E> values) {
  return [&out, names, values](const Value& v) {
    std::string name;
    one_of(name, names)(v);
    auto value = values.begin();
    for (auto n = names.begin(); n != names.end(); ++n, ++value)
      if (*n == name) out = *value;
  };
}

void read_dynamo(const Value& v, Dynamo& d) {
  using D = Dynamo;
  read_map(v, {
                  {"priority", choice(d.priority, {"latency_sensitivity", "remaining_work", "off"},
                                      {D::Priority::latency_sensitivity,
                                       D::Priority::remaining_work, D::Priority::off})},
                  {"strict_priority", boolean(d.strict_priority)},
                  {"speculative_prefill",
                   choice(d.speculative_prefill, {"predicted", "off"},
                          {D::SpeculativePrefill::predicted, D::SpeculativePrefill::off})},
                  {"session_final", choice(d.session_final, {"client", "predicted"},
                                           {D::SessionFinal::client, D::SessionFinal::predicted})},
                  {"min_samples", count(d.min_samples, 1)},
              });
}

Reader upstream_url(Upstream& u) {
  return [&u](const Value& v) {
    const std::string& s = v.scalar("a URL such as http://127.0.0.1:8000");
    auto parsed = detail::url(s);
    if (!parsed.value) v.fail("bad URL " + quoted(s) + ": " + parsed.error);
    u.url = s;
    u.https = parsed.value->https;
    u.host = parsed.value->host;
    u.port = parsed.value->port;
    u.base_path = parsed.value->base_path;
  };
}

void read_upstream(const Value& v, Upstream& u) {
  UpstreamTimeouts& t = u.timeouts;
  UpstreamPool& p = u.pool;
  read_map(
      v,
      {
          {"name", text(u.name, /*allow_empty=*/false)},
          {"url", upstream_url(u)},
          {"hints", hints(u.hints)},
          {"nvext_dialects",
           [&u](const Value& s) {
             auto& d = u.nvext_dialects;
             d = {false, false, false, false};
             read_list(s, [&d](const Value& item, std::size_t) {
               std::string name;
               one_of(name, {"chat_completions", "completions", "responses", "messages"})(item);
               (name == "chat_completions" ? d.chat_completions
                : name == "completions"    ? d.completions
                : name == "responses"      ? d.responses
                                           : d.messages) = true;
             });
           }},
          {"timeouts",
           [&t](const Value& s) {
             read_map(s, {
                             {"connect", duration(t.connect, Duration{1})},
                             {"response_headers", duration(t.response_headers, Duration{1})},
                             {"stream_idle", duration(t.stream_idle, Duration{1})},
                             {"write", duration(t.write, Duration{1})},
                             {"total", duration(t.total)},
                         });
           }},
          {"pool",
           [&p](const Value& s) {
             read_map(s, {
                             {"max_idle_per_thread", count(p.max_idle_per_thread)},
                             {"idle_timeout", duration(p.idle_timeout)},
                             {"max_age", duration(p.max_age)},
                         });
           }},
          {"tls",
           [&u](const Value& s) {
             read_map(s, {
                             {"verify", boolean(u.tls.verify)},
                             {"ca_file", text(u.tls.ca_file)},
                             {"server_name", text(u.tls.server_name)},
                         });
           }},
      },
      {"name", "url"});
}

// Route names are checked against the upstreams once the whole file is read, since `routes:` may
// come before `upstreams:`.
struct UpstreamRef {
  std::string name;
  std::string path;
  int line;
};

// context.agents: names for inferred agents. A name must be usable as a path name (printable,
// no '/'), and a rule must match on something.
Reader agent_names(std::vector<AgentName>& out) {
  return [&out](const Value& v) {
    out.clear();
    read_list(v, [&out](const Value& item, std::size_t) {
      AgentName a;
      read_map(
          item,
          {
              {"name",
               [&a](const Value& s) {
                 text(a.name, /*allow_empty=*/false)(s);
                 if (a.name.size() > 128 || a.name.find('/') != std::string::npos ||
                     !std::all_of(a.name.begin(), a.name.end(),
                                  [](char c) { return c > 0x20 && c < 0x7F; })) {
                   s.fail("must be up to 128 printable characters without blanks or '/', got " +
                          quoted(a.name));
                 }
               }},
              {"system_prompt_contains", text(a.system_prompt_contains)},
              {"tools",
               [&a](const Value& s) {
                 read_list(s, [&a](const Value& t, std::size_t) {
                   std::string tool;
                   text(tool, /*allow_empty=*/false)(t);
                   a.tools.push_back(std::move(tool));
                 });
               }},
          },
          {"name"});
      if (a.system_prompt_contains.empty() && a.tools.empty()) {
        item.fail(
            "give system_prompt_contains or tools (or both): a rule that matches every "
            "agent would name them all alike");
      }
      out.push_back(std::move(a));
    });
  };
}

void read_route(const Value& v, Route& r, std::vector<UpstreamRef>& refs) {
  bool listed = false;
  auto add = [&](const Value& item) {
    std::string name;
    text(name, /*allow_empty=*/false)(item);
    for (const auto& n : r.upstreams)
      if (n == name) item.fail("upstream " + quoted(name) + " is listed twice");
    r.upstreams.push_back(name);
    refs.push_back({name, item.path(), item.line()});
  };
  read_map(v, {
                  {"path_prefix",
                   [&r](const Value& s) {
                     text(r.path_prefix)(s);
                     if (!r.path_prefix.empty() && r.path_prefix.front() != '/')
                       s.fail("must start with '/', got " + quoted(r.path_prefix));
                   }},
                  {"model", text(r.model)},
                  {"upstreams",
                   [&](const Value& s) {
                     if (listed) s.fail("give either `upstream` or `upstreams`, not both");
                     listed = true;
                     read_list(s, [&](const Value& item, std::size_t) { add(item); });
                     if (r.upstreams.empty()) s.fail("must name at least one upstream");
                   }},
                  {"upstream",
                   [&](const Value& s) {
                     if (listed) s.fail("give either `upstream` or `upstreams`, not both");
                     listed = true;
                     add(s);
                   }},
              });
  if (!listed) v.fail("a route needs `upstreams: [names]` or `upstream: name`");
}

void read_prediction(const Value& v, Prediction& p) {
  StaticPrediction& s = p.fallback;
  // latency_sensitivity must fit the scale, which may be given after it: remember where it was.
  std::optional<Value> sensitivity;
  read_map(v, {
                  {"trie_file", text(p.trie_file)},
                  {"static",
                   [&](const Value& sv) {
                     // Dynamo's schema wants osl, iat and total_requests >= 1; the static values
                     // are what augur sends when a prediction is below that, so they must be too.
                     read_map(sv, {
                                      {"total_requests", number(s.total_requests, 1)},
                                      {"osl", number(s.osl, 1)},
                                      {"iat_ms", number(s.iat_ms, 1)},
                                      {"latency_sensitivity",
                                       [&](const Value& x) {
                                         integer(s.latency_sensitivity, 1, 100)(x);
                                         sensitivity.emplace(x);
                                       }},
                                  });
                   }},
                  {"sensitivity_scale", integer(p.sensitivity_scale, 1, 100)},
              });
  if (s.latency_sensitivity > p.sensitivity_scale) {
    const std::string message = "latency_sensitivity " + std::to_string(s.latency_sensitivity) +
                                " is above sensitivity_scale " +
                                std::to_string(p.sensitivity_scale);
    if (sensitivity) sensitivity->fail(message);
    v.fail(message);
  }
}

void read_store(const Value& v, Store& s) {
  read_map(v, {
                  {"kind", one_of(s.kind, {"memory", "redis"})},
                  {"snapshot_file", text(s.snapshot_file)},
                  {"snapshot_interval", duration(s.snapshot_interval, Duration{1})},
                  {"url",
                   [&s](const Value& x) {
                     text(s.url, /*allow_empty=*/false)(x);
                     // The store's own parser: what passes here is what the store can use.
                     if (const auto parsed = parse_redis_url(s.url); !parsed) {
                       x.fail(parsed.error());
                     }
                   }},
                  {"namespace", text(s.ns, /*allow_empty=*/false)},
                  {"key_prefix", text(s.key_prefix)},
                  {"replica", text(s.replica)},
              });
}

// Reads into an optional override: set only when the key is present.
template <class T, class MakeReader>
Reader optional_value(std::optional<T>& out, MakeReader make) {
  return [&out, make](const Value& v) {
    T value{};
    make(value)(v);
    out = value;
  };
}

// The preset names must match learning/sona's presets (a unit test checks both lists agree).
void read_sona(const Value& v, Sona& s) {
  read_map(
      v,
      {
          {"enabled", boolean(s.enabled)},
          {"preset", one_of(s.preset, {"default", "max_throughput", "max_quality", "edge", "batch",
                                       "ephemeral", "coordinator"})},
          {"embedding_dim",
           optional_value(s.embedding_dim, [](std::size_t& x) { return count(x, 16, 4096); })},
          {"micro_lora_rank",
           optional_value(s.micro_lora_rank, [](std::size_t& x) { return count(x, 1, 2); })},
          {"pattern_clusters",
           optional_value(s.pattern_clusters, [](std::size_t& x) { return count(x, 1, 10000); })},
          {"trajectory_capacity",
           optional_value(s.trajectory_capacity,
                          [](std::size_t& x) { return count(x, 16, 10000000); })},
          {"background_interval",
           optional_value(s.background_interval,
                          [](Duration& x) { return duration(x, Duration{1000}); })},
          {"min_confidence",
           optional_value(s.min_confidence, [](double& x) { return number(x, 0, 1); })},
      });
}

void read_access_log(const Value& v, AccessLog& a) {
  // off, stdout or a path: a bare word such as `verbose` or `stderr` is far more likely a
  // mistaken option than a log file next to the config, so a file must look like a path.
  const auto target = [&a](const Value& t) {
    text(a.target, /*allow_empty=*/false)(t);
    if (a.target != "off" && a.target != "stdout" && a.target.find('/') == std::string::npos) {
      t.fail("expected off, stdout or a file path (write ./" + a.target +
             " for a file in the config's folder)");
    }
  };
  // Both `access_log: stdout` and `access_log: {target: stdout}`: the short form is what people
  // write, the long one leaves room for format options.
  if (v.node().IsScalar()) {
    target(v);
    return;
  }
  read_map(v, {{"target", target}});
}

Config read_config(const Value& root, const std::string& source) {
  Config c = defaults();
  c.source = source;
  std::vector<UpstreamRef> refs;
  std::map<std::string, int> upstream_lines;
  read_map(root,
           {
               {"listen", endpoint(c.listen)},
               {"admin",
                [&c](const Value& v) {
                  read_map(v, {
                                  {"listen", endpoint(c.admin.listen)},
                                  {"token",
                                   [&c](const Value& t) {
                                     text(c.admin.token)(t);
                                     check_token(t, c.admin.token);
                                   }},
                              });
                }},
               {"threads", count(c.threads, 0, 1024)},
               {"upstreams",
                [&](const Value& v) {
                  c.upstreams.clear();
                  read_list(v, [&](const Value& item, std::size_t) {
                    Upstream u;
                    read_upstream(item, u);
                    if (auto [pos, inserted] = upstream_lines.emplace(u.name, item.line());
                        !inserted)
                      item.child(item.path() + ".name", item.node()["name"], item.line())
                          .fail("duplicate upstream name " + quoted(u.name) + " (first on line " +
                                std::to_string(pos->second) + ")");
                    c.upstreams.push_back(std::move(u));
                  });
                }},
               {"routes",
                [&](const Value& v) {
                  c.routes.clear();
                  read_list(v, [&](const Value& item, std::size_t) {
                    Route r;
                    read_route(item, r, refs);
                    c.routes.push_back(std::move(r));
                  });
                }},
               {"limits",
                [&c](const Value& v) {
                  Limits& l = c.limits;
                  read_map(v, {
                                  {"max_header_bytes", bytes(l.max_header_bytes, 1024)},
                                  {"max_body_bytes", bytes(l.max_body_bytes)},
                                  {"header_timeout", duration(l.header_timeout, Duration{1})},
                                  {"body_timeout", duration(l.body_timeout, Duration{1})},
                                  {"idle_timeout", duration(l.idle_timeout, Duration{1})},
                                  {"write_timeout", duration(l.write_timeout, Duration{1})},
                                  {"max_connections", count(l.max_connections, 1)},
                              });
                }},
               {"context",
                [&c](const Value& v) {
                  Context& x = c.context;
                  read_map(v, {
                                  {"run_idle_timeout", duration(x.run_idle_timeout, Duration{1})},
                                  {"trust_client_hints", boolean(x.trust_client_hints)},
                                  {"max_runs", count(x.max_runs, 1)},
                                  {"infer", boolean(x.infer)},
                                  {"max_conversations", count(x.max_conversations, 1)},
                                  {"agents", agent_names(x.agents)},
                              });
                }},
               {"prediction", [&c](const Value& v) { read_prediction(v, c.prediction); }},
               {"dynamo", [&c](const Value& v) { read_dynamo(v, c.dynamo); }},
               {"learning",
                [&c](const Value& v) {
                  Learning& l = c.learning;
                  read_map(v, {
                                  {"enabled", boolean(l.enabled)},
                                  {"rebuild_interval", duration(l.rebuild_interval, Duration{1})},
                                  {"rebuild_runs", count(l.rebuild_runs)},
                                  {"queue_capacity", count(l.queue_capacity, 1)},
                                  {"half_life",
                                   [&l](const Value& x) {
                                     duration(l.half_life)(x);
                                     if (l.half_life.count() > 0 && l.half_life < Duration{1000})
                                       x.fail("must be 0 (no decay) or at least 1s, got " +
                                              quoted(x.scalar("a duration")));
                                   }},
                                  {"max_paths", count(l.max_paths, 1, 10'000'000)},
                                  {"max_call_indices", count(l.max_call_indices, 1, 1'000'000)},
                                  {"min_path_samples", count(l.min_path_samples, 1, 16)},
                                  {"max_new_paths_per_run", count(l.max_new_paths_per_run, 1)},
                                  {"max_trie_bytes", bytes(l.max_trie_bytes, 64 * 1024)},
                                  {"max_state_bytes", bytes(l.max_state_bytes, 1024 * 1024)},
                              });
                }},
               {"store", [&c](const Value& v) { read_store(v, c.store); }},
               {"sona", [&c](const Value& v) { read_sona(v, c.sona); }},
               {"access_log", [&c](const Value& v) { read_access_log(v, c.access_log); }},
               {"shutdown_timeout", duration(c.shutdown_timeout)},
               {"shutdown_delay", duration(c.shutdown_delay)},
           });
  for (const UpstreamRef& ref : refs) {
    if (upstream_lines.count(ref.name) != 0) continue;
    std::string message = "unknown upstream " + quoted(ref.name);
    std::vector<std::string_view> names;
    for (const auto& u : c.upstreams) names.push_back(u.name);
    if (auto guess = detail::nearest(ref.name, names); !guess.empty())
      message += " (did you mean " + quoted(guess) + "?)";
    else if (names.empty())
      message += " (no upstreams are configured)";
    throw ConfigError(source, ref.line, ref.path, message);
  }
  return c;
}

// Counts the document starts the event parser reports, stopping at the second.
class DocumentCounter : public YAML::EventHandler {
 public:
  int documents = 0;
  YAML::Mark second;

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents == 2) second = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// A config is one YAML document. Checked with the event parser, never reading past a second
// document, because yaml-cpp 0.7 can stall on a stray flow indicator (", x" at the start of a
// line): it reports an empty document without consuming the token, again and again, so Load()
// returns null (a silently empty config) and LoadAll() loops until memory runs out.
void check_single_document(const std::string& yaml, const std::string& source) {
  std::istringstream in(yaml);
  YAML::Parser parser(in);
  DocumentCounter counter;
  for (int i = 0; i < 2 && parser.HandleNextDocument(counter); ++i) {
  }
  if (counter.documents < 2) return;
  const auto pos = static_cast<std::size_t>(std::max(counter.second.pos, 0));
  const std::string_view rest = std::string_view(yaml).substr(std::min(pos, yaml.size()));
  const int line = counter.second.line + 1;
  if (rest.starts_with("---"))
    throw ConfigError(source, line, "", "expected one YAML document; a second one starts here");
  const std::string_view text = rest.substr(0, std::min(rest.find('\n'), std::size_t{40}));
  throw ConfigError(source, line, "", "invalid YAML: cannot parse " + quoted(text));
}

}  // namespace

ConfigError::ConfigError(std::string file, int line, std::string key, std::string message)
    : std::runtime_error(format_error(file, line, key, message)),
      file_(std::move(file)),
      line_(line),
      key_(std::move(key)),
      message_(std::move(message)) {}

const char* to_string(HintFormat format) {
  for (const auto& [name, f] : kHints)
    if (f == format) return name.data();
  return "unknown";
}

Config defaults() {
  Config c;
  c.source = "<embedded default>";
  return c;
}

Config load_string(const std::string& yaml, const std::string& source) {
  YAML::Node root;
  try {
    check_single_document(yaml, source);
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source, e.mark.line >= 0 ? e.mark.line + 1 : 0, "", "invalid YAML: " + e.msg);
  }
  // An empty file is a valid config: every default.
  try {
    return read_config(Value(source, root, "", mark_line(root, 1)), source);
  } catch (const YAML::Exception& e) {
    // Our readers only use yaml-cpp's accessors, which should not throw; if one does, it still
    // becomes a located error rather than an escaping library exception.
    throw ConfigError(source, e.mark.line >= 0 ? e.mark.line + 1 : 0, "", e.msg);
  }
}

namespace {

// A relative path in a config file names a file next to the config, wherever augur was started.
// `folder` is the config file's folder with its trailing '/', or "" (the working directory).
void resolve_against(const std::string& folder, std::string& p) {
  if (p.empty() || p.front() == '/' || folder.empty()) return;
  if (p.starts_with("./")) p.erase(0, 2);
  p.insert(0, folder);
}

}  // namespace

void require_upstream(const Config& c) {
  if (!c.upstreams.empty()) return;
  throw ConfigError(c.source, 0, "upstreams",
                    "no upstream is configured: add one (see config/augur.yaml), or run "
                    "`augur --demo` for the bundled mock upstream");
}

Config load_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    throw ConfigError(path, 0, "", std::string("cannot open config file: ") + std::strerror(errno));
  std::string text;
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed)
    throw ConfigError(path, 0, "", std::string("cannot read config file: ") + std::strerror(err));
  Config c = load_string(text, path);
  const std::string folder = path.substr(0, path.rfind('/') + 1);
  resolve_against(folder, c.prediction.trie_file);
  resolve_against(folder, c.store.snapshot_file);
  for (auto& u : c.upstreams) resolve_against(folder, u.tls.ca_file);
  if (c.access_log.target != "off" && c.access_log.target != "stdout") {
    resolve_against(folder, c.access_log.target);
  }
  return c;
}

}  // namespace augur::config
