#include "learning/engine/run_tracker.hpp"

#include <doctest/doctest.h>

#include <vector>

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
