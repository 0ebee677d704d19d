// The trie builder: turns completed runs into NAT predictions (a port of the nemo-flow-adaptive /
// NAT trie_builder algorithm). Each run's LLM calls yield remaining calls, inter-arrival time,
// output tokens and a 4-signal latency-sensitivity score; these feed mergeable accumulators at the
// root and at every prefix of the call's path, per call index and across indices. build() turns
// them into a Trie. The accumulator state serialises to a string so replicas can share and merge
// it. BuilderLimits bound what it keeps (paths, call indices, new paths per run) and make older
// samples weigh less (exponential decay), so learning stays bounded and follows drift.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
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

  void merge(const IndexAccumulators& other, double scale = 1.0);
  void scale(double factor);
  bool operator==(const IndexAccumulators&) const = default;
};

struct NodeAccumulators {
  std::map<std::uint32_t, IndexAccumulators> by_call_index;
  IndexAccumulators any_index;

  void merge(const NodeAccumulators& other, double scale = 1.0);
  void scale(double factor);
  bool operator==(const NodeAccumulators&) const = default;
};

// How much learning keeps and how fast it forgets (config `learning.*`, README "Online learning").
// A default-constructed BuilderLimits keeps everything forever, as NAT's builder does;
// default_limits() is what `augur serve` uses unless configured otherwise, offline_limits() what
// `augur trie build` uses.
// How fast an unused path loses its claim to a place in a full trie (in data time): an hour, so an
// agent that pauses keeps its paths against a flood of one-off ones.
inline constexpr std::chrono::milliseconds kEvictionHalfLife = std::chrono::hours(1);

struct BuilderLimits {
  // Samples lose half their weight per half-life of run time (0: never, cumulative). Means and
  // percentiles are weighted; sample counts are not.
  std::chrono::milliseconds half_life{0};
  // Function paths (trie nodes below the root) kept at most; 0 = unbounded. Past it the path with
  // the least evidence goes (its samples, halved per kEvictionHalfLife since it was last seen),
  // least recently seen first among equals.
  std::size_t max_paths = 0;
  // Call indices 1..max_call_indices get their own accumulators; later calls feed the node's
  // any-index accumulators only. 0 = unbounded.
  std::uint32_t max_call_indices = 0;
  // Sightings (calls) a new path needs before it becomes a node; the first ones are kept in a
  // bounded candidate table and replayed into the node when it is admitted. 1 = at once.
  std::uint32_t min_path_samples = 1;
  // New nodes one run may add; 0 = unbounded.
  std::size_t max_new_paths_per_run = 0;
  // Candidate paths remembered (least recently seen dropped first); 0 = 16 x max_paths (at least
  // 1024) when admission is on.
  std::size_t max_candidates = 0;

  bool operator==(const BuilderLimits&) const = default;
};

// The documented defaults of learning.half_life, max_paths, max_call_indices, min_path_samples and
// max_new_paths_per_run (config::Learning's defaults equal these; a unit test checks it).
BuilderLimits default_limits();
// What `augur trie build` uses: the same decay and path bounds, without the admission wait and the
// per-run bound, which guard a live proxy against its clients (a run-records file is not a
// flood): a path seen once in the file still gets its node.
BuilderLimits offline_limits();

// Why learning dropped something (augur_learning_evicted_total{reason}).
enum class Eviction : std::uint8_t {
  capacity,        // a path removed, or a new path refused, because max_paths were kept
  run_path_limit,  // a path that had earned a node waits: its run added max_new_paths_per_run
  candidate,       // a candidate path forgotten before admission (candidate table full)
  call_index,      // a call past max_call_indices, learned at its node's any-index only
  merge,           // a path removed after a merge or load held more than max_paths
  trie_bytes,      // a path removed so the published trie fits learning.max_trie_bytes
  state_bytes,     // a path removed so the stored state fits learning.max_state_bytes
};
inline constexpr std::size_t kEvictionReasons = 7;
std::string_view to_string(Eviction reason);
using EvictionCounts = std::array<std::uint64_t, kEvictionReasons>;

// Every node's accumulators, keyed by path. Not thread-safe; copyable value type.
//
// Decay (half_life > 0) is forward decay: a sample of a run that ended at t weighs
// 2^((t - landmark) / half_life), so nothing already stored is touched when a sample is added,
// every accumulator of the state is comparable, and two states merge by rescaling one to the
// other's landmark. When new weights pass 2^40 the whole state is rescaled once and the landmark
// moves. A state without a landmark (written before decay existed, or cumulative) counts as
// observed at the landmark of the first timed sample or state it meets.
class BuilderState {
 public:
  BuilderState();

