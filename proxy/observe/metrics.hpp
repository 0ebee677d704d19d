// Prometheus metrics. Each io thread records its finished requests into its own WorkerMetrics
// (single writer, relaxed atomics, no locks shared with other threads); /metrics sums the workers
// and the learning thread's counters into metric families at scrape time. prometheus-cpp stays
// inside metrics.cpp.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/single_writer_histogram.hpp"
#include "learning/sona/engine.hpp"
#include "learning/trie/prediction.hpp"
#include "proxy/observe/request_record.hpp"

namespace augur::learning {
struct LearnerStats;
}

namespace augur::proxy {

// Histogram upper bounds in seconds (+Inf implied). LLM calls take from milliseconds (a cached
// short answer) to minutes (a long generation); augur's own overhead is tens of microseconds.
inline constexpr std::array<double, 16> kLatencyBuckets{
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300};
inline constexpr std::array<double, 13> kOverheadBuckets{
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};

inline constexpr std::size_t kOutcomes = 7;        // Outcome values
inline constexpr std::size_t kStatusCodes = 1000;  // HTTP status 0..999 (Beast's range)
inline constexpr std::size_t kSources = 6;         // trie::Source values

template <const auto& Bounds>
using LocalHistogram = SingleWriterHistogram<Bounds>;

using LatencyHistogram = LocalHistogram<kLatencyBuckets>;
using OverheadHistogram = LocalHistogram<kOverheadBuckets>;

// One worker's series for one upstream name. Keyed by name (not routing index) so a SIGHUP that
// reorders, adds or removes upstreams never mixes two upstreams' numbers; an upstream a reload
// removed keeps its final values, as Prometheus expects of counters.
struct UpstreamSeries {
  explicit UpstreamSeries(std::string n) : name(std::move(n)) {}
  const std::string name;  // "" for requests that reached no upstream
  std::array<std::atomic<std::uint64_t>, kStatusCodes> requests{};  // by status sent to the client
  std::array<std::atomic<std::uint64_t>, kOutcomes> errors{};       // by Outcome (ok unused)
  LatencyHistogram duration;
  LatencyHistogram ttfb;
  std::atomic<UpstreamSeries*> next{nullptr};  // published once, never changed afterwards
};

class WorkerMetrics {
 public:
  WorkerMetrics() = default;
  ~WorkerMetrics();
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  // Counts one finished request. Only the owning worker's thread may call it.
  void record(const RequestRecord& r);

  // Readers, from any thread. The upstream list only grows (append with a release store), so a
  // reader walking it from first_upstream() sees whole series.
  const UpstreamSeries* first_upstream() const { return head_.load(std::memory_order_acquire); }
  const OverheadHistogram& overhead() const { return overhead_; }
  std::uint64_t hints(trie::Source s) const {
    return hints_[static_cast<std::size_t>(s)].load(std::memory_order_relaxed);
  }

 private:
  UpstreamSeries& series(std::string_view name);

  std::atomic<UpstreamSeries*> head_{nullptr};
  UpstreamSeries* tail_ = nullptr;
  // Writer-side index; the transparent hash lets a string_view look up without allocating.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, UpstreamSeries*, NameHash, std::equal_to<>> by_name_;
  OverheadHistogram overhead_;
  std::array<std::atomic<std::uint64_t>, kSources> hints_{};
};

// Everything /metrics reports, gathered by the admin endpoint at scrape time.
struct MetricsSources {
  std::span<const WorkerMetrics* const> workers;
  std::uint64_t inflight = 0;
  std::uint64_t connections_refused = 0;  // over limits.max_connections
  // Pooled upstream connections closed instead of reused, by reason.
  std::vector<std::pair<std::string_view, std::uint64_t>> upstream_conn_discarded;
  const learning::LearnerStats* learner = nullptr;  // null: learning disabled
  std::uint64_t trie_nodes = 0;                     // nodes of the trie the proxy serves now
  std::uint64_t trie_bytes = 0;                     // its NAT JSON size
  std::optional<std::uint64_t> access_log_batches_dropped;  // absent: access log off
  // SONA's counters (a copy taken for this scrape); the augur_sona_* families are exported only
  // when it is set (sona enabled).
  std::optional<sona::Stats> sona_stats;
  // Runs per source (header, session_header, ...): started, continued, ended.
  struct RunEventCounts {
    std::string_view source;
    std::uint64_t started = 0, continued = 0, ended = 0;
  };
  std::vector<RunEventCounts> run_events;
};

// The Prometheus text exposition (format 0.0.4) of every metric. Safe to call from any thread
// while workers record; returns an empty document only if there is nothing at all to report.
std::string render_metrics(const MetricsSources& sources);

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace augur::proxy
