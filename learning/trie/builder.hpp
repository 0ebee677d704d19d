// The trie builder: turns completed runs into NAT predictions (a port of the nemo-flow-adaptive /
// NAT trie_builder algorithm). Each run's LLM calls yield remaining calls, inter-arrival time,
// output tokens and a 4-signal latency-sensitivity score; these feed mergeable accumulators at the
// root and at every prefix of the call's path, per call index and across indices. build() turns
// them into a Trie. The accumulator state serialises to a string so replicas can share and merge
// it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "learning/trie/accumulator.hpp"
#include "learning/trie/run_record.hpp"
#include "learning/trie/trie.hpp"

namespace augur::trie {

// NAT's PredictionTrieConfig sensitivity defaults.
struct SensitivityConfig {
  int scale = 5;            // sensitivities are 1..scale
  double w_critical = 0.5;  // share of the run's duration spent in this call
  double w_fanout = 0.3;    // logical steps still to come
  double w_position = 0.2;  // U-shape: first and last steps matter most
  double w_parallel = 0.0;  // penalty for calls running alongside siblings
};

// What the builder derives for one completed LLM call of a run (NAT's LLMCallContext).
struct CallContext {
  const CallRecord* call = nullptr;  // into the run passed to extract_call_contexts
  std::uint32_t call_index = 0;
  std::uint32_t remaining_calls = 0;  // completed LLM calls of the run that end after this one
  // Start of the first LLM call that starts at or after this one's end, minus this end. Absent when
  // no LLM call follows.
  std::optional<double> interarrival_ms;
  std::uint64_t output_tokens = 0;
  double duration_ms = 0;
  double workflow_duration_ms = 0;
  std::uint32_t logical_position = 0;  // calls whose intervals overlap share a position
  double raw_score = 0;                // weighted signals
  double sensitivity_score = 0;        // raw score min-max normalised within the run (0.5 if flat)
};

// The run's completed LLM calls in end order (ties: start, then record order), with their derived
// values; sensitivity scores stay 0 when `sensitivity` is nullopt. Calls without call_index are
// numbered per path in start order among all the run's LLM calls (the proxy's numbering).
// Pure function; thread-safe.
std::vector<CallContext> extract_call_contexts(const RunRecord& run,
                                               const std::optional<SensitivityConfig>& sensitivity);

// Accumulators for one (node, call index) or for a node across indices.
struct IndexAccumulators {
  MetricAccumulator remaining_calls;
  MetricAccumulator interarrival_ms;
  MetricAccumulator output_tokens;
  Moments sensitivity;  // only the mean is ever used, so no sketch

  void merge(const IndexAccumulators& other);
  bool operator==(const IndexAccumulators&) const = default;
};

struct NodeAccumulators {
  std::map<std::uint32_t, IndexAccumulators> by_call_index;
  IndexAccumulators any_index;

  void merge(const NodeAccumulators& other);
  bool operator==(const NodeAccumulators&) const = default;
};

// Every node's accumulators, keyed by path. Not thread-safe; copyable value type.
class BuilderState {
 public:
  BuilderState();

  // The node at `path` (empty = root), created with its ancestors when absent. The reference stays
  // valid until the next call that creates a node.
  NodeAccumulators& node(std::span<const std::string_view> path);
  // The node at `path`, or nullptr. No allocation.
  const NodeAccumulators* find(std::span<const std::string_view> path) const noexcept;

  // Adds everything `other` has seen: afterwards this state equals (up to floating-point rounding
  // of the means) the state of one builder fed both sets of runs.
  void merge(const BuilderState& other);

  // Calls `visit(path, accumulators)` for every node, parents before children.
  void for_each_node(const std::function<void(std::span<const std::string_view>,
                                              const NodeAccumulators&)>& visit) const;

  std::size_t node_count() const noexcept { return nodes_.size(); }
  std::uint64_t run_count() const noexcept { return runs_; }
  std::uint64_t call_count() const noexcept { return calls_; }  // LLM calls accumulated

  // Compact JSON (e.g. for a Redis string); exact: from_string(to_string()) holds the same samples,
  // buckets and bit-identical moments.
  std::string to_string() const;
  // Throws TrieError naming the bad field when `text` is not a state this version wrote, including
  // counts above kMaxSampleCount, values beyond +-kMaxMetricValue and an m2 no such values give
  // (so merging loaded states never overflows).
  static BuilderState from_string(std::string_view text);

 private:
  friend class Builder;

  struct PathNode {
    std::string name;
    std::uint32_t parent = 0;
    std::uint32_t depth = 0;
    NodeAccumulators acc;
    std::map<std::string, std::uint32_t, std::less<>> children;  // name -> index into nodes_
  };

  // Index of `parent`'s child `name`, created when absent.
  std::uint32_t child_of(std::uint32_t parent, std::string_view name);
  void path_of(std::uint32_t index, std::vector<std::string_view>& out) const;

  std::vector<PathNode> nodes_;  // [0] is the root; a parent always precedes its children
  std::uint64_t runs_ = 0;
  std::uint64_t calls_ = 0;
};

// Builds tries from runs. add_run and build are the learning thread's; not thread-safe. build()
// leaves the state untouched, so learning continues after a rebuild.
class Builder {
 public:
  explicit Builder(std::optional<SensitivityConfig> sensitivity = SensitivityConfig{});
  // Resumes from a stored (or merged) state.
  static Builder from_state(BuilderState state,
                            std::optional<SensitivityConfig> sensitivity = SensitivityConfig{});

  // Accumulates one completed run. Incomplete LLM calls are skipped; `status` is not consulted (a
  // failed call is still a call the agent made, and NAT counts every LLM_END). A call whose path is
  // longer than kMaxTrieDepth throws TrieError before anything is accumulated. Returns the run's
  // call contexts it learned from (extract_call_contexts with this builder's sensitivity; they
  // point into `run`), so a caller that also needs them does not derive them again.
  std::vector<CallContext> add_run(const RunRecord& run);
  // Adds another builder's state (e.g. a replica's, read from Redis).
  void merge(const BuilderState& other) { state_.merge(other); }

  const BuilderState& state() const noexcept { return state_; }

  // The trie of everything accumulated so far; children are ordered by name. generated_at is
  // `now` in NAT's format (format_generated_at). Metric values are clamped to +-kMaxMetricValue
  // and sample counts to kMaxSampleCount, so parse_trie accepts whatever this returns.
  Trie build(std::string workflow_name,
             std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

 private:
  BuilderState state_;
  std::optional<SensitivityConfig> sensitivity_;
};

// Python's datetime.now(UTC).isoformat(): "2026-03-31T12:00:00.123456+00:00" (the fraction is
// omitted when it is zero). Thread-safe.
std::string format_generated_at(std::chrono::system_clock::time_point t);

// NAT's score_to_sensitivity: clamp(round(mean_score * (scale - 1)) + 1, 1, scale), with Python's
// round (ties to even), as NAT's builder computes it. nullopt when there are no scores.
std::optional<int> sensitivity_level(const Moments& scores, int scale);

}  // namespace augur::trie
