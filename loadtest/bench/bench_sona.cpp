// SONA micro-benchmarks: the request path (embed + suggest, goal well under 5 µs), the instant
// loop per trajectory (goal < 20 µs), MicroLoRA forward, find_similar over 1,000 patterns, and a
// background cycle over 10,000 trajectories with 100 clusters (goal < 100 ms).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "learning/sona/engine.hpp"
#include "learning/sona/vec.hpp"

namespace augur::sona {
namespace {

const std::vector<std::string> kNames = {"react_agent", "web_search",  "summarize", "critic",
                                         "planner",     "python_exec", "reviewer",  "retriever",
                                         "rerank",      "classify"};

// `n` call contexts over 10 workflows x 10 functions x call indices 1..8, with observed values.
struct Workload {
  std::vector<Embedding> x;
  std::vector<Observed> y;
};

Workload workload(const Engine& e, std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Workload w;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::string> path = {"wf" + std::to_string(rng() % 10), kNames[rng() % 10]};
    CallFeatures f;
    f.path = path;
    f.call_index = static_cast<std::uint32_t>(1 + rng() % 8);
    f.model = "llama-70b";
    f.message_count = static_cast<std::uint32_t>(2 + rng() % 12);
    f.request_bytes = 400 + rng() % 4000;
    w.x.push_back(e.embed(f));
    Observed o;
    o.output_tokens = 50.0 + static_cast<double>(rng() % 800);
    o.remaining_calls = static_cast<double>(rng() % 8);
    o.interarrival_ms = 100.0 + static_cast<double>(rng() % 2000);
    w.y.push_back(o);
  }
  return w;
}

SonaConfig config() { return *preset("default"); }

void BM_EmbedAndSuggest(benchmark::State& state) {
  Engine e(config());
  const Workload w = workload(e, 5000, 1);
  for (std::size_t i = 0; i < w.x.size(); ++i) e.learn(w.x[i], HintValues{}, w.y[i]);
  e.background_cycle();
  const std::vector<std::string> path = {"wf3", "web_search_tool"};
  CallFeatures f;
  f.path = path;
  f.call_index = 3;
  f.model = "llama-70b";
  Embedding x;
  for (auto _ : state) {
    e.embed(f, x);
    benchmark::DoNotOptimize(e.suggest(x, 0.0));
  }
  state.counters["patterns"] = static_cast<double>(e.stats().patterns_stored);
}
BENCHMARK(BM_EmbedAndSuggest);

void BM_InstantLoop(benchmark::State& state) {
  SonaConfig c = config();
  c.trajectory_capacity = 1 << 20;
  Engine e(c);
  const Workload w = workload(e, 4096, 2);
  for (std::size_t i = 0; i < w.x.size(); ++i) e.learn(w.x[i], HintValues{}, w.y[i]);
  e.background_cycle();
  std::size_t i = 0;
  for (auto _ : state) {
    e.learn(w.x[i % w.x.size()], HintValues{.output_tokens = 300}, w.y[i % w.y.size()]);
    ++i;
  }
  state.counters["patterns"] = static_cast<double>(e.stats().patterns_stored);
}
BENCHMARK(BM_InstantLoop);

void BM_MicroLoraForward(benchmark::State& state) {
  const std::size_t dim = static_cast<std::size_t>(state.range(0));
  LowRankAdapter a(dim, kHints, 2, 3);
  std::vector<float> x(dim, 1.0f / std::sqrt(static_cast<float>(dim)));
  for (auto _ : state) {
    HintVector y{};
    a.forward(x, y);
    benchmark::DoNotOptimize(y);
  }
}
BENCHMARK(BM_MicroLoraForward)->Arg(64)->Arg(256);

void BM_FindSimilar1000(benchmark::State& state) {
  ReasoningBank bank(256, 1000);
  std::mt19937_64 rng(4);
  std::normal_distribution<float> g;
  for (int i = 0; i < 1000; ++i) {
    Pattern p;
    p.centroid.resize(256);
    for (float& v : p.centroid) v = g(rng);
    p.size = 10;
    bank.store(std::move(p));
  }
  std::vector<float> q(256);
  for (float& v : q) v = g(rng);
  normalize(q);
  for (auto _ : state) benchmark::DoNotOptimize(bank.find_similar(q, 5));
}
BENCHMARK(BM_FindSimilar1000);

void BM_BackgroundCycle10k(benchmark::State& state) {
  SonaConfig c = config();  // 100 clusters, 256-d
  c.trajectory_capacity = 20000;
  Engine probe(c);
  const Workload w = workload(probe, 10000, 5);
  for (auto _ : state) {
    state.PauseTiming();
    auto e = std::make_unique<Engine>(c);
    for (std::size_t i = 0; i < w.x.size(); ++i) e->learn(w.x[i], HintValues{}, w.y[i]);
    state.ResumeTiming();
    e->background_cycle();
    state.PauseTiming();
    state.counters["patterns"] = static_cast<double>(e->stats().patterns_stored);
    e.reset();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_BackgroundCycle10k)->Unit(benchmark::kMillisecond)->Iterations(5);

}  // namespace
}  // namespace augur::sona

BENCHMARK_MAIN();
