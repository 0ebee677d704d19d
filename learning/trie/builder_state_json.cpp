// BuilderState <-> compact JSON, the form a replica's accumulators take in Redis
// ({p}{ns}:acc:{replica}) and in the snapshot file. simdjson stays inside the JSON readers (via
// json_read.hpp).
//
// {"format":"augur.trie.state","version":2,"relative_accuracy":0.01,"exact_limit":128,
//  "half_life_ms":H,"landmark_ms":T,"runs":N,"calls":N,
//  "nodes":[{"path":["a","b"],"seen":T,"any":IA,"by_call_index":{"1":IA}}, ...]}
// IA = {"remaining_calls":M,"interarrival_ms":M,"output_tokens":M,"sensitivity":S}
// S  = {"count":n,"mean":x,"m2":x,"weight":w} ("weight" only when it differs from count; just
//      {"count":0} when empty)
// M  = S + {"min":x,"max":x,"samples":[...],"weights":[...]}  while exact ("weights" only when not
//      all 1), or S + {"min":x,"max":x,"zero":w,"pos":[offset,[w...]],"neg":[offset,[w...]]}
// Bucket and sample weights are whole numbers without decay. "landmark_ms" is absent while the
// state has no timed sample, "seen" when a node's is unknown. Version 1 (before decay: no
// half_life_ms, landmark_ms, seen or weights) is still read, as an untimed state.
#include <cmath>
#include <functional>
#include <optional>
#include <set>
#include <utility>

#include "common/json_string.hpp"
#include "learning/trie/builder.hpp"
#include "learning/trie/json_read.hpp"
#include "learning/trie/json_text.hpp"

namespace augur::trie {

namespace {

constexpr std::string_view kFormat = "augur.trie.state";
constexpr std::int64_t kVersion = 2;

// ---- writing ----

// A weight: a whole number as an integer (the common, undecayed case), else shortest round-trip.
void append_weight(std::string& out, double w) {
  if (w >= 0 && w <= 0x1p53 && w == std::floor(w)) {
    json_text::append_uint(out, static_cast<std::uint64_t>(w));
  } else {
    json_text::append_double(out, w);
  }
}

void write_moments_fields(std::string& out, const Moments& m) {
  out += "\"count\":";
  json_text::append_uint(out, m.count());
  if (m.count() == 0) return;
  out += ",\"mean\":";
  json_text::append_double(out, m.mean());
  out += ",\"m2\":";
  json_text::append_double(out, m.m2());
  if (m.weight() != static_cast<double>(m.count())) {
    out += ",\"weight\":";
    json_text::append_double(out, m.weight());
  }
}

void write_store(std::string& out, const QuantileSketch::Store& s) {
  out += '[';
  json_text::append_int(out, s.offset);
  out += ",[";
  for (std::size_t i = 0; i < s.counts.size(); ++i) {
    if (i > 0) out += ',';
    append_weight(out, s.counts[i]);
  }
  out += "]]";
}

void write_metric(std::string& out, const MetricAccumulator& m) {
  out += '{';
  write_moments_fields(out, m.moments());
  if (m.moments().count() > 0) {
    const QuantileSketch::Parts p = m.sketch().parts();
    out += ",\"min\":";
    json_text::append_double(out, p.min);
    out += ",\"max\":";
    json_text::append_double(out, p.max);
    if (p.exact) {
      out += ",\"samples\":[";
      for (std::size_t i = 0; i < p.samples.size(); ++i) {
        if (i > 0) out += ',';
        json_text::append_double(out, p.samples[i]);
      }
      out += ']';
      if (!p.weights.empty()) {
        out += ",\"weights\":[";
        for (std::size_t i = 0; i < p.weights.size(); ++i) {
          if (i > 0) out += ',';
          append_weight(out, p.weights[i]);
        }
        out += ']';
      }
    } else {
      out += ",\"zero\":";
      append_weight(out, p.zero_count);
      out += ",\"pos\":";
      write_store(out, p.positive);
      out += ",\"neg\":";
      write_store(out, p.negative);
    }
  }
  out += '}';
}

void write_index(std::string& out, const IndexAccumulators& a) {
  out += "{\"remaining_calls\":";
  write_metric(out, a.remaining_calls);
  out += ",\"interarrival_ms\":";
  write_metric(out, a.interarrival_ms);
  out += ",\"output_tokens\":";
  write_metric(out, a.output_tokens);
  out += ",\"sensitivity\":{";
  write_moments_fields(out, a.sensitivity);
  out += "}}";
}

// ---- reading ----

namespace dom = simdjson::dom;

// What a state records besides its nodes.
struct StateHeader {
  std::uint64_t runs = 0;
  std::uint64_t calls = 0;
  std::int64_t half_life_ms = 0;
  std::optional<std::int64_t> landmark_ms;
};

class StateReader : detail::JsonReader {
 public:
  // Receives each node's path, accumulators and last-seen time (0: unknown).
  using OnNode = std::function<NodeAccumulators&(std::span<const std::string_view>, std::int64_t)>;

