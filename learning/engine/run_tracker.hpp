// Groups observed calls into runs on the learning thread. A run closes on the client's explicit
// end signal, after `idle_timeout` without a call ending, or when bounds force it; a closed run
// becomes a run record (the trie builder's input) with the observations it came from.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "learning/engine/observation.hpp"
#include "learning/trie/run_record.hpp"

namespace augur::learning {

struct ClosedRun {
  trie::RunRecord record;
  std::vector<CallObservation> calls;  // calls[i] is the observation behind record.calls[i]
};

// Not thread-safe: the learning thread owns it. Times are Unix epoch milliseconds.
class RunTracker {
 public:
  using OnClosed = std::function<void(ClosedRun&&)>;

  // `max_runs` bounds the open runs (the least recently active one closes beyond it);
  // `max_calls_per_run` bounds one run (it closes when full, later calls start a new run).
  RunTracker(std::chrono::milliseconds idle_timeout, std::size_t max_runs,
             std::size_t max_calls_per_run, OnClosed on_closed);

  // Adds a call. A call without a client run id is a run of its own and closes at once; a call
  // that arrives after its run went idle closes the old run first and starts a new one. The
  // run's last call closes it once the tracker holds as many calls as that call counted
  // (calls_in_run): io threads hand calls over in the order their responses finished writing,
  // so an earlier call's observation can arrive just after the last one's. Until then, or for at
  // most `end_grace`, the run waits for the stragglers.
  void add(CallObservation&& call);

  // Closes every run idle for at least idle_timeout, and every ended run whose grace is over, at
  // `now_ms`.
  void expire(std::int64_t now_ms);

  // How long an ended run waits for calls it counted but has not seen.
  static constexpr std::int64_t end_grace_ms = 2000;

  std::size_t open_runs() const { return runs_.size(); }
  std::uint64_t evicted() const { return evicted_; }

 private:
  struct OpenRun {
    std::string id;
    std::vector<CallObservation> calls;
    std::int64_t last_activity_ms = 0;
    std::uint32_t expected_calls = 0;  // > 0: the run has ended and closes at this many calls
    std::int64_t end_deadline_ms = 0;  // ... or at this time, whichever comes first
  };
  using Order = std::list<OpenRun>;

  void close(Order::iterator it);

  std::int64_t idle_ms_;
  std::size_t max_runs_;
  std::size_t max_calls_;
  OnClosed on_closed_;
  Order order_;  // least recently active first
  std::unordered_map<std::string, Order::iterator> runs_;
  std::vector<std::string> ending_;  // ids of ended runs waiting for earlier calls
  std::uint64_t evicted_ = 0;
};

// The run record of `calls` (in observation order): LLM calls with their path, index, times and
// tokens. Calls that failed have no end, so the builder skips them.
trie::RunRecord to_run_record(const std::string& run_id, const std::vector<CallObservation>& calls);

}  // namespace augur::learning
