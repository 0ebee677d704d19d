// simdjson stays inside this file (and the other JSON readers): the header exposes only Trie.
#include <simdjson.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "learning/trie/field_path.hpp"
#include "learning/trie/nat_json.hpp"

namespace augur::trie {

namespace {

namespace dom = simdjson::dom;

// Largest sample count accepted: every count up to here is exact in a double (NAT's JSON numbers
// are read as doubles by most consumers), and no real trie comes near it.
constexpr std::uint64_t kMaxSampleCount = std::uint64_t{1} << 53;
// Metric values beyond this are corrupt, not data (1e15 ms is 31,000 years; 1e15 tokens...).
constexpr double kMaxMetricMagnitude = 1e15;
// NAT's nvext_max_sensitivity default; the builder writes 1..scale (5).
constexpr std::int64_t kMaxLatencySensitivity = 1000;

// Tracks which known keys an object has had, to reject duplicates (simdjson keeps them all).
class SeenKeys {
 public:
  // True the first time `bit` is seen.
  bool first(unsigned bit) {
    const std::uint32_t mask = std::uint32_t{1} << bit;
    const bool fresh = (seen_ & mask) == 0;
    seen_ |= mask;
    return fresh;
  }

 private:
  std::uint32_t seen_ = 0;
};

class TrieReader {
 public:
  Trie read(std::string_view json) {
    dom::parser parser;
    dom::element doc;
    if (const auto error = parser.parse(json.data(), json.size()).get(doc); error) {
      path_.fail(std::string("invalid JSON: ") + simdjson::error_message(error));
    }
    Trie trie;
    read_envelope(doc, trie);
    return trie;
  }

 private:
  dom::object object_of(dom::element e) {
    if (e.type() != dom::element_type::OBJECT) path_.fail("must be an object");
    return e.get_object().value_unsafe();
  }

  std::string_view string_of(dom::element e) {
    if (e.type() != dom::element_type::STRING) path_.fail("must be a string");
    return e.get_string().value_unsafe();
  }

  void duplicate(std::string_view key) { path_.fail("duplicate key \"" + std::string(key) + "\""); }

  void read_envelope(dom::element e, Trie& trie) {
    const dom::object obj = object_of(e);
    SeenKeys seen;
    bool has_root = false;
    for (const dom::key_value_pair field : obj) {
      const std::string_view key = field.key;
      unsigned bit = 0;
      if (key == "version") {
        bit = 0;
      } else if (key == "generated_at") {
        bit = 1;
      } else if (key == "workflow_name") {
        bit = 2;
      } else if (key == "root") {
        bit = 3;
      } else {
        continue;  // NAT ignores unknown keys; so do we (forward compatibility)
      }
      if (!seen.first(bit)) duplicate(key);
      FieldScope scope(path_, key);
      switch (bit) {
        case 0: {
          const std::string_view v = string_of(field.value);
          if (v != "1" && !v.starts_with("1.")) path_.fail("unsupported version (expected 1.x)");
          trie.version = v;
          break;
        }
        case 1:
          trie.generated_at = string_of(field.value);
          break;
        case 2:
          trie.workflow_name = string_of(field.value);
          break;
        default:
          read_node(field.value, trie.root, 0);
          has_root = true;
          break;
      }
    }
    if (!has_root) path_.fail("missing key \"root\"");
  }

