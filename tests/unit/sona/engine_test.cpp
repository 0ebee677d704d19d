// The engine end to end: learning moves its outputs in the right direction, background cycles
// build patterns, stats count, and the request path can run while the learner works.
#include "learning/sona/engine.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

using namespace augur::sona;

namespace {

SonaConfig small_config() {
  SonaConfig c = *preset("default");
  c.embedding_dim = 64;
  c.pattern_clusters = 8;
  c.trajectory_capacity = 1000;
  c.min_trajectories = 10;
  return c;
}

Embedding context(Engine& e, const std::vector<std::string>& path, std::uint32_t index) {
  CallFeatures f;
  f.path = path;
  f.call_index = index;
  f.model = "m";
  return e.embed(f);
}

Observed tokens(double n, double remaining = 2) {
  Observed o;
  o.output_tokens = n;
  o.remaining_calls = remaining;
  return o;
}

}  // namespace

TEST_CASE("a single one-step trajectory moves the MicroLoRA output the right way") {
  Engine engine(small_config());
  const Embedding x = context(engine, {"agent", "search"}, 1);
  for (int i = 0; i < 20; ++i) engine.learn(x, HintValues{}, tokens(100));
  engine.background_cycle();  // a pattern for x: what MicroLoRA corrects
  // A renamed function: near x's pattern, not x itself, so MicroLoRA (not the pattern) learns it.
  const Embedding renamed = context(engine, {"agent", "search_tool"}, 1);
  const auto updates = engine.stats().instant_updates;
  const HintVector before = engine.adapter_output(renamed);
  HintValues injected;
  injected.output_tokens = 100;
  engine.learn(renamed, injected, tokens(400));  // the hint was 4x too low
  const HintVector after = engine.adapter_output(renamed);
  CHECK(after[1] > before[1] + 0.01f);  // output_tokens correction went up
  CHECK(engine.stats().instant_updates == updates + 1);
}

TEST_CASE("repeated feedback on a fixed context drives the suggestion to what happens") {
  Engine engine(small_config());
  const Embedding x = context(engine, {"agent", "search"}, 1);
  const Embedding other = context(engine, {"agent", "summarize"}, 1);
  HintValues injected;
  injected.output_tokens = 512;
  for (int i = 0; i < 60; ++i) {
    engine.learn(x, injected, tokens(100));
    engine.learn(other, injected, tokens(900));
  }
  engine.background_cycle();
  REQUIRE(engine.stats().patterns_stored >= 2);
  auto s = engine.suggest(x);
  REQUIRE(s);
  CHECK(s->values.output_tokens == doctest::Approx(100).epsilon(0.1));
  CHECK(s->known[1]);
  CHECK(engine.suggest(other)->values.output_tokens == doctest::Approx(900).epsilon(0.1));

  // The upstream changes: the same context now yields 400 tokens. Every call's error shrinks.
  double previous = 1e9;
  for (int i = 0; i < 30; ++i) {
    const double predicted = engine.suggest(x)->values.output_tokens;
    const double error = std::fabs(std::log((predicted + 1) / 401));
    CHECK(error <= previous + 1e-9);
    previous = error;
    engine.learn(x, HintValues{.output_tokens = predicted}, tokens(400));
  }
  CHECK(previous < 0.1);
  // The other context was not dragged along.
  CHECK(engine.suggest(other)->values.output_tokens == doctest::Approx(900).epsilon(0.15));
}

TEST_CASE("nothing is suggested before patterns exist or for an unrelated context") {
  Engine engine(small_config());
  const Embedding x = context(engine, {"agent", "search"}, 1);
  CHECK_FALSE(engine.suggest(x));
  for (int i = 0; i < 40; ++i) engine.learn(x, HintValues{}, tokens(100));
  engine.background_cycle();
  CHECK(engine.suggest(x));
  CHECK_FALSE(engine.suggest(context(engine, {"billing", "invoice_pdf"}, 9)));
  const Stats s = engine.stats();
  CHECK(s.queries_processed == 3);
  CHECK(s.pattern_hits == 1);
}

TEST_CASE("background cycles: due rules, kept trajectories, no duplicate patterns, failures") {
  SonaConfig c = small_config();
  c.min_trajectories = 20;
  const auto t0 = Engine::Clock::time_point{};
  Engine engine(c, t0);
  const Embedding x = context(engine, {"a"}, 1);
  for (int i = 0; i < 5; ++i) engine.learn(x, HintValues{}, tokens(50));
  CHECK_FALSE(engine.background_due(t0 + std::chrono::hours(2)));  // too few
  engine.background_cycle(t0);
  CHECK(engine.stats().background_cycles == 0);  // kept for later, not discarded
  for (int i = 0; i < 20; ++i) engine.learn(x, HintValues{}, tokens(50));
  CHECK(engine.background_due(t0 + std::chrono::hours(2)));
  engine.background_cycle(t0);
  CHECK(engine.stats().background_cycles == 1);
  const auto patterns = engine.stats().patterns_stored;
  // The same context again: its cluster merges into the existing pattern, it is not appended.
  for (int i = 0; i < 30; ++i) engine.learn(x, HintValues{}, tokens(50));
  engine.background_cycle(t0);
  CHECK(engine.stats().patterns_stored == patterns);

  Observed failed = tokens(5);
  failed.failed = true;
  const auto updates = engine.stats().instant_updates;
  engine.learn(x, HintValues{}, failed);
  CHECK(engine.stats().instant_updates == updates);  // a failed call teaches nothing
}