  // Reads every node into on_node's accumulators and returns the header recorded in `text`.
  StateHeader read(std::string_view text, const OnNode& on_node) {
    path_.prefix = "builder state: ";
    dom::parser parser;
    const dom::object top = object_of(parse(parser, text));
    {
      FieldScope scope(path_, "format");
      if (string_of(field(top, "format")) != kFormat) path_.fail("not an augur trie state");
    }
    {
      FieldScope scope(path_, "version");
      version_ = int_of(field(top, "version"));
      if (version_ != 1 && version_ != kVersion) path_.fail("unsupported state version");
    }
    // The sketch parameters are part of the format: merging buckets of another width would be
    // wrong.
    {
      FieldScope scope(path_, "relative_accuracy");
      if (double_of(field(top, "relative_accuracy")) != QuantileSketch::kRelativeAccuracy) {
        path_.fail("state was written with a different sketch accuracy");
      }
    }
    {
      FieldScope scope(path_, "exact_limit");
      if (uint_of(field(top, "exact_limit")) != QuantileSketch::kExactLimit) {
        path_.fail("state was written with a different exact-sample limit");
      }
    }
    StateHeader header;
    header.runs = at(top, "runs", &StateReader::uint_of);
    header.calls = at(top, "calls", &StateReader::uint_of);
    if (version_ >= 2) {
      header.half_life_ms = time_at(top, "half_life_ms");
      if (header.half_life_ms < 0) {
        FieldScope scope(path_, "half_life_ms");
        path_.fail("must not be negative");
      }
      if (optional_field(top, "landmark_ms")) header.landmark_ms = time_at(top, "landmark_ms");
    }
    FieldScope scope(path_, "nodes");
    std::vector<std::string_view> node_path;
    for_each_item(array_of(field(top, "nodes")), [&](dom::element item) {
      const dom::object obj = object_of(item);
      {
        FieldScope path_scope(path_, "path");
        read_path(field(obj, "path"), node_path);
      }
      if (!first_time(node_path)) path_.fail("duplicate node path");
      std::int64_t seen = 0;
      if (version_ >= 2 && optional_field(obj, "seen")) seen = time_at(obj, "seen");
      NodeAccumulators& acc = on_node(node_path, seen);
      acc.any_index = at(obj, "any", &StateReader::read_index);
      FieldScope by_scope(path_, "by_call_index");
      read_by_call_index(object_of(field(obj, "by_call_index")), acc.by_call_index,
                         [&](dom::element e, IndexAccumulators& out) { out = read_index(e); });
    });
    return header;
  }

 private:
  // True the first time a node path is listed (paths remembered as length-prefixed keys).
  bool first_time(std::span<const std::string_view> p) {
    std::string key;
    for (const std::string_view name : p) {
      key += std::to_string(name.size());
      key += ':';
      key += name;
    }
    return seen_paths_.insert(std::move(key)).second;
  }

  // read(value of `key`), with `key` on the path while it reads.
  template <class T>
  T at(const dom::object& obj, std::string_view key, T (StateReader::*read)(dom::element)) {
    FieldScope scope(path_, key);
    return (this->*read)(field(obj, key));
  }

  // The value of `key`, which must be present once.
  dom::element field(const dom::object& obj, std::string_view key) {
    dom::element found;
    bool has = false;
    for (const dom::key_value_pair kv : obj) {
      if (kv.key != key) continue;
      if (has) duplicate(key);
      found = kv.value;
      has = true;
    }
    if (!has) missing(key);
    return found;
  }

  std::optional<dom::element> optional_field(const dom::object& obj, std::string_view key) {
    for (const dom::key_value_pair kv : obj) {
      if (kv.key == key) return field(obj, key);
    }
    return std::nullopt;
  }