  void read_node(dom::element e, Node& node, std::size_t depth) {
    const dom::object obj = object_of(e);
    SeenKeys seen;
    bool has_name = false;
    for (const dom::key_value_pair field : obj) {
      const std::string_view key = field.key;
      unsigned bit = 0;
      if (key == "name") {
        bit = 0;
      } else if (key == "predictions_by_call_index") {
        bit = 1;
      } else if (key == "predictions_any_index") {
        bit = 2;
      } else if (key == "children") {
        bit = 3;
      } else {
        continue;
      }
      if (!seen.first(bit)) duplicate(key);
      FieldScope scope(path_, key);
      switch (bit) {
        case 0: {
          const std::string_view name = string_of(field.value);
          // A child's name is its key (checked by the caller); only the root's is free-form.
          if (depth > 0 && name != node.name) {
            path_.fail("name \"" + std::string(name) + "\" differs from the node's key");
          }
          node.name = name;
          has_name = true;
          break;
        }
        case 1:
          read_by_call_index(field.value, node);
          break;
        case 2:
          if (field.value.type() != dom::element_type::NULL_VALUE) {
            read_prediction(field.value, node.predictions_any_index.emplace());
          }
          break;
        default:
          read_children(field.value, node, depth);
          break;
      }
    }
    if (!has_name) path_.fail("missing key \"name\"");
  }

  void read_by_call_index(dom::element e, Node& node) {
    if (e.type() == dom::element_type::NULL_VALUE) return;  // treated as empty, like missing
    const dom::object obj = object_of(e);
    for (const dom::key_value_pair field : obj) {
      path_.push_quoted(field.key);
      const std::uint32_t index = call_index_of(field.key);
      const auto [it, inserted] = node.predictions_by_call_index.try_emplace(index);
      if (!inserted) path_.fail("duplicate call index");
      read_prediction(field.value, it->second);
      path_.pop();
    }
  }