  // The node at `path` (empty = root), created with its ancestors when absent (no bound applies).
  // The reference stays valid until the next call that creates a node.
  NodeAccumulators& node(std::span<const std::string_view> path);
  // The node at `path`, or nullptr. No allocation.
  const NodeAccumulators* find(std::span<const std::string_view> path) const noexcept;

  // Adds everything `other` has seen (its weights rescaled to this state's landmark): afterwards
  // this state equals (up to floating-point rounding of the means) the state of one builder fed
  // both sets of runs.
  void merge(const BuilderState& other);

  // Calls `visit(path, accumulators)` for every node, parents before children.
  void for_each_node(const std::function<void(std::span<const std::string_view>,
                                              const NodeAccumulators&)>& visit) const;

  std::size_t node_count() const noexcept { return live_; }  // root included
  std::size_t path_count() const noexcept { return live_ - 1; }
  std::uint64_t run_count() const noexcept { return runs_; }
  std::uint64_t call_count() const noexcept { return calls_; }  // LLM calls accumulated

  std::chrono::milliseconds half_life() const noexcept { return half_life_; }
  // Sets the half-life this state's weights are read with (a loaded state takes the config's).
  void set_half_life(std::chrono::milliseconds h) noexcept { half_life_ = h; }
  std::optional<std::int64_t> landmark_ms() const noexcept { return landmark_ms_; }
  // Weight of a sample of a run that ended at `t_ms`, relative to this state (1 without decay);
  // may rescale the state and move its landmark.
  double sample_weight(std::int64_t t_ms);

  // Removes the `n` paths with the least weight (least recently seen first among equals); a node
  // goes only once it has no children left. Counts them under `reason`; returns how many went.
  // The parent loses nothing: by NAT's prefix rule its accumulators already hold every sample of
  // the paths below it.
  std::size_t evict(std::size_t n, Eviction reason);
  // Evicts until at most `max_paths` paths remain (0: no bound).
  void evict_to(std::size_t max_paths, Eviction reason);
  const EvictionCounts& evictions() const noexcept { return evicted_; }

  // Compact JSON (e.g. for a Redis string); exact: from_string(to_string()) holds the same samples,
  // buckets and bit-identical moments.
  std::string to_string() const;
  // Reads what to_string wrote, including version 1 states (no decay: loaded as untimed). Throws
  // TrieError naming the bad field when `text` is not a state this version wrote, including
  // counts above kMaxSampleCount, values beyond +-kMaxMetricValue and an m2 no such values give
  // (so merging loaded states never overflows).
  static BuilderState from_string(std::string_view text);

 private:
  friend class Builder;

  struct PathNode {
    std::string name;
    std::uint32_t parent = 0;
    std::uint32_t depth = 0;
    bool live = false;         // false: a free slot
    std::int64_t seen_ms = 0;  // end of the last run that fed it (0: unknown)
    NodeAccumulators acc;
    std::map<std::string, std::uint32_t, std::less<>> children;  // name -> index into nodes_
  };

  static constexpr std::uint32_t kNone = 0;  // "no node": the root is nobody's child

  // Index of `parent`'s child `name`, created when absent (no bound applies).
  std::uint32_t child_of(std::uint32_t parent, std::string_view name);
  // Index of `parent`'s child `name`, or kNone.
  std::uint32_t find_child(std::uint32_t parent, std::string_view name) const noexcept;
  // Index of the node at `path`, created with its ancestors when absent.
  std::uint32_t index_of(std::span<const std::string_view> path);
  void remove_leaf(std::uint32_t index);
  void path_of(std::uint32_t index, std::vector<std::string_view>& out) const;
  // Node indices, parents before children (children in name order).
  std::vector<std::uint32_t> preorder() const;
  // What a path is worth keeping: its samples, halved per kEvictionHalfLife of data time since it
  // was last seen (`latest_ms`: the newest last-seen of the state). Deliberately apart from
  // half_life, which sets how fast predictions follow drift: a path an agent has not called for a
  // while must still outlast a flood of one-off paths, whatever the half-life.
  double evidence(std::uint32_t index, std::int64_t latest_ms) const noexcept;
  std::int64_t latest_seen_ms() const noexcept;
  // The leaf with the least evidence, other than `keep`; kNone when there is none.
  std::uint32_t weakest_leaf(std::uint32_t keep, std::int64_t latest_ms) const;
  void rescale(double factor);

  std::vector<PathNode> nodes_;  // [0] is the root; slots of evicted nodes are reused
  std::vector<std::uint32_t> free_;
  std::size_t live_ = 1;
  std::uint64_t runs_ = 0;
  std::uint64_t calls_ = 0;
  std::chrono::milliseconds half_life_{0};
  std::optional<std::int64_t> landmark_ms_;
  EvictionCounts evicted_{};  // not serialised: counters of this process
};