  // A time or duration in milliseconds: an integer within +-2^62, so differences never overflow.
  std::int64_t time_at(const dom::object& obj, std::string_view key) {
    FieldScope scope(path_, key);
    const std::int64_t v = int_of(field(obj, key));
    if (v < -(std::int64_t{1} << 62) || v > (std::int64_t{1} << 62)) path_.fail("out of range");
    return v;
  }

  // A bucket or sample weight: finite and not negative.
  double weight_of(dom::element e) {
    const double v = double_of(e);
    if (v < 0) path_.fail("a weight must not be negative");
    return v;
  }

  std::int64_t int_of(dom::element e) {
    if (e.type() == dom::element_type::INT64) return e.get_int64().value_unsafe();
    path_.fail("must be an integer");
  }

  std::uint64_t uint_of(dom::element e) {
    if (e.type() == dom::element_type::UINT64) return e.get_uint64().value_unsafe();
    if (e.type() == dom::element_type::INT64 && e.get_int64().value_unsafe() >= 0) {
      return static_cast<std::uint64_t>(e.get_int64().value_unsafe());
    }
    path_.fail("must be a non-negative integer");
  }

  double double_of(dom::element e) {
    const double v = number_of(e);
    if (!std::isfinite(v)) path_.fail("must be finite");
    return v;
  }

  void read_path(dom::element e, std::vector<std::string_view>& out) {
    const dom::array names = array_of(e, "must be an array of strings");
    out.clear();
    for_each_item(names, [&](dom::element name) { out.push_back(string_of(name)); });
    if (out.size() > kMaxTrieDepth) path_.fail("path is too deep");
  }

  // A sample-valued number: the builder clamps every sample to the trie's range, so anything
  // beyond it was not written by augur.
  double value_of(dom::element e) {
    const double v = double_of(e);
    if (std::fabs(v) > kMaxMetricValue) path_.fail("value is out of range (|v| <= 1e15)");
    return v;
  }

  // Bounded so that merging loaded states stays finite: unchecked, a count near 2^64 wraps and an
  // m2 near 1e308 overflows to infinity, which to_string writes as null and no reader accepts.
  Moments read_moments(const dom::object& obj) {
    const std::uint64_t count = at(obj, "count", &StateReader::uint_of);
    if (count == 0) return {};
    if (count > kMaxSampleCount) {
      FieldScope scope(path_, "count");
      path_.fail("sample count is too large");
    }
    const double mean = at(obj, "mean", &StateReader::value_of);
    const double m2 = at(obj, "m2", &StateReader::double_of);
    double weight = static_cast<double>(count);
    if (version_ >= 2 && optional_field(obj, "weight")) {
      weight = at(obj, "weight", &StateReader::weight_of);
      if (weight < kMinWeight || weight > static_cast<double>(count) * kMaxWeightPerSample) {
        FieldScope scope(path_, "weight");
        path_.fail("out of range for the sample count");
      }
    }
    // Samples within +-kMaxMetricValue deviate from their mean by at most twice that.
    const double max_m2 = weight * 4 * kMaxMetricValue * kMaxMetricValue;
    if (m2 > max_m2) {
      FieldScope scope(path_, "m2");
      path_.fail("larger than samples in range can give");
    }
    try {
      return Moments::from_parts(count, mean, m2, weight);
    } catch (const TrieError& e) {
      path_.fail(e.what());
    }
  }

  QuantileSketch::Store read_store(dom::element e) {
    QuantileSketch::Store s;
    constexpr std::string_view kShape = "must be [offset, [counts]]";
    const dom::array arr = array_of(e, kShape);
    if (arr.size() != 2) path_.fail(kShape);
    auto it = arr.begin();
    const std::int64_t offset = int_of(*it);
    if (offset < -100000 || offset > 100000) path_.fail("bucket offset out of range");
    s.offset = static_cast<std::int32_t>(offset);
    ++it;
    const dom::array list = array_of(*it, kShape);
    if (list.size() > 100000) path_.fail("too many buckets");
    for (const dom::element c : list) s.counts.push_back(weight_of(c));
    return s;
  }

