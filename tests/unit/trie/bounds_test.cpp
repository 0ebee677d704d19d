// Bounded, decaying learning: admission of new paths, eviction to max_paths (the parent keeps
// every sample), the per-index and per-run bounds, the candidate table, forward decay (weights,
// rescaling, merges across replicas) and the state format (v2 round trip, v1 still loads).
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "learning/trie/builder.hpp"
#include "learning/trie/lookup.hpp"
#include "learning/trie/nat_json.hpp"

namespace augur::trie {
namespace {

constexpr std::int64_t kT0 = 1'700'000'000'000;
const auto kNow = std::chrono::system_clock::time_point{} + std::chrono::seconds(1'774'958'400);

CallRecord llm(std::vector<std::string> path, std::int64_t start, std::int64_t end,
               std::uint64_t tokens, std::uint32_t index) {
  CallRecord c;
  c.path = std::move(path);
  c.call_index = index;
  c.started_at_ms = start;
  c.ended_at_ms = end;
  c.output_tokens = tokens;
  c.status = 200;
  return c;
}

// A run of `calls` calls on `path` (indices 1..calls, `tokens` each) ending at `end`.
RunRecord run_on(const std::vector<std::string>& path, std::int64_t end, std::uint64_t tokens = 100,
                 std::uint32_t calls = 1) {
  RunRecord r;
  r.run_id = "r" + std::to_string(end);
  r.started_at_ms = end - 100 * calls;
  for (std::uint32_t i = 0; i < calls; ++i) {
    const std::int64_t start = r.started_at_ms + 100 * i;
    r.calls.push_back(llm(path, start, start + 90, tokens, i + 1));
  }
  r.ended_at_ms = end;
  return r;
}

std::uint64_t samples_at(const BuilderState& s, std::vector<std::string_view> path) {
  const NodeAccumulators* n = s.find(path);
  return n ? n->any_index.remaining_calls.moments().count() : 0;
}

std::uint64_t evicted(const BuilderState& s, Eviction r) {
  return s.evictions()[static_cast<std::size_t>(r)];
}

BuilderLimits admission(std::uint32_t min_samples) {
  BuilderLimits l;
  l.min_path_samples = min_samples;
  return l;
}

}  // namespace

TEST_CASE("a new path becomes a node on its min_path_samples-th call, with every call it made") {
  Builder b(SensitivityConfig{}, admission(3));
  b.add_run(run_on({"agent", "tool"}, kT0));
  b.add_run(run_on({"agent", "tool"}, kT0 + 1000));
  // Not a node yet: its calls fed only the root.
  CHECK(b.state().path_count() == 0);
  CHECK(samples_at(b.state(), {}) == 2);
  CHECK(b.candidate_count() == 1);
  b.add_run(run_on({"agent", "tool"}, kT0 + 2000));
  // Admitted with both levels; the two earlier calls were kept and replayed into them.
  CHECK(b.state().path_count() == 2);
  CHECK(samples_at(b.state(), {"agent"}) == 3);
  CHECK(samples_at(b.state(), {"agent", "tool"}) == 3);
  CHECK(b.candidate_count() == 0);
}

TEST_CASE("a prefix called on its own keeps those calls when a longer path admits it") {
  Builder b(SensitivityConfig{}, admission(3));
  b.add_run(run_on({"planner"}, kT0));  // one call of its own, not yet admitted
  for (int i = 1; i <= 3; ++i) b.add_run(run_on({"planner", "tool"}, kT0 + 1000 * i));
  CHECK(samples_at(b.state(), {"planner"}) == 4);
  CHECK(samples_at(b.state(), {"planner", "tool"}) == 3);
  CHECK(b.candidate_count() == 0);
}

TEST_CASE("call indices past max_call_indices feed only the any-index accumulators") {
  BuilderLimits l;
  l.max_call_indices = 2;
  Builder b(SensitivityConfig{}, l);
  b.add_run(run_on({"agent"}, kT0, 100, 5));
  const NodeAccumulators* n = b.state().find(std::vector<std::string_view>{"agent"});
  REQUIRE(n != nullptr);
  CHECK(n->by_call_index.size() == 2);
  CHECK(n->any_index.remaining_calls.moments().count() == 5);
  CHECK(evicted(b.state(), Eviction::call_index) == 3);
  // Lookup of a later index answers from any-index.
  const Trie t = b.build("w", kNow);
  const std::string_view path[] = {"agent"};
  CHECK(lookup(t, path, 4)->source == Source::any_index);
  CHECK(lookup(t, path, 2)->source == Source::exact);
}

TEST_CASE("past max_paths the least-weighted path goes and its parent loses nothing") {
  BuilderLimits l;
  l.max_paths = 8;
  l.min_path_samples = 2;
  Builder b(SensitivityConfig{}, l);
  // The real agent: many calls.
  for (int i = 0; i < 50; ++i) b.add_run(run_on({"real", "agent"}, kT0 + i * 1000, 100, 3));
  // Request ids in function names: each path twice (admitted), far more paths than the bound.
  std::int64_t t = kT0 + 100'000;
  std::uint64_t calls = 150;
  for (int id = 0; id < 200; ++id) {
    for (int k = 0; k < 2; ++k) {
      b.add_run(run_on({"real", "req-" + std::to_string(id)}, t += 1000));
      ++calls;
    }
  }
  CHECK(b.state().path_count() <= 8);
  CHECK(evicted(b.state(), Eviction::capacity) > 150);
  // The real agent kept its node and every sample; the parent "real" holds all its children's.
  CHECK(samples_at(b.state(), {"real", "agent"}) == 150);
  CHECK(samples_at(b.state(), {"real"}) == calls);
  CHECK(samples_at(b.state(), {}) == calls);
  const Trie trie = b.build("w", kNow);
  CHECK(count_nodes(trie) <= 9);
  const std::string_view agent[] = {"real", "agent"};
  const auto found = lookup(trie, agent, 2);
  REQUIRE(found);
  CHECK(found->source == Source::exact);
  CHECK(found->prediction->output_tokens.p90 == 100);
}

TEST_CASE("a new path does not evict paths that carry more weight than it brings") {
  BuilderLimits l;
  l.max_paths = 2;
  Builder b(SensitivityConfig{}, l);  // cumulative: weight = number of samples
  for (int i = 0; i < 5; ++i) {
    b.add_run(run_on({"a"}, kT0 + i));
    b.add_run(run_on({"b"}, kT0 + i));
  }
  b.add_run(run_on({"c"}, kT0 + 10));
  CHECK(b.state().find(std::vector<std::string_view>{"c"}) == nullptr);
  CHECK(b.state().path_count() == 2);
  CHECK(evicted(b.state(), Eviction::capacity) == 1);  // the refused newcomer
}

TEST_CASE("an idle path keeps its place for hours, whatever the prediction half-life") {
  BuilderLimits l;
  l.max_paths = 1;
  l.half_life = std::chrono::seconds(60);  // predictions forget fast...
  Builder b(SensitivityConfig{}, l);
  for (int i = 0; i < 4; ++i) b.add_run(run_on({"old"}, kT0 + i * 1000));
  // ...but ten minutes later the old path's 4 samples still outweigh a newcomer's one.
  b.add_run(run_on({"new"}, kT0 + 600'000));
  CHECK(b.state().find(std::vector<std::string_view>{"new"}) == nullptr);
  CHECK(b.state().find(std::vector<std::string_view>{"old"}) != nullptr);
  // Three hours idle (eviction evidence halves per hour): 4 / 8 < 1, the newcomer takes it.
  b.add_run(run_on({"new"}, kT0 + 3 * 3'600'000 + 10'000));
  CHECK(b.state().find(std::vector<std::string_view>{"new"}) != nullptr);
  CHECK(b.state().find(std::vector<std::string_view>{"old"}) == nullptr);
}

TEST_CASE("one run adds at most max_new_paths_per_run nodes; the rest wait for the next") {
  BuilderLimits l;
  l.max_new_paths_per_run = 3;
  Builder b(SensitivityConfig{}, l);
  RunRecord r;
  r.run_id = "wide";
  r.started_at_ms = kT0;
  for (std::uint32_t i = 0; i < 10; ++i) {
    r.calls.push_back(llm({"tool-" + std::to_string(i)}, kT0 + i * 10, kT0 + i * 10 + 5, 1, 1));
  }
  r.ended_at_ms = kT0 + 200;
  b.add_run(r);
  CHECK(b.state().path_count() == 3);
  CHECK(evicted(b.state(), Eviction::run_path_limit) == 7);
  b.add_run(r);
  CHECK(b.state().path_count() == 6);
}

TEST_CASE("the candidate table is bounded; forgotten candidates are counted") {
  BuilderLimits l;
  l.min_path_samples = 3;
  l.max_candidates = 16;
  Builder b(SensitivityConfig{}, l);
  for (int i = 0; i < 1000; ++i) b.add_run(run_on({"junk-" + std::to_string(i)}, kT0 + i));
  CHECK(b.candidate_count() == 16);
  CHECK(evicted(b.state(), Eviction::candidate) == 1000 - 16);
  CHECK(b.state().path_count() == 0);
  CHECK(samples_at(b.state(), {}) == 1000);
}

TEST_CASE("evict and the byte bounds remove the weakest paths first") {
  Builder b;
  for (int i = 0; i < 40; ++i) {
    for (int k = 0; k <= i % 5; ++k) b.add_run(run_on({"p" + std::to_string(i)}, kT0 + i * 10 + k));
  }
  for (int i = 0; i < 20; ++i) b.add_run(run_on({"strong"}, kT0 + 1000 + i));
  const std::size_t full = b.state().to_string().size();
  const std::string fitted = b.state_within(full / 2);
  CHECK(fitted.size() <= full / 2);
  CHECK(fitted == b.state().to_string());
  CHECK(evicted(b.state(), Eviction::state_bytes) > 0);
  CHECK(b.state().find(std::vector<std::string_view>{"strong"}) != nullptr);

  const std::size_t trie_full = serialize_trie(b.build("w", kNow)).size();
  const auto built = b.build_within(trie_full / 2, "w", kNow);
  CHECK(built.json.size() <= trie_full / 2);
  CHECK(built.json == serialize_trie(built.trie));
  CHECK(evicted(b.state(), Eviction::trie_bytes) > 0);
  CHECK(b.state().find(std::vector<std::string_view>{"strong"}) != nullptr);
}

TEST_CASE("decayed accumulators follow a change that cumulative ones only blend in") {
  BuilderLimits decayed;
  decayed.half_life = std::chrono::minutes(1);
  Builder d(SensitivityConfig{}, decayed);
  Builder c;
  std::int64_t t = kT0;
  // An hour at 100 tokens per call (one run a minute), then ten minutes at 400.
  for (int i = 0; i < 60; ++i, t += 60'000) {
    d.add_run(run_on({"agent"}, t, 100));
    c.add_run(run_on({"agent"}, t, 100));
  }
  for (int i = 0; i < 10; ++i, t += 60'000) {
    d.add_run(run_on({"agent"}, t, 400));
    c.add_run(run_on({"agent"}, t, 400));
  }
  const std::string_view path[] = {"agent"};
  const auto dp = lookup(d.build("w", kNow), path, 1)->prediction->output_tokens;
  const auto cp = lookup(c.build("w", kNow), path, 1)->prediction->output_tokens;
  CHECK(dp.sample_count == 70);  // counts are not decayed
  CHECK(dp.p50 == 400);
  CHECK(dp.mean > 399);  // 1 - 2^-10 of the weight is new
  CHECK(cp.p50 == 100);
  CHECK(cp.mean == doctest::Approx((60 * 100 + 10 * 400) / 70.0));
}

TEST_CASE("decay rescales the state instead of letting weights grow without end") {
  BuilderLimits l;
  l.half_life = std::chrono::seconds(1);
  Builder b(SensitivityConfig{}, l);
  b.add_run(run_on({"agent"}, kT0, 100));
  b.add_run(run_on({"agent"}, kT0 + 10'000, 300));  // weight 2^10
  const auto before = b.build("w", kNow);
  // 100 half-lives later: the state is rescaled once, the landmark moves, nothing overflows.
  b.add_run(run_on({"other"}, kT0 + 110'000, 5));
  CHECK(b.state().landmark_ms() == kT0 + 110'000);
  const std::string_view path[] = {"agent"};
  const auto p = lookup(b.build("w", kNow), path, 1)->prediction->output_tokens;
  const auto q = lookup(before, path, 1)->prediction->output_tokens;
  CHECK(p.mean == doctest::Approx(q.mean).epsilon(1e-12));
  CHECK(p.p90 == q.p90);
  const BuilderState back = BuilderState::from_string(b.state().to_string());
  CHECK(back.to_string() == b.state().to_string());
}

namespace {

std::vector<RunRecord> drifting_runs(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> noise(0, 0.3);
  const std::vector<std::vector<std::string>> paths = {{"wf"}, {"wf", "agent"}, {"wf", "tool"}};
  std::vector<RunRecord> runs;
  for (std::size_t i = 0; i < n; ++i) {
    RunRecord r;
    r.run_id = "run-" + std::to_string(i);
    r.started_at_ms = kT0 + static_cast<std::int64_t>(i) * 7'000;
    std::int64_t t = r.started_at_ms;
    for (std::uint32_t k = 0; k < 1 + rng() % 6; ++k) {
      const auto& path = paths[rng() % paths.size()];
      const double median = i < n / 2 ? 100 : 300;
      const auto tokens = static_cast<std::uint64_t>(median * noise(rng));
      r.calls.push_back(
          llm(path, t, t + 50 + static_cast<std::int64_t>(rng() % 500), tokens, k + 1));
      t = *r.calls.back().ended_at_ms + 20;
    }
    r.ended_at_ms = t;
    runs.push_back(std::move(r));
  }
  return runs;
}

void check_close(const Node& a, const Node& b) {
  CAPTURE(a.name);
  REQUIRE(a.predictions_by_call_index.size() == b.predictions_by_call_index.size());
  const auto same = [](const Prediction& x, const Prediction& y) {
    for (const auto& [mx, my] : {std::pair{x.remaining_calls, y.remaining_calls},
                                 std::pair{x.output_tokens, y.output_tokens}}) {
      CHECK(mx.sample_count == my.sample_count);
      CHECK(mx.mean == doctest::Approx(my.mean).epsilon(1e-9));
      CHECK(mx.p90 == doctest::Approx(my.p90).epsilon(1e-9));
    }
  };
  for (const auto& [index, p] : a.predictions_by_call_index) {
    same(p, b.predictions_by_call_index.at(index));
  }
  same(*a.predictions_any_index, *b.predictions_any_index);
  REQUIRE(a.children.size() == b.children.size());
  for (const Node& child : a.children.nodes()) check_close(child, *b.children.find(child.name));
}

}  // namespace

TEST_CASE("decayed replica states merge to what one builder fed every run holds") {
  BuilderLimits l;
  l.half_life = std::chrono::minutes(2);
  const auto runs = drifting_runs(400, 5);
  Builder all(SensitivityConfig{}, l);
  Builder a(SensitivityConfig{}, l);
  Builder b(SensitivityConfig{}, l);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    all.add_run(runs[i]);
    (i % 3 == 0 ? a : b).add_run(runs[i]);
  }
  // Through the string form, as replicas exchange them; merged in either order.
  Builder ab =
      Builder::from_state(BuilderState::from_string(a.state().to_string()), SensitivityConfig{}, l);
  ab.merge(BuilderState::from_string(b.state().to_string()));
  Builder ba =
      Builder::from_state(BuilderState::from_string(b.state().to_string()), SensitivityConfig{}, l);
  ba.merge(BuilderState::from_string(a.state().to_string()));
  const Trie expected = all.build("w", kNow);
  check_close(ab.build("w", kNow).root, expected.root);
  check_close(ba.build("w", kNow).root, expected.root);
  // The round trip is exact, weights included.
  const std::string text = all.state().to_string();
  CHECK(text.find("\"weights\":[") != std::string::npos);
  CHECK(BuilderState::from_string(text).to_string() == text);
}

TEST_CASE("a version 1 state (before decay) loads untimed and joins a decayed one") {
  const std::string v1 =
      R"({"format":"augur.trie.state","version":1,"relative_accuracy":0.01,"exact_limit":128,)"
      R"("runs":2,"calls":2,"nodes":[{"path":[],"any":{"remaining_calls":{"count":2,"mean":0.0,)"
      R"("m2":0.0,"min":0.0,"max":0.0,"samples":[0.0,0.0]},"interarrival_ms":{"count":0},)"
      R"("output_tokens":{"count":2,"mean":150.0,"m2":5000.0,"min":100.0,"max":200.0,)"
      R"("samples":[100.0,200.0]},"sensitivity":{"count":0}},"by_call_index":{}},)"
      R"({"path":["agent"],"any":{"remaining_calls":{"count":2,"mean":0.0,"m2":0.0,"min":0.0,)"
      R"("max":0.0,"samples":[0.0,0.0]},"interarrival_ms":{"count":0},"output_tokens":{"count":2,)"
      R"("mean":150.0,"m2":5000.0,"min":100.0,"max":200.0,"samples":[100.0,200.0]},)"
      R"("sensitivity":{"count":0}},"by_call_index":{}}]})";
  const BuilderState old = BuilderState::from_string(v1);
  CHECK(old.node_count() == 2);
  CHECK(!old.landmark_ms().has_value());
  BuilderLimits l;
  l.half_life = std::chrono::minutes(10);
  Builder b(SensitivityConfig{}, l);
  b.add_run(run_on({"agent"}, kT0, 600));
  b.merge(old);
  // The old samples count as seen at the landmark: equal weight to the new one.
  const NodeAccumulators* n = b.state().find(std::vector<std::string_view>{"agent"});
  REQUIRE(n != nullptr);
  CHECK(n->any_index.output_tokens.moments().count() == 3);
  CHECK(n->any_index.output_tokens.moments().mean() == doctest::Approx(300.0));
  // It writes back as version 2.
  CHECK(b.state().to_string().find("\"version\":2") != std::string::npos);
}

TEST_CASE("states whose weights no builder writes are refused") {
  BuilderLimits l;
  l.half_life = std::chrono::minutes(1);
  Builder b(SensitivityConfig{}, l);
  b.add_run(run_on({"agent"}, kT0));
  b.add_run(run_on({"agent"}, kT0 + 30'000, 200));
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
  CHECK(error_of("\"weights\":[1,", "\"weights\":[-1,").find("must not be negative") !=
        std::string::npos);
  CHECK(error_of("\"weights\":[1,", "\"weights\":[1e300,").find("weights do not add up") !=
        std::string::npos);
  CHECK(error_of("\"half_life_ms\":60000", "\"half_life_ms\":\"x\"").find("half_life_ms") !=
        std::string::npos);
}

}  // namespace augur::trie

namespace augur::trie {

TEST_CASE("with admission, replicas that admitted paths on their own merge to one builder's trie") {
  // test_redis's agent: planner, 2-4 planner/tool calls, planner again; runs alternate between
  // two replicas, so each admits the paths at a different point of its own history.
  std::mt19937_64 rng(7);
  std::vector<RunRecord> runs;
  for (int r = 0; r < 30; ++r) {
    RunRecord run;
    run.run_id = "run" + std::to_string(r);
    run.started_at_ms = kT0 + r * 10'000;
    std::int64_t t = run.started_at_ms;
    const auto add = [&](std::vector<std::string> path, std::uint32_t index) {
      run.calls.push_back(llm(std::move(path), t, t + 40, 10 + rng() % 90, index));
      t += 50;
    };
    add({"planner"}, 1);
    const int tools = 2 + static_cast<int>(rng() % 3);
    for (int k = 1; k <= tools; ++k) add({"planner", "tool"}, static_cast<std::uint32_t>(k));
    add({"planner"}, 2);
    run.ended_at_ms = t;
    runs.push_back(std::move(run));
  }
  const BuilderLimits l = default_limits();
  Builder one(SensitivityConfig{}, l);
  Builder a(SensitivityConfig{}, l);
  Builder b(SensitivityConfig{}, l);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    one.add_run(runs[i]);
    (i % 2 == 0 ? a : b).add_run(runs[i]);
  }
  Builder merged =
      Builder::from_state(BuilderState::from_string(a.state().to_string()), SensitivityConfig{}, l);
  merged.merge(BuilderState::from_string(b.state().to_string()));
  for (const std::vector<std::string_view>& path :
       {std::vector<std::string_view>{}, {"planner"}, {"planner", "tool"}}) {
    CAPTURE(path.size());
    CHECK(samples_at(merged.state(), path) == samples_at(one.state(), path));
  }
  // Every call on an admitted path reached its node: nothing was lost to admission.
  CHECK(samples_at(one.state(), {"planner"}) == samples_at(one.state(), {}));
  check_close(merged.build("w", kNow).root, one.build("w", kNow).root);
}

}  // namespace augur::trie