// Builds tries from runs. add_run and build are the learning thread's; not thread-safe. build()
// leaves the state untouched, so learning continues after a rebuild.
class Builder {
 public:
  explicit Builder(std::optional<SensitivityConfig> sensitivity = SensitivityConfig{},
                   BuilderLimits limits = {});
  // Resumes from a stored (or merged) state; paths past limits.max_paths are evicted (reason
  // merge).
  static Builder from_state(BuilderState state,
                            std::optional<SensitivityConfig> sensitivity = SensitivityConfig{},
                            BuilderLimits limits = {});

  // Accumulates one completed run. Incomplete LLM calls are skipped; `status` is not consulted (a
  // failed call is still a call the agent made, and NAT counts every LLM_END). A call whose path is
  // longer than kMaxTrieDepth throws TrieError before anything is accumulated. Returns the run's
  // call contexts it learned from (extract_call_contexts with this builder's sensitivity; they
  // point into `run`), so a caller that also needs them does not derive them again.
  std::vector<CallContext> add_run(const RunRecord& run);
  // Adds another builder's state (e.g. a replica's, read from Redis), then evicts down to
  // max_paths (reason merge).
  void merge(const BuilderState& other);

  const BuilderState& state() const noexcept { return state_; }
  BuilderState& state() noexcept { return state_; }
  const BuilderLimits& limits() const noexcept { return limits_; }
  // Candidate paths waiting for admission.
  std::size_t candidate_count() const noexcept { return candidates_.size(); }

  // The trie of everything accumulated so far; children are ordered by name. generated_at is
  // `now` in NAT's format (format_generated_at). Metric values are clamped to +-kMaxMetricValue
  // and sample counts to kMaxSampleCount, so parse_trie accepts whatever this returns.
  Trie build(std::string workflow_name,
             std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

  // What fits a byte bound, evicting the paths with the least weight until it does (or only the
  // root is left): the state's to_string() within `max_bytes` (reason state_bytes), or the built
  // trie with its NAT JSON within `max_bytes` (reason trie_bytes). 0 = no bound.
  std::string state_within(std::size_t max_bytes);
  struct BuiltTrie {
    Trie trie;
    std::string json;  // serialize_trie(trie)
  };
  BuiltTrie build_within(std::size_t max_bytes, const std::string& workflow_name,
                         std::chrono::system_clock::time_point now);

  // A call's values, as kept for a candidate path until it is admitted.
  struct Sample {
    std::uint32_t call_index = 0;
    double remaining_calls = 0;
    double interarrival_ms = 0;  // NaN: none
    double output_tokens = 0;
    double sensitivity = 0;  // NaN: not scored
    double weight = 1;
    std::uint32_t depth = 0;  // kept by a candidate: the path levels that already hold it
  };

 private:
  struct Candidate {
    std::uint32_t sightings = 0;
    std::vector<Sample> samples;  // at most min_path_samples - 1
    std::list<std::uint64_t>::iterator lru;
  };

  bool admission_on() const noexcept;
  // A call on `path` whose prefix path[0..from) has nodes chain[0..from] and whose next name has
  // none: counts the sighting and, once the path has earned it, creates the missing nodes (within
  // the per-run and capacity bounds) into chain[from+1..], each fed `sample`, and replays the
  // calls kept for this path (and for prefixes called on their own) into every level that lacks
  // them.
  void admit(std::span<std::uint32_t> chain, std::span<const std::string> path, std::size_t from,
             Sample sample, std::int64_t t, std::size_t& admitted_this_run);
  void add_sample(NodeAccumulators& acc, const Sample& s);

  BuilderState state_;
  std::optional<SensitivityConfig> sensitivity_;
  BuilderLimits limits_;
  std::size_t max_candidates_ = 0;
  std::unordered_map<std::uint64_t, Candidate> candidates_;  // key: hash of the path
  std::list<std::uint64_t> candidate_lru_;                   // least recently seen first
};

// Python's datetime.now(UTC).isoformat(): "2026-03-31T12:00:00.123456+00:00" (the fraction is
// omitted when it is zero). Thread-safe.
std::string format_generated_at(std::chrono::system_clock::time_point t);

// NAT's score_to_sensitivity: clamp(round(mean_score * (scale - 1)) + 1, 1, scale), with Python's
// round (ties to even), as NAT's builder computes it. nullopt when there are no scores.
std::optional<int> sensitivity_level(const Moments& scores, int scale);

}  // namespace augur::trie
