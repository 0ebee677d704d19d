// The builder on hand-made runs: every expected number is worked out by hand in the comments.
// Then: accumulator state round trip and merge equivalence on generated runs.
#include "learning/trie/builder.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "learning/trie/lookup.hpp"
#include "learning/trie/nat_json.hpp"

namespace augur::trie {
namespace {

CallRecord llm(std::vector<std::string> path, std::int64_t start, std::int64_t end,
               std::uint64_t tokens, std::optional<std::uint32_t> index = std::nullopt) {
  CallRecord c;
  c.kind = "llm";
  c.path = std::move(path);
  c.call_index = index;
  c.started_at_ms = start;
  c.ended_at_ms = end;
  c.output_tokens = tokens;
  c.status = 200;
  return c;
}

CallRecord tool(std::vector<std::string> path, std::int64_t start, std::int64_t end) {
  CallRecord c = llm(std::move(path), start, end, 0);
  c.kind = "tool";
  c.output_tokens.reset();
  return c;
}

// Run A: sequential, explicit call indices, a tool call in between.
//   c1 llm [agent]         idx 1    0..100   10 tokens
//   t  tool [agent]               100..300
//   c2 llm [agent,search]  idx 1  300..400   20 tokens
//   c3 llm [agent]         idx 2  450..1000  30 tokens        run 0..1000
RunRecord run_a() {
  RunRecord r;
  r.run_id = "a";
  r.started_at_ms = 0;
  r.ended_at_ms = 1000;
  r.calls = {llm({"agent"}, 0, 100, 10, 1), tool({"agent"}, 100, 300),
             llm({"agent", "search"}, 300, 400, 20, 1), llm({"agent"}, 450, 1000, 30, 2)};
  return r;
}

// Run B: c1 and c2 overlap; no call indices (numbered per path in start order: 1, 2, 3); no run
// end.
//   c1 llm [agent]   0..100  5 tokens
//   c2 llm [agent]  50..150  7 tokens
//   c3 llm [agent] 200..300  9 tokens
RunRecord run_b() {
  RunRecord r;
  r.run_id = "b";
  r.started_at_ms = 0;
  r.calls = {llm({"agent"}, 0, 100, 5), llm({"agent"}, 50, 150, 7), llm({"agent"}, 200, 300, 9)};
  return r;
}

const auto kT0 = std::chrono::system_clock::time_point{} + std::chrono::seconds(1'774'958'400);

void check_metrics(const MetricStats& got, const MetricStats& want) {
  CHECK(got.sample_count == want.sample_count);
  CHECK(got.mean == doctest::Approx(want.mean).epsilon(1e-12));
  CHECK(got.p50 == doctest::Approx(want.p50).epsilon(1e-12));
  CHECK(got.p90 == doctest::Approx(want.p90).epsilon(1e-12));
  CHECK(got.p95 == doctest::Approx(want.p95).epsilon(1e-12));
}

}  // namespace

TEST_CASE("call contexts of run A (sequential)") {
  const RunRecord run = run_a();
  const auto ctx = extract_call_contexts(run, SensitivityConfig{});
  REQUIRE(ctx.size() == 3);  // the tool call is not an LLM call
  // End order c1 (100), c2 (400), c3 (1000): 2, 1, 0 LLM calls after each.
  CHECK(ctx[0].call == &run.calls[0]);
  CHECK(ctx[1].call == &run.calls[2]);
  CHECK(ctx[2].call == &run.calls[3]);
  CHECK(ctx[0].remaining_calls == 2);
  CHECK(ctx[1].remaining_calls == 1);
  CHECK(ctx[2].remaining_calls == 0);
  // Next LLM start after each end: c1 100 -> c2 300 = 200; c2 400 -> c3 450 = 50; c3: none.
  CHECK(ctx[0].interarrival_ms == 200.0);
  CHECK(ctx[1].interarrival_ms == 50.0);
  CHECK_FALSE(ctx[2].interarrival_ms.has_value());
  CHECK(ctx[0].call_index == 1);
  CHECK(ctx[1].call_index == 1);
  CHECK(ctx[2].call_index == 2);
  // No overlaps: logical positions 0, 1, 2 (3 steps, max remaining 2).
  CHECK(ctx[0].logical_position == 0);
  CHECK(ctx[1].logical_position == 1);
  CHECK(ctx[2].logical_position == 2);
  // raw = 0.5*critical + 0.3*fanout + 0.2*position:
  //   c1: 0.5*(100/1000) + 0.3*(2/2) + 0.2*max(1-0, 0)     = 0.05  + 0.3  + 0.2 = 0.55
  //   c2: 0.5*(100/1000) + 0.3*(1/2) + 0.2*max(0.5, 0.5)   = 0.05  + 0.15 + 0.1 = 0.30
  //   c3: 0.5*(550/1000) + 0.3*(0/2) + 0.2*max(0, 1)       = 0.275 + 0    + 0.2 = 0.475
  CHECK(ctx[0].raw_score == doctest::Approx(0.55));
  CHECK(ctx[1].raw_score == doctest::Approx(0.30));
  CHECK(ctx[2].raw_score == doctest::Approx(0.475));
  // min-max over [0.30, 0.55]: 1, 0, (0.475-0.30)/0.25 = 0.7.
  CHECK(ctx[0].sensitivity_score == doctest::Approx(1.0));
  CHECK(ctx[1].sensitivity_score == doctest::Approx(0.0));
  CHECK(ctx[2].sensitivity_score == doctest::Approx(0.7));
}

TEST_CASE("call contexts of run B (parallel calls)") {
  const RunRecord run = run_b();
  const auto ctx = extract_call_contexts(run, SensitivityConfig{});
  REQUIRE(ctx.size() == 3);
  // Indices numbered per path in start order.
  CHECK(ctx[0].call_index == 1);
  CHECK(ctx[1].call_index == 2);
  CHECK(ctx[2].call_index == 3);
  // c1 ends at 100; c2 started before that (50), so the next call is c3 at 200: 100 ms (the seed's
  // "next record" would give 50 - 100 = -50). c2 ends at 150 -> c3 at 200: 50 ms.
  CHECK(ctx[0].interarrival_ms == 100.0);
  CHECK(ctx[1].interarrival_ms == 50.0);
  CHECK_FALSE(ctx[2].interarrival_ms.has_value());
  // c1 and c2 overlap: positions 0, 0, 1 (2 steps, max remaining 1).
  CHECK(ctx[0].logical_position == 0);
  CHECK(ctx[1].logical_position == 0);
  CHECK(ctx[2].logical_position == 1);
  // No run end: duration = last call end 300. critical = 100/300 for all three.
  //   c1, c2: 0.5/3 + 0.3*1 + 0.2*1 = 0.6667; c3: 0.5/3 + 0 + 0.2*1 = 0.3667  -> 1, 1, 0.
  CHECK(ctx[0].workflow_duration_ms == 300.0);
  CHECK(ctx[0].raw_score == doctest::Approx(0.5 / 3 + 0.5));
  CHECK(ctx[2].raw_score == doctest::Approx(0.5 / 3 + 0.2));
  CHECK(ctx[0].sensitivity_score == 1.0);
  CHECK(ctx[1].sensitivity_score == 1.0);
  CHECK(ctx[2].sensitivity_score == 0.0);

  // With w_parallel = 1, the overlapping pair pays (0 + (2-1)/2) / 2 = 0.25.
  SensitivityConfig cfg;
  cfg.w_parallel = 1.0;
  const auto penalised = extract_call_contexts(run, cfg);
  CHECK(penalised[0].raw_score == doctest::Approx(0.5 / 3 + 0.5 - 0.25));
  CHECK(penalised[2].raw_score == doctest::Approx(0.5 / 3 + 0.2));
}

TEST_CASE("trie built from runs A and B") {
  Builder builder;
  builder.add_run(run_a());
  builder.add_run(run_b());
  const Trie trie = builder.build("hand_made", kT0);
  CHECK(trie.workflow_name == "hand_made");
  CHECK(trie.version == "1.0");
  CHECK(trie.generated_at == "2026-03-31T12:00:00+00:00");
  CHECK(builder.state().run_count() == 2);
  CHECK(builder.state().call_count() == 6);
  CHECK(count_nodes(trie) == 3);  // root, agent, agent/search

  // Samples per call index across both runs (A: c1, c2 idx 1, c3 idx 2; B: idx 1, 2, 3):
  //   idx 1: A.c1 (rem 2, iat 200, tok 10, score 1), A.c2 (1, 50, 20, 0), B.c1 (2, 100, 5, 1)
  //   idx 2: A.c3 (0, -, 30, 0.7), B.c2 (1, 50, 7, 1)
  //   idx 3: B.c3 (0, -, 9, 0)
  const Node& root = trie.root;
  REQUIRE(root.predictions_by_call_index.size() == 3);
  const Prediction& r1 = root.predictions_by_call_index.at(1);
  // remaining {1,2,2}: mean 5/3, p50 2, p90 rank 1.8 -> 2, p95 2.
  check_metrics(r1.remaining_calls, {3, 5.0 / 3, 2, 2, 2});
  // iat {50,100,200}: mean 350/3; p50 100; p90 rank 1.8 -> 100 + 0.8*100 = 180; p95 190.
  check_metrics(r1.interarrival_ms, {3, 350.0 / 3, 100, 180, 190});
  // tokens {5,10,20}: mean 35/3; p50 10; p90 18; p95 19.
  check_metrics(r1.output_tokens, {3, 35.0 / 3, 10, 18, 19});
  // scores {1,0,1}: mean 2/3 -> round(2.667) + 1 = 4.
  CHECK(r1.latency_sensitivity == 4);

  const Prediction& r2 = root.predictions_by_call_index.at(2);
  check_metrics(r2.remaining_calls, {2, 0.5, 0.5, 0.9, 0.95});
  check_metrics(r2.interarrival_ms, {1, 50, 50, 50, 50});  // A.c3 is last: no sample
  check_metrics(r2.output_tokens, {2, 18.5, 18.5, 27.7, 28.85});
  // scores {0.7, 1}: mean 0.85 -> round(3.4) + 1 = 4.
  CHECK(r2.latency_sensitivity == 4);

  const Prediction& r3 = root.predictions_by_call_index.at(3);
  check_metrics(r3.remaining_calls, {1, 0, 0, 0, 0});
  CHECK(r3.interarrival_ms == MetricStats{});  // never followed: all zero, like NAT
  CHECK(r3.latency_sensitivity == 1);          // score 0 -> round(0) + 1

  // Across indices: remaining {2,1,0,2,1,0}: mean 1, p50 1, p90 rank 4.5 -> 2, p95 2.
  REQUIRE(root.predictions_any_index.has_value());
  const Prediction& any = *root.predictions_any_index;
  check_metrics(any.remaining_calls, {6, 1, 1, 2, 2});
  // iat {50,50,100,200}: mean 100; p50 rank 1.5 -> 75; p90 rank 2.7 -> 100 + 0.7*100 = 170; p95
  // 185.
  check_metrics(any.interarrival_ms, {4, 100, 75, 170, 185});
  // scores {1,0,0.7,1,1,0}: mean 3.7/6 = 0.6167 -> round(2.467) + 1 = 3.
  CHECK(any.latency_sensitivity == 3);

  // [agent] saw every call, so it predicts exactly what the root does.
  const Node* agent = root.children.find("agent");
  REQUIRE(agent != nullptr);
  CHECK(agent->predictions_by_call_index == root.predictions_by_call_index);
  CHECK(agent->predictions_any_index == root.predictions_any_index);

  // [agent, search] saw only A.c2: remaining 1, iat 50, 20 tokens, score 0 -> sensitivity 1.
  const Node* search = agent->children.find("search");
  REQUIRE(search != nullptr);
  const Prediction& s1 = search->predictions_by_call_index.at(1);
  check_metrics(s1.remaining_calls, {1, 1, 1, 1, 1});
  check_metrics(s1.interarrival_ms, {1, 50, 50, 50, 50});
  check_metrics(s1.output_tokens, {1, 20, 20, 20, 20});
  CHECK(s1.latency_sensitivity == 1);
  CHECK(search->predictions_any_index == s1);

  // The built trie is a NAT trie: it survives the file format and serves lookups.
  CHECK(parse_trie(serialize_trie(trie)) == trie);
  const std::vector<std::string_view> path{"agent", "search"};
  const auto hit = lookup(trie, path, 1);
  REQUIRE(hit);
  CHECK(hit->source == Source::exact);
  CHECK(hit->prediction->output_tokens.mean == 20);
}

TEST_CASE("single call and flat runs score 0.5 (sensitivity 3)") {
  RunRecord r;
  r.started_at_ms = 1000;
  r.ended_at_ms = 2000;
  r.calls = {llm({}, 1000, 1500, 42)};
  Builder b;
  b.add_run(r);
  const Trie t = b.build("w", kT0);
  // A call at the root path lands on the root only.
  CHECK(t.root.children.empty());
  const Prediction& p = t.root.predictions_by_call_index.at(1);
  CHECK(p.latency_sensitivity == 3);  // round(0.5 * 4) + 1
  CHECK(p.remaining_calls == MetricStats{1, 0, 0, 0, 0});
  CHECK(p.output_tokens == MetricStats{1, 42, 42, 42, 42});
}

TEST_CASE("sensitivity disabled writes null") {
  Builder b(std::nullopt);
  b.add_run(run_a());
  const Trie t = b.build("w", kT0);
  CHECK_FALSE(t.root.predictions_by_call_index.at(1).latency_sensitivity.has_value());
  CHECK_FALSE(t.root.predictions_any_index->latency_sensitivity.has_value());
}

TEST_CASE("incomplete calls, record order and tool calls") {
  // An LLM call that never ended teaches nothing but is still "the next call" for the one before.
  RunRecord r;
  r.started_at_ms = 0;
  r.calls = {llm({"a"}, 0, 100, 1), llm({"a"}, 130, 0, 0), tool({"a"}, 100, 900)};
  r.calls[1].ended_at_ms.reset();
  const auto ctx = extract_call_contexts(r, SensitivityConfig{});
  REQUIRE(ctx.size() == 1);
  CHECK(ctx[0].interarrival_ms == 30.0);
  CHECK(ctx[0].remaining_calls == 0);
  CHECK(ctx[0].workflow_duration_ms == 900.0);  // the tool call ends the run

  // Shuffling the records does not change the trie.
  RunRecord shuffled = run_a();
  std::reverse(shuffled.calls.begin(), shuffled.calls.end());
  Builder x;
  Builder y;
  x.add_run(run_a());
  y.add_run(shuffled);
  CHECK(x.build("w", kT0) == y.build("w", kT0));
}

TEST_CASE("an explicit call index of 0 is numbered like a missing one") {
  RunRecord r;
  r.calls = {llm({"a"}, 0, 10, 1, 0), llm({"a"}, 20, 30, 1, 0)};
  const auto ctx = extract_call_contexts(r, std::nullopt);
  REQUIRE(ctx.size() == 2);
  CHECK(ctx[0].call_index == 1);
  CHECK(ctx[1].call_index == 2);
}

TEST_CASE("a path deeper than the trie limit is refused") {
  RunRecord r;
  r.calls = {llm(std::vector<std::string>(kMaxTrieDepth + 1, "f"), 0, 1, 1)};
  Builder b;
  CHECK_THROWS_AS(b.add_run(r), TrieError);
  CHECK(b.state().run_count() == 0);
}

// Found by fuzz_run_record: the run-record reader accepts times up to 2^63 ms and token counts up
// to 2^53, and the trie built from them was refused by parse_trie (|value| > 1e15), so a replica
// could publish a trie no replica, and no restart, could load.
TEST_CASE("absurd times and token counts still build a trie augur can read back") {
  RunRecord r;
  r.run_id = "absurd";
  r.started_at_ms = 0;
  const std::int64_t far = std::numeric_limits<std::int64_t>::max();
  r.calls = {llm({"agent"}, 0, 1, std::uint64_t{1} << 53, 1), llm({"agent"}, far, far, 5, 2)};
  Builder b;
  b.add_run(r);
  const Trie built = b.build("w", kT0);
  const Trie back = parse_trie(serialize_trie(built));
  CHECK(back == built);
  const Prediction& first = built.root.children.find("agent")->predictions_by_call_index.at(1);
  CHECK(first.output_tokens.mean == kMaxMetricValue);
  CHECK(first.interarrival_ms.mean == kMaxMetricValue);
  CHECK(first.remaining_calls.mean == 1);  // ordinary values are untouched
}

// Found by fuzz_builder_state: a state holding an m2 near 1e308 loaded, but merged with another it
// overflowed to infinity, which to_string wrote as null; counts near 2^64 would wrap. The reader
// now refuses what the builder cannot produce, and the builder clamps samples so its own states
// always load.
TEST_CASE("states out of the builder's range are refused; its own always load and merge") {
  Builder b;
  b.add_run(run_a());
  const std::string good = b.state().to_string();
  const auto error_of = [&](std::string_view from, std::string_view to) -> std::string {
    std::string text = good;
    const std::size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    try {
      (void)BuilderState::from_string(text);
      return "";
    } catch (const TrieError& e) {
      return e.what();
    }
  };
  const std::string first_metric = R"("remaining_calls":{"count":3,"mean":1.0,"m2":2.0)";
  REQUIRE(good.find(first_metric) != std::string::npos);
  CHECK(error_of(first_metric, R"("remaining_calls":{"count":3,"mean":1.0,"m2":1.01e308)")
            .find("m2: larger than samples in range can give") != std::string::npos);
  CHECK(error_of(first_metric, R"("remaining_calls":{"count":9007199254740993,"mean":1.0,"m2":2.0)")
            .find("count: sample count is too large") != std::string::npos);
  CHECK(error_of(first_metric, R"("remaining_calls":{"count":3,"mean":1e300,"m2":2.0)")
            .find("mean: value is out of range") != std::string::npos);

  RunRecord absurd;
  absurd.run_id = "absurd";
  const std::int64_t far = std::numeric_limits<std::int64_t>::max();
  absurd.calls = {llm({"agent"}, 0, 1, std::uint64_t{1} << 53, 1), llm({"agent"}, far, far, 5, 2)};
  b.add_run(absurd);
  const BuilderState back = BuilderState::from_string(b.state().to_string());
  CHECK(back.to_string() == b.state().to_string());
  Builder merged = Builder::from_state(back);
  merged.merge(back);
  const Trie built = merged.build("w", kT0);
  CHECK(parse_trie(serialize_trie(built)) == built);
}

TEST_CASE("generated_at looks like Python's isoformat") {
  CHECK(format_generated_at(kT0) == "2026-03-31T12:00:00+00:00");
  CHECK(format_generated_at(kT0 + std::chrono::microseconds(542571)) ==
        "2026-03-31T12:00:00.542571+00:00");
  CHECK(format_generated_at(kT0 + std::chrono::milliseconds(5)) ==
        "2026-03-31T12:00:00.005000+00:00");
}

namespace {

// Seeded random runs over a few paths up to depth 3; calls mostly sequential, sometimes parallel.
std::vector<RunRecord> random_runs(std::size_t count, std::uint64_t seed) {
  const std::vector<std::vector<std::string>> paths = {
      {"wf"}, {"wf", "agent"}, {"wf", "agent", "search"}, {"wf", "planner"}, {"other"}, {}};
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> tokens(5, 1);
  std::exponential_distribution<double> gap(1.0 / 200);
  std::vector<RunRecord> runs;
  for (std::size_t i = 0; i < count; ++i) {
    RunRecord r;
    r.run_id = "run-" + std::to_string(i);
    r.started_at_ms = 1'700'000'000'000 + static_cast<std::int64_t>(i) * 100'000;
    std::int64_t t = r.started_at_ms;
    const int calls = 1 + static_cast<int>(rng() % 12);
    for (int k = 0; k < calls; ++k) {
      const auto& path = paths[rng() % paths.size()];
      const std::int64_t start = t + static_cast<std::int64_t>(gap(rng));
      const std::int64_t end = start + 50 + static_cast<std::int64_t>(rng() % 2000);
      r.calls.push_back(llm(path, start, end, static_cast<std::uint64_t>(tokens(rng))));
      if (rng() % 4 == 0) r.calls.push_back(tool(path, end, end + 30));
      t = (rng() % 5 == 0) ? start + 10 : end;  // sometimes the next call overlaps this one
    }
    r.ended_at_ms = t + 3000;
    runs.push_back(std::move(r));
  }
  return runs;
}

void check_same_trie(const Node& a, const Node& b) {
  CAPTURE(a.name);
  REQUIRE(a.predictions_by_call_index.size() == b.predictions_by_call_index.size());
  const auto same = [](const Prediction& x, const Prediction& y) {
    for (const auto& [mx, my] : {std::pair{x.remaining_calls, y.remaining_calls},
                                 std::pair{x.interarrival_ms, y.interarrival_ms},
                                 std::pair{x.output_tokens, y.output_tokens}}) {
      CHECK(mx.sample_count == my.sample_count);
      CHECK(mx.mean == doctest::Approx(my.mean).epsilon(1e-9));
      // The sketch merges exactly, so the percentiles are identical, not just close.
      CHECK(mx.p50 == my.p50);
      CHECK(mx.p90 == my.p90);
      CHECK(mx.p95 == my.p95);
    }
    CHECK(x.latency_sensitivity == y.latency_sensitivity);
  };
  for (const auto& [index, p] : a.predictions_by_call_index) {
    REQUIRE(b.predictions_by_call_index.contains(index));
    same(p, b.predictions_by_call_index.at(index));
  }
  REQUIRE(a.predictions_any_index.has_value() == b.predictions_any_index.has_value());
  if (a.predictions_any_index) same(*a.predictions_any_index, *b.predictions_any_index);
  REQUIRE(a.children.size() == b.children.size());
  for (const Node& child : a.children.nodes()) {
    const Node* other = b.children.find(child.name);
    REQUIRE(other != nullptr);
    check_same_trie(child, *other);
  }
}

}  // namespace

TEST_CASE("state round trip through its string form") {
  Builder b;
  for (const RunRecord& r : random_runs(300, 1)) b.add_run(r);
  const std::string text = b.state().to_string();
  const BuilderState back = BuilderState::from_string(text);
  CHECK(back.to_string() == text);  // bit-exact: doubles are written shortest-round-trip
  CHECK(back.run_count() == 300);
  CHECK(back.node_count() == b.state().node_count());
  CHECK(Builder::from_state(back).build("w", kT0) == b.build("w", kT0));
}

TEST_CASE("merging replica states equals building from all runs at once") {
  const std::vector<RunRecord> runs = random_runs(600, 2);
  Builder all;
  Builder first;
  Builder second;
  Builder third;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    all.add_run(runs[i]);
    (i < 100 ? first : i < 450 ? second : third).add_run(runs[i]);
  }
  // As replicas would: each state goes through its string form (Redis) before the merge.
  Builder merged = Builder::from_state(BuilderState::from_string(third.state().to_string()));
  merged.merge(BuilderState::from_string(first.state().to_string()));
  merged.merge(BuilderState::from_string(second.state().to_string()));
  CHECK(merged.state().run_count() == 600);
  CHECK(merged.state().call_count() == all.state().call_count());
  const Trie expected = all.build("w", kT0);
  const Trie got = merged.build("w", kT0);
  CHECK(count_nodes(got) == count_nodes(expected));
  check_same_trie(got.root, expected.root);
}

TEST_CASE("state strings that are not states are refused") {
  const auto error_of = [](std::string_view text) -> std::string {
    try {
      (void)BuilderState::from_string(text);
      return "";
    } catch (const TrieError& e) {
      return e.what();
    }
  };
  CHECK(error_of("{").starts_with("builder state: (document): invalid JSON"));
  CHECK(error_of(R"({"format":"x"})") == "builder state: format: not an augur trie state");
  Builder b;
  b.add_run(run_a());
  std::string text = b.state().to_string();
  const std::string good = text;
  text.replace(text.find("\"relative_accuracy\":0.01"), 24, "\"relative_accuracy\":0.02");
  CHECK(error_of(text) ==
        "builder state: relative_accuracy: state was written with a different sketch accuracy");
  text = good;
  text.replace(text.find("\"by_call_index\":{\"1\""), 20, "\"by_call_index\":{\"0\"");
  CHECK(error_of(text).find("call index must be a positive integer") != std::string::npos);
  text = good;
  text.replace(text.find("\"samples\":[2"), 12, "\"samples\":[7");
  CHECK(error_of(text).find("sample outside [min, max]") != std::string::npos);
}

TEST_CASE("sensitivity levels round ties half to even, as NAT's builder (Python round) does") {
  const auto level = [](double mean, int scale) {
    Moments m;
    m.add(mean);
    return sensitivity_level(m, scale);
  };
  // mean * (scale - 1) exactly between two levels: Python's round(0.5) is 0, round(1.5) is 2,
  // round(2.5) is 2, round(3.5) is 4.
  CHECK(level(0.125, 5) == 1);
  CHECK(level(0.375, 5) == 3);
  CHECK(level(0.625, 5) == 3);
  CHECK(level(0.875, 5) == 5);
  // Away from ties, the nearest level.
  CHECK(level(0.1, 5) == 1);
  CHECK(level(0.2, 5) == 2);
  CHECK(level(1.0, 5) == 5);
}

}  // namespace augur::trie
