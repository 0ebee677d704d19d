#include "learning/engine/run_tracker.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "learning/engine/trajectory.hpp"

using namespace augur::learning;
using namespace std::chrono_literals;

namespace {

CallObservation call(std::string run, std::int64_t start, std::int64_t end, bool last = false) {
  CallObservation c;
  c.run_id = std::move(run);
  c.run_id_from_client = true;
  c.run_end = last;
  c.path = {"agent"};
  c.started_at_ms = start;
  c.ended_at_ms = end;
  c.output_tokens = 10;
  c.status = 200;
  return c;
}

struct Collected {
  std::vector<ClosedRun> runs;
  RunTracker::OnClosed sink() {
    return [this](ClosedRun&& r) { runs.push_back(std::move(r)); };
  }
};

}  // namespace

TEST_CASE("a run closes on its explicit end signal with its calls in order") {
  Collected out;
  RunTracker t(30s, 100, 100, out.sink());
  t.add(call("r", 1000, 1100));
  t.add(call("r", 1200, 1300));
  CHECK(out.runs.empty());
  t.add(call("r", 1400, 1500, true));
  REQUIRE(out.runs.size() == 1);
  const auto& run = out.runs[0];
  CHECK(run.record.run_id == "r");
  CHECK(run.record.started_at_ms == 1000);
  CHECK(run.record.ended_at_ms == 1500);
  REQUIRE(run.record.calls.size() == 3);
  CHECK(run.calls.size() == 3);
  CHECK(run.record.calls[1].started_at_ms == 1200);
  CHECK(run.record.calls[1].ended_at_ms == 1300);
  CHECK(t.open_runs() == 0);
}

TEST_CASE("a run's last call waits for an earlier call that arrives after it") {
  // Each io thread hands its call over after writing the response, so the observation of call 1
  // can reach the tracker after call 3's, which ends the run. The run must keep all three.
  Collected out;
  RunTracker t(30s, 100, 100, out.sink());
  auto numbered = [](std::int64_t start, std::uint32_t n, bool last) {
    auto c = call("r", start, start + 50, last);
    c.calls_in_run = n;
    return c;
  };
  t.add(numbered(1200, 2, false));
  t.add(numbered(1400, 3, true));
  CHECK(out.runs.empty());
  t.add(numbered(1000, 1, false));
  REQUIRE(out.runs.size() == 1);
  CHECK(out.runs[0].record.calls.size() == 3);
  CHECK(t.open_runs() == 0);
}

TEST_CASE("an ended run missing a call closes when its grace is over") {
  Collected out;
  RunTracker t(30s, 100, 100, out.sink());
  auto last = call("r", 1400, 1450, true);
  last.calls_in_run = 3;  // calls 1 and 2 never arrive (their observations were dropped)
  t.add(std::move(last));
  t.expire(1450 + RunTracker::end_grace_ms - 1);
  CHECK(out.runs.empty());
  t.expire(1450 + RunTracker::end_grace_ms);
  REQUIRE(out.runs.size() == 1);
  CHECK(out.runs[0].record.calls.size() == 1);
  CHECK(t.open_runs() == 0);
}

TEST_CASE("idle runs close after the timeout, counted from their last response") {
  Collected out;
  RunTracker t(30s, 100, 100, out.sink());
  t.add(call("a", 0, 1000));
  t.add(call("b", 0, 20000));
  t.expire(30999);
  CHECK(out.runs.empty());
  t.expire(31000);
  REQUIRE(out.runs.size() == 1);
  CHECK(out.runs[0].record.run_id == "a");
  t.expire(50000);
  REQUIRE(out.runs.size() == 2);
}

TEST_CASE("a call arriving after its run went idle starts a new run with the same id") {
  Collected out;
  RunTracker t(30s, 100, 100, out.sink());
  t.add(call("r", 0, 100));
  t.add(call("r", 40000, 40100));  // no expire() in between
  REQUIRE(out.runs.size() == 1);
  CHECK(out.runs[0].record.calls.size() == 1);
  CHECK(t.open_runs() == 1);
}

TEST_CASE("calls without a client run id are runs of their own") {
  Collected out;
  RunTracker t(30s, 100, 100, out.sink());
  auto c = call("augur-x-1", 0, 10);
  c.run_id_from_client = false;
  t.add(std::move(c));
  REQUIRE(out.runs.size() == 1);
  CHECK(t.open_runs() == 0);
}

TEST_CASE("bounds: the least recently active run closes first; a full run closes") {
  Collected out;
  RunTracker t(30s, 2, 3, out.sink());
  t.add(call("a", 0, 10));
  t.add(call("b", 0, 20));
  t.add(call("a", 30, 40));  // a is now the most recent
  t.add(call("c", 50, 60));  // evicts b
  REQUIRE(out.runs.size() == 1);
  CHECK(out.runs[0].record.run_id == "b");
  CHECK(t.evicted() == 1);
  t.add(call("a", 70, 80));  // a's third call: full
  REQUIRE(out.runs.size() == 2);
  CHECK(out.runs[1].record.run_id == "a");
  CHECK(out.runs[1].record.calls.size() == 3);
}

TEST_CASE("failed calls are recorded without an end, so the builder skips them") {
  auto ok = call("r", 0, 10);
  auto failed = call("r", 20, 30);
  failed.failed = true;
  failed.status = 502;
  const auto record = to_run_record("r", {ok, failed});
  CHECK(record.calls[0].ended_at_ms == 10);
  CHECK_FALSE(record.calls[1].ended_at_ms.has_value());
  CHECK(record.calls[1].status == 502);
}

TEST_CASE("a run's trajectory: steps in end order, verdict and quality from outcomes and errors") {
  ClosedRun run;
  auto a = call("r", 0, 300);
  a.path = {"agent", "search"};
  auto b = call("r", 100, 200);  // ends first
  auto c = call("r", 400, 500, true);
  c.status = 0;  // no response
  c.failed = true;
  run.calls = {a, b, c};
  run.record = to_run_record("r", run.calls);

  std::vector<HintErrors> errors(3);
  errors[0].output_tokens = std::log(2.0);  // off by a factor of two: confidence 0.5
  const auto t = make_trajectory(run, errors);
  REQUIRE(t.steps.size() == 3);
  CHECK(t.steps[0].latency_ms == 100);  // b
  CHECK(t.steps[1].action == "agent/search");
  CHECK(t.steps[1].quality() == doctest::Approx(0.5));
  CHECK(t.steps[2].outcome == StepOutcome::failure);
  CHECK(t.verdict.kind == Verdict::Kind::partial);
  CHECK(t.verdict.completion_ratio == doctest::Approx(2.0 / 3));
  // mean step quality (1 + 0.5 + 0) / 3, times 0.5 + 0.5 × 2/3
  CHECK(t.quality == doctest::Approx(0.5 * (0.5 + 0.5 * 2.0 / 3)));
  CHECK(t.total_output_tokens == 30);

  std::vector<HintErrors> exact(3);
  run.calls[2] = call("r", 400, 500, true);
  run.record = to_run_record("r", run.calls);
  const auto perfect = make_trajectory(run, exact);
  CHECK(perfect.verdict.kind == Verdict::Kind::success);
  CHECK(perfect.quality == doctest::Approx(1.0));
}