  // NAT writes str(int); we accept exactly that: 1..kMaxCallIndex in decimal, no sign, no leading
  // zero (so "1" and "01" cannot both name index 1).
  std::uint32_t call_index_of(std::string_view key) {
    constexpr std::string_view kWhat = "call index must be a positive integer";
    if (key.empty() || key[0] == '0') path_.fail(kWhat);
    std::uint64_t v = 0;
    for (const char c : key) {
      if (c < '0' || c > '9') path_.fail(kWhat);
      if (v <= kMaxCallIndex) v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (v > kMaxCallIndex) path_.fail("call index is too large");
    return static_cast<std::uint32_t>(v);
  }

  void read_children(dom::element e, Node& node, std::size_t depth) {
    if (e.type() == dom::element_type::NULL_VALUE) return;
    const dom::object obj = object_of(e);
    if (obj.size() > 0 && depth + 1 > kMaxTrieDepth) {
      path_.fail("trie is deeper than " + std::to_string(kMaxTrieDepth) + " levels");
    }
    for (const dom::key_value_pair field : obj) {
      FieldScope scope(path_, field.key);
      Node* child = node.children.add(Node{std::string(field.key), {}, {}, {}});
      if (child == nullptr) path_.fail("duplicate child name");
      // `child` stays valid: nothing else is added to this map until the next iteration.
      read_node(field.value, *child, depth + 1);
    }
  }

  void read_prediction(dom::element e, Prediction& p) {
    const dom::object obj = object_of(e);
    SeenKeys seen;
    for (const dom::key_value_pair field : obj) {
      const std::string_view key = field.key;
      unsigned bit = 0;
      if (key == "remaining_calls") {
        bit = 0;
      } else if (key == "interarrival_ms") {
        bit = 1;
      } else if (key == "output_tokens") {
        bit = 2;
      } else if (key == "latency_sensitivity") {
        bit = 3;
      } else {
        continue;
      }
      if (!seen.first(bit)) duplicate(key);
      FieldScope scope(path_, key);
      switch (bit) {
        case 0:
          read_metrics(field.value, p.remaining_calls);
          break;
        case 1:
          read_metrics(field.value, p.interarrival_ms);
          break;
        case 2:
          read_metrics(field.value, p.output_tokens);
          break;
        default:
          read_sensitivity(field.value, p.latency_sensitivity);
          break;
      }
    }
    // NAT indexes the three metric objects directly, so a prediction without them is invalid.
    for (unsigned bit = 0; bit < 3; ++bit) {
      if (seen.first(bit)) {
        static constexpr std::string_view kNames[] = {"remaining_calls", "interarrival_ms",
                                                      "output_tokens"};
        path_.fail("missing key \"" + std::string(kNames[bit]) + "\"");
      }
    }
  }

  void read_sensitivity(dom::element e, std::optional<int>& out) {
    switch (e.type()) {
      case dom::element_type::NULL_VALUE:
        out.reset();
        return;
      case dom::element_type::INT64: {
        const std::int64_t v = e.get_int64().value_unsafe();
        if (v < 0 || v > kMaxLatencySensitivity) path_.fail("must be between 0 and 1000");
        out = static_cast<int>(v);
        return;
      }
      case dom::element_type::UINT64:
        path_.fail("must be between 0 and 1000");
      case dom::element_type::DOUBLE: {
        // Pydantic accepts 3.0 for an int field; so do we, but not 3.5.
        const double d = e.get_double().value_unsafe();
        if (d != std::floor(d)) path_.fail("must be an integer or null");
        if (d < 0 || d > kMaxLatencySensitivity) path_.fail("must be between 0 and 1000");
        out = static_cast<int>(d);
        return;
      }
      default:
        path_.fail("must be an integer or null");
    }
  }

  void read_metrics(dom::element e, MetricStats& m) {
    const dom::object obj = object_of(e);
    SeenKeys seen;
    for (const dom::key_value_pair field : obj) {
      const std::string_view key = field.key;
      double* target = nullptr;
      unsigned bit = 0;
      if (key == "sample_count") {
        bit = 0;
      } else if (key == "mean") {
        bit = 1;
        target = &m.mean;
      } else if (key == "p50") {
        bit = 2;
        target = &m.p50;
      } else if (key == "p90") {
        bit = 3;
        target = &m.p90;
      } else if (key == "p95") {
        bit = 4;
        target = &m.p95;
      } else {
        continue;
      }
      if (!seen.first(bit)) duplicate(key);
      FieldScope scope(path_, key);
      if (target == nullptr) {
        m.sample_count = sample_count_of(field.value);
      } else {
        *target = metric_value_of(field.value);
      }
    }
  }

  std::uint64_t sample_count_of(dom::element e) {
    std::uint64_t v = 0;
    switch (e.type()) {
      case dom::element_type::INT64: {
        const std::int64_t i = e.get_int64().value_unsafe();
        if (i < 0) path_.fail("must not be negative");
        v = static_cast<std::uint64_t>(i);
        break;
      }
      case dom::element_type::UINT64:
        v = e.get_uint64().value_unsafe();
        break;
      case dom::element_type::DOUBLE: {
        // Pydantic accepts 10.0 for an int field; so do we, but not 10.5.
        const double d = e.get_double().value_unsafe();
        if (!(d >= 0) || d != std::floor(d)) path_.fail("must be a non-negative integer");
        if (d > static_cast<double>(kMaxSampleCount)) path_.fail("sample count is too large");
        v = static_cast<std::uint64_t>(d);
        break;
      }
      default:
        path_.fail("must be a non-negative integer");
    }
    if (v > kMaxSampleCount) path_.fail("sample count is too large");
    return v;
  }

  double metric_value_of(dom::element e) {
    double v = 0;
    switch (e.type()) {
      case dom::element_type::INT64:
        v = static_cast<double>(e.get_int64().value_unsafe());
        break;
      case dom::element_type::UINT64:
        v = static_cast<double>(e.get_uint64().value_unsafe());
        break;
      case dom::element_type::DOUBLE:
        v = e.get_double().value_unsafe();
        break;
      default:
        path_.fail("must be a number");
    }
    if (!std::isfinite(v) || std::fabs(v) > kMaxMetricMagnitude) {
      path_.fail("value is out of range (|v| <= 1e15)");
    }
    return v;
  }

  FieldPath path_;
};

}  // namespace

Trie parse_trie(std::string_view json) { return TrieReader().read(json); }

Trie load_trie_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw TrieError(file.string() + ": cannot open for reading");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw TrieError(file.string() + ": read error");
  try {
    return parse_trie(text.view());
  } catch (const TrieError& e) {
    throw TrieError(file.string() + ": " + e.what());
  }
}

}  // namespace augur::trie