  MetricAccumulator read_metric(dom::element e) {
    const dom::object obj = object_of(e);
    const Moments moments = read_moments(obj);
    if (moments.count() == 0) return {};
    QuantileSketch::Parts parts;
    parts.count = moments.count();
    // The sketch holds the same samples as the moments, so the same total weight (up to the
    // rounding of two sums in different orders, which from_parts allows).
    parts.weight = moments.weight() == static_cast<double>(moments.count()) ? -1 : moments.weight();
    parts.min = at(obj, "min", &StateReader::value_of);
    parts.max = at(obj, "max", &StateReader::value_of);
    if (const auto samples = optional_field(obj, "samples")) {
      FieldScope scope(path_, "samples");
      const dom::array list = array_of(*samples);
      parts.exact = true;
      for (const dom::element x : list) {
        parts.samples.push_back(value_of(x));
        if (parts.samples.size() > QuantileSketch::kExactLimit) path_.fail("too many samples");
      }
      if (version_ >= 2 && optional_field(obj, "weights")) {
        FieldScope weights_scope(path_, "weights");
        for (const dom::element w : array_of(field(obj, "weights"))) {
          parts.weights.push_back(weight_of(w));
          if (parts.weights.size() > QuantileSketch::kExactLimit) path_.fail("too many weights");
        }
      }
    } else {
      parts.exact = false;
      parts.zero_count = at(obj, "zero", &StateReader::weight_of);
      parts.positive = at(obj, "pos", &StateReader::read_store);
      parts.negative = at(obj, "neg", &StateReader::read_store);
    }
    try {
      return MetricAccumulator::from_parts(moments, QuantileSketch::from_parts(std::move(parts)));
    } catch (const TrieError& err) {
      path_.fail(err.what());
    }
  }

  IndexAccumulators read_index(dom::element e) {
    const dom::object obj = object_of(e);
    IndexAccumulators a;
    a.remaining_calls = at(obj, "remaining_calls", &StateReader::read_metric);
    a.interarrival_ms = at(obj, "interarrival_ms", &StateReader::read_metric);
    a.output_tokens = at(obj, "output_tokens", &StateReader::read_metric);
    FieldScope scope(path_, "sensitivity");
    a.sensitivity = read_moments(object_of(field(obj, "sensitivity")));
    return a;
  }

  std::set<std::string> seen_paths_;
  std::int64_t version_ = kVersion;
};

}  // namespace

std::string BuilderState::to_string() const {
  std::string out;
  out += "{\"format\":";
  append_json_string(out, kFormat);
  out += ",\"version\":";
  json_text::append_int(out, kVersion);
  out += ",\"relative_accuracy\":";
  json_text::append_double(out, QuantileSketch::kRelativeAccuracy);
  out += ",\"exact_limit\":";
  json_text::append_uint(out, QuantileSketch::kExactLimit);
  out += ",\"half_life_ms\":";
  json_text::append_int(out, half_life_.count());
  if (landmark_ms_) {
    out += ",\"landmark_ms\":";
    json_text::append_int(out, *landmark_ms_);
  }
  out += ",\"runs\":";
  json_text::append_uint(out, runs_);
  out += ",\"calls\":";
  json_text::append_uint(out, calls_);
  out += ",\"nodes\":[";
  std::vector<std::string_view> path;
  bool first_node = true;
  for (const std::uint32_t i : preorder()) {
    if (!first_node) out += ',';
    first_node = false;
    path_of(i, path);
    out += "{\"path\":[";
    for (std::size_t k = 0; k < path.size(); ++k) {
      if (k > 0) out += ',';
      append_json_string(out, path[k]);
    }
    out += ']';
    if (nodes_[i].seen_ms != 0) {
      out += ",\"seen\":";
      json_text::append_int(out, nodes_[i].seen_ms);
    }
    out += ",\"any\":";
    write_index(out, nodes_[i].acc.any_index);
    out += ",\"by_call_index\":{";
    bool first = true;
    for (const auto& [index, acc] : nodes_[i].acc.by_call_index) {
      if (!first) out += ',';
      first = false;
      out += '"';
      json_text::append_uint(out, index);
      out += "\":";
      write_index(out, acc);
    }
    out += "}}";
  }
  out += "]}";
  return out;
}

BuilderState BuilderState::from_string(std::string_view text) {
  BuilderState state;
  const StateHeader header = StateReader().read(
      text,
      [&state](std::span<const std::string_view> path, std::int64_t seen) -> NodeAccumulators& {
        PathNode& node = state.nodes_[state.index_of(path)];
        node.seen_ms = seen;
        return node.acc;
      });
  state.runs_ = header.runs;
  state.calls_ = header.calls;
  state.half_life_ = std::chrono::milliseconds(header.half_life_ms);
  state.landmark_ms_ = header.landmark_ms;
  return state;
}

}  // namespace augur::trie