TEST_CASE("a full trajectory buffer counts drops; stats_json has the seed's counters") {
  SonaConfig c = small_config();
  c.trajectory_capacity = 16;
  Engine engine(c);
  const Embedding x = context(engine, {"a"}, 1);
  for (int i = 0; i < 20; ++i) engine.learn(x, HintValues{}, tokens(50));
  const Stats s = engine.stats();
  CHECK(s.trajectories_seen == 20);
  CHECK(s.trajectories_dropped == 4);
  const std::string json = engine.stats_json();
  for (const char* key : {"queries_processed", "pattern_hit_rate", "background_cycles",
                          "patterns_stored", "trajectories_dropped", "ewc_tasks"})
    CHECK(json.find(std::string("\"") + key + "\"") != std::string::npos);
}

TEST_CASE("request threads suggest while the learning thread learns and cycles") {
  Engine engine(small_config());
  std::vector<Embedding> xs;
  for (std::uint32_t i = 1; i <= 8; ++i) xs.push_back(context(engine, {"agent", "tool"}, i));
  for (int r = 0; r < 20; ++r)
    for (const auto& x : xs) engine.learn(x, HintValues{}, tokens(100));
  engine.background_cycle();
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> answered{0};
  std::thread reader([&] {
    // At least one pass: the learning below may finish before this thread is first scheduled.
    do {
      for (const auto& x : xs)
        if (auto s = engine.suggest(x); s && std::isfinite(s->values.output_tokens)) ++answered;
    } while (!stop.load());
  });
  for (int r = 0; r < 200; ++r) {
    for (const auto& x : xs) engine.learn(x, HintValues{}, tokens(100 + r));
    if (r % 50 == 49) engine.background_cycle();
  }
  stop = true;
  reader.join();
  CHECK(answered.load() > 0);
  CHECK(engine.stats().background_cycles == 5);
}

TEST_CASE("the trajectory buffer is safe for concurrent producers") {
  TrajectoryBuffer buffer(1000);
  std::vector<std::thread> producers;
  producers.reserve(4);
  for (int t = 0; t < 4; ++t)
    producers.emplace_back([&] {
      for (int i = 0; i < 500; ++i) buffer.try_push(Trajectory{});
    });
  for (auto& p : producers) p.join();
  CHECK(buffer.seen() == 2000);
  CHECK(buffer.dropped() == 1000);
  std::vector<Trajectory> out;
  CHECK(buffer.drain(out) == 1000);
  CHECK_FALSE(buffer.try_pop());
}

TEST_CASE("suggest_call answers like embed+suggest and reuses that answer only while it may") {
  using namespace std::chrono_literals;
  SonaConfig config = small_config();
  config.suggest_reuse = 50ms;
  Engine engine(config);
  const std::vector<std::string> path{"agent", "search"};
  CallFeatures f;
  f.path = path;
  f.call_index = 1;
  f.model = "m";
  const Embedding x = engine.embed(f);
  const auto t0 = Engine::Clock::time_point{} + 1h;
  const double bar = config.min_confidence;

  CHECK_FALSE(engine.suggest_call(f, bar, t0));  // no patterns yet
  for (int i = 0; i < 40; ++i) engine.learn(x, HintValues{}, tokens(100));
  // Learning alone does not reach this thread's answer inside the window...
  CHECK_FALSE(engine.suggest_call(f, bar, t0 + 10ms));
  // ...a published cycle does, at once.
  engine.background_cycle();
  auto s = engine.suggest_call(f, bar, t0 + 20ms);
  REQUIRE(s);
  const auto direct = engine.suggest(x, bar);
  REQUIRE(direct);
  CHECK(s->values.output_tokens == direct->values.output_tokens);
  CHECK(s->confidence == direct->confidence);

  // The instant loop moves the answer; reuse hides that until the window ends.
  for (int i = 0; i < 20; ++i) engine.learn(x, HintValues{.output_tokens = 100}, tokens(800));
  const double moved = engine.suggest(x, bar)->values.output_tokens;
  REQUIRE(moved > s->values.output_tokens * 1.2);
  CHECK(engine.suggest_call(f, bar, t0 + 60ms)->values.output_tokens == s->values.output_tokens);
  CHECK(engine.suggest_call(f, bar, t0 + 71ms)->values.output_tokens == moved);

  // Another context, threshold or engine never gets this entry's answer.
  f.call_index = 2;
  CHECK(engine.suggest_call(f, bar, t0 + 72ms)->values.output_tokens ==
        engine.suggest(engine.embed(f), bar)->values.output_tokens);
  f.call_index = 1;
  CHECK_FALSE(engine.suggest_call(f, 1.1, t0 + 72ms));  // nothing is that confident
  Engine fresh(config);
  CHECK_FALSE(fresh.suggest_call(f, bar, t0 + 72ms));

  // Counted like suggest(): every call is a query, every answer a hit.
  const Stats before = engine.stats();
  CHECK(engine.suggest_call(f, bar, t0 + 73ms));
  CHECK(engine.stats().queries_processed == before.queries_processed + 1);
  CHECK(engine.stats().pattern_hits == before.pattern_hits + 1);

  // suggest_reuse 0: always afresh.
  config.suggest_reuse = 0ms;
  Engine eager(config);
  for (int i = 0; i < 40; ++i) eager.learn(x, HintValues{}, tokens(100));
  eager.background_cycle();
  const double first = eager.suggest_call(f, bar, t0)->values.output_tokens;
  for (int i = 0; i < 20; ++i) eager.learn(x, HintValues{.output_tokens = 100}, tokens(800));
  CHECK(eager.suggest_call(f, bar, t0)->values.output_tokens != first);
}
