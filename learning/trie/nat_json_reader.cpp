// NAT trie JSON -> Trie. simdjson stays inside the JSON readers (via json_read.hpp): the header
// exposes only Trie.
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "learning/trie/json_read.hpp"
#include "learning/trie/nat_json.hpp"

namespace augur::trie {

namespace {

namespace dom = simdjson::dom;

// NAT's nvext_max_sensitivity default; the builder writes 1..scale (5).
constexpr std::int64_t kMaxLatencySensitivity = 1000;

// Known keys per object; NAT ignores unknown keys, so do we (forward compatibility).
constexpr std::string_view kEnvelopeKeys[] = {"version", "generated_at", "workflow_name", "root"};
constexpr std::string_view kNodeKeys[] = {"name", "predictions_by_call_index",
                                          "predictions_any_index", "children"};
constexpr std::string_view kPredictionKeys[] = {"remaining_calls", "interarrival_ms",
                                                "output_tokens", "latency_sensitivity"};
constexpr std::string_view kMetricKeys[] = {"sample_count", "mean", "p50", "p90", "p95"};

class TrieReader : detail::JsonReader {
 public:
  Trie read(std::string_view json) {
    dom::parser parser;
    const dom::element doc = parse(parser, json);
    Trie trie;
    read_envelope(doc, trie);
    return trie;
  }

 private:
  void read_envelope(dom::element e, Trie& trie) {
    const detail::SeenKeys seen =
        for_each_field(object_of(e), kEnvelopeKeys, [&](unsigned bit, dom::element v) {
          switch (bit) {
            case 0: {
              const std::string_view version = string_of(v);
              if (version != "1" && !version.starts_with("1.")) {
                path_.fail("unsupported version (expected 1.x)");
              }
              trie.version = version;
              break;
            }
            case 1:
              trie.generated_at = string_of(v);
              break;
            case 2:
              trie.workflow_name = string_of(v);
              break;
            default:
              read_node(v, trie.root, 0);
              break;
          }
        });
    require(seen, kEnvelopeKeys, {3});
  }

  void read_node(dom::element e, Node& node, std::size_t depth) {
    const detail::SeenKeys seen =
        for_each_field(object_of(e), kNodeKeys, [&](unsigned bit, dom::element v) {
          switch (bit) {
            case 0: {
              const std::string_view name = string_of(v);
              // A child's name is its key (checked by the caller); only the root's is free-form.
              if (depth > 0 && name != node.name) {
                path_.fail("name \"" + std::string(name) + "\" differs from the node's key");
              }
              node.name = name;
              break;
            }
            case 1:
              // null is treated as empty, like missing
              if (!is_null(v)) {
                read_by_call_index(
                    object_of(v), node.predictions_by_call_index,
                    [&](dom::element p, Prediction& out) { read_prediction(p, out); });
              }
              break;
            case 2:
              if (!is_null(v)) read_prediction(v, node.predictions_any_index.emplace());
              break;
            default:
              read_children(v, node, depth);
              break;
          }
        });
    require(seen, kNodeKeys, {0});
  }

  void read_children(dom::element e, Node& node, std::size_t depth) {
    if (is_null(e)) return;
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
    const detail::SeenKeys seen =
        for_each_field(object_of(e), kPredictionKeys, [&](unsigned bit, dom::element v) {
          switch (bit) {
            case 0:
              read_metrics(v, p.remaining_calls);
              break;
            case 1:
              read_metrics(v, p.interarrival_ms);
              break;
            case 2:
              read_metrics(v, p.output_tokens);
              break;
            default:
              read_sensitivity(v, p.latency_sensitivity);
              break;
          }
        });
    // NAT indexes the three metric objects directly, so a prediction without them is invalid.
    require(seen, kPredictionKeys, {0, 1, 2});
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
    double* const values[] = {nullptr, &m.mean, &m.p50, &m.p90, &m.p95};
    for_each_field(object_of(e), kMetricKeys, [&](unsigned bit, dom::element v) {
      if (bit == 0) {
        m.sample_count = sample_count_of(v);
      } else {
        *values[bit] = metric_value_of(v);
      }
    });
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
    const double v = number_of(e);
    if (!std::isfinite(v) || std::fabs(v) > kMaxMetricValue) {
      path_.fail("value is out of range (|v| <= 1e15)");
    }
    return v;
  }
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
