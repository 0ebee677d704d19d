#include "learning/engine/run_tracker.hpp"

#include <algorithm>

namespace augur::learning {

RunTracker::RunTracker(std::chrono::milliseconds idle_timeout, std::size_t max_runs,
                       std::size_t max_calls_per_run, OnClosed on_closed)
    : idle_ms_(idle_timeout.count()),
      max_runs_(std::max<std::size_t>(max_runs, 1)),
      max_calls_(std::max<std::size_t>(max_calls_per_run, 1)),
      on_closed_(std::move(on_closed)) {}

void RunTracker::close(Order::iterator it) {
  ClosedRun closed;
  closed.record = to_run_record(it->id, it->calls);
  closed.calls = std::move(it->calls);
  runs_.erase(it->id);
  order_.erase(it);
  on_closed_(std::move(closed));
}

void RunTracker::add(CallObservation&& call) {
  const std::int64_t activity = call.ended_at_ms.value_or(call.started_at_ms);
  if (!call.run_id_from_client) {
    ClosedRun closed;
    closed.calls.push_back(std::move(call));
    closed.record = to_run_record(closed.calls.front().run_id, closed.calls);
    on_closed_(std::move(closed));
    return;
  }

  auto found = runs_.find(call.run_id);
  if (found != runs_.end() && call.started_at_ms - found->second->last_activity_ms >= idle_ms_) {
    close(found->second);  // the proxy forgot this run too: it is a new run with the same id
    found = runs_.end();
  }
  if (found == runs_.end()) {
    if (runs_.size() >= max_runs_) {
      ++evicted_;
      close(order_.begin());
    }
    order_.push_back(OpenRun{call.run_id, {}, activity});
    found = runs_.emplace(call.run_id, std::prev(order_.end())).first;
  }
  const auto it = found->second;
  order_.splice(order_.end(), order_, it);
  it->last_activity_ms = std::max(it->last_activity_ms, activity);
  if (call.run_end) {
    if (it->expected_calls == 0) ending_.push_back(it->id);
    it->expected_calls = std::max(call.calls_in_run, 1u);
    it->end_deadline_ms = activity + end_grace_ms;
  }
  it->calls.push_back(std::move(call));
  const bool complete = it->expected_calls > 0 && it->calls.size() >= it->expected_calls;
  if (complete || it->calls.size() >= max_calls_) close(it);
}

void RunTracker::expire(std::int64_t now_ms) {
  // Ended runs still waiting for a straggler: closed once their grace is over. The list only
  // holds ids, so runs closed meanwhile (complete, evicted) are skipped.
  std::erase_if(ending_, [&](const std::string& id) {
    const auto found = runs_.find(id);
    if (found == runs_.end() || found->second->expected_calls == 0) return true;
    if (now_ms < found->second->end_deadline_ms) return false;
    close(found->second);
    return true;
  });
  // order_ is by last update, which follows activity closely (calls arrive as they end); a run
  // updated late with an older end time is only closed a little later, never early.
  while (!order_.empty() && now_ms - order_.front().last_activity_ms >= idle_ms_) {
    close(order_.begin());
  }
}

trie::RunRecord to_run_record(const std::string& run_id,
                              const std::vector<CallObservation>& calls) {
  trie::RunRecord run;
  run.run_id = run_id;
  run.started_at_ms = calls.empty() ? 0 : calls.front().started_at_ms;
  std::int64_t end = run.started_at_ms;
  run.calls.reserve(calls.size());
  for (const auto& c : calls) {
    trie::CallRecord r;
    r.path = c.path;
    r.call_index = c.call_index;
    r.started_at_ms = c.started_at_ms;
    if (!c.failed) r.ended_at_ms = c.ended_at_ms;
    r.output_tokens = c.output_tokens;
    r.status = c.status;
    run.started_at_ms = std::min(run.started_at_ms, c.started_at_ms);
    end = std::max(end, c.ended_at_ms.value_or(c.started_at_ms));
    run.calls.push_back(std::move(r));
  }
  run.ended_at_ms = end;
  return run;
}

}  // namespace augur::learning
