// Trie micro-benchmarks: lookup latency on the request path (goal < 200 ns at depth 3) and builder
// ingest throughput on the learning thread (goal > 200k LLM calls/s; with the default bounds and
// decay within 20% of without), plus the rebuild-cycle costs (build, NAT JSON out/in, accumulator
// state out/in).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "learning/trie/builder.hpp"
#include "learning/trie/lookup.hpp"
#include "learning/trie/nat_json.hpp"

namespace augur::trie {
namespace {

const std::vector<std::string> kLevel1 = {"react_workflow", "planner",  "research_agent",
                                          "coder",          "reviewer", "summarizer",
                                          "router",         "memory"};
const std::vector<std::string> kLevel2 = {"react_agent", "web_search", "retriever",   "calculator",
                                          "sql_tool",    "browser",    "python_exec", "critic"};
const std::vector<std::string> kLevel3 = {"llm_call", "rerank", "extract", "classify",
                                          "format",   "plan",   "reflect", "answer"};

Prediction sample_prediction(double seed) {
  Prediction p;
  p.remaining_calls = {100, 3 + seed, 3, 6, 7};
  p.interarrival_ms = {100, 250, 200, 500, 700};
  p.output_tokens = {100, 300, 250, 600, 800};
  p.latency_sensitivity = 3;
  return p;
}

// 8 x 8 x 8 functions, each node with call indices 1..8 and an any-index aggregate.
Trie synthetic_trie() {
  Trie trie;
  const auto fill = [](Node& n) {
    for (std::uint32_t i = 1; i <= 8; ++i) n.predictions_by_call_index[i] = sample_prediction(i);
    n.predictions_any_index = sample_prediction(0);
  };
  fill(trie.root);
  for (const auto& a : kLevel1) {
    Node& na = trie.root.children.get_or_add(a);
    fill(na);
    for (const auto& b : kLevel2) {
      Node& nb = na.children.get_or_add(b);
      fill(nb);
      for (const auto& c : kLevel3) fill(nb.children.get_or_add(c));
    }
  }
  return trie;
}

void BM_LookupDepth3Exact(benchmark::State& state) {
  const TrieSnapshot trie = std::make_shared<const Trie>(synthetic_trie());
  const std::string_view path[] = {"research_agent", "web_search", "classify"};
  std::uint32_t index = 1;
  for (auto _ : state) {
    auto r = lookup(*trie, path, index);
    benchmark::DoNotOptimize(r);
    index = index % 8 + 1;
  }
}
BENCHMARK(BM_LookupDepth3Exact);

void BM_LookupDepth3AnyIndex(benchmark::State& state) {
  const Trie trie = synthetic_trie();
  const std::string_view path[] = {"summarizer", "critic", "answer"};
  for (auto _ : state) {
    auto r = lookup(trie, path, 42);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_LookupDepth3AnyIndex);

void BM_LookupMissAtFirstName(benchmark::State& state) {
  const Trie trie = synthetic_trie();
  const std::string_view path[] = {"unknown_function", "web_search", "classify"};
  for (auto _ : state) {
    auto r = lookup(trie, path, 3);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_LookupMissAtFirstName);

void BM_LookupNatFixture(benchmark::State& state) {
  const Trie trie =
      load_trie_file(std::string(AUGUR_TRIE_TEST_DATA) + "/nat_generated_prediction_trie.json");
  const std::string_view path[] = {"react_workflow", "react_agent", "web_search"};
  for (auto _ : state) {
    auto r = lookup(trie, path, 2);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_LookupNatFixture);

// Seeded runs of 2..16 LLM calls on paths of depth 1..3, with tool calls and some overlap; run i
// starts `spacing_ms` after run i-1 (0: all at once).
std::vector<RunRecord> make_runs(std::size_t count, std::int64_t spacing_ms = 0) {
  std::mt19937_64 rng(2024);
  std::lognormal_distribution<double> tokens(5, 1);
  std::exponential_distribution<double> gap(1.0 / 150);
  std::vector<RunRecord> runs;
  runs.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    RunRecord r;
    r.run_id = "run-" + std::to_string(i);
    r.started_at_ms = 1'700'000'000'000 + static_cast<std::int64_t>(i) * spacing_ms;
    std::int64_t t = r.started_at_ms;
    const std::size_t calls = 2 + rng() % 15;
    const std::string& a = kLevel1[rng() % 3];
    std::vector<std::uint32_t> per_path(3, 0);
    for (std::size_t k = 0; k < calls; ++k) {
      CallRecord c;
      const std::size_t depth = 1 + rng() % 3;
      c.path = {a};
      if (depth > 1) c.path.push_back(kLevel2[rng() % 3]);
      if (depth > 2) c.path.push_back(kLevel3[rng() % 2]);
      c.call_index = ++per_path[depth - 1];
      c.started_at_ms = t + static_cast<std::int64_t>(gap(rng));
      c.ended_at_ms = c.started_at_ms + 100 + static_cast<std::int64_t>(rng() % 3000);
      c.output_tokens = static_cast<std::uint64_t>(tokens(rng));
      c.status = 200;
      t = *c.ended_at_ms;
      r.calls.push_back(c);
      if (rng() % 3 == 0) {
        CallRecord tool = c;
        tool.kind = "tool";
        tool.started_at_ms = t;
        tool.ended_at_ms = t + 40;
        t += 40;
        r.calls.push_back(tool);
      }
    }
    r.ended_at_ms = t + 10;
    runs.push_back(std::move(r));
  }
  return runs;
}

std::size_t llm_calls(const std::vector<RunRecord>& runs) {
  std::size_t n = 0;
  for (const auto& r : runs) {
    for (const auto& c : r.calls) n += c.is_llm() ? 1 : 0;
  }
  return n;
}

// Steady state: the builder has already seen many runs (sketches past the exact limit), as on a
// long-running proxy.
void BM_BuilderIngestSteady(benchmark::State& state) {
  const std::vector<RunRecord> runs = make_runs(4096);
  Builder builder;
  for (const auto& r : runs) builder.add_run(r);
  std::size_t next = 0;
  std::size_t calls = 0;
  for (auto _ : state) {
    const RunRecord& r = runs[next];
    builder.add_run(r);
    calls += static_cast<std::size_t>(std::count_if(
        r.calls.begin(), r.calls.end(), [](const CallRecord& c) { return c.is_llm(); }));
    next = (next + 1) % runs.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(calls));
  state.counters["calls_per_run"] =
      static_cast<double>(llm_calls(runs)) / static_cast<double>(runs.size());
}
BENCHMARK(BM_BuilderIngestSteady);

// The same with augur serve's defaults (trie::default_limits(): 10 min half-life, 1000 paths, 32
// call indices, admission after 3 calls, 16 new paths per run), runs a second apart, so every run
// has its own weight.
void BM_BuilderIngestSteadyBounded(benchmark::State& state) {
  const std::vector<RunRecord> runs = make_runs(4096, 1000);
  Builder builder(SensitivityConfig{}, default_limits());
  for (const auto& r : runs) builder.add_run(r);
  std::size_t next = 0;
  std::size_t calls = 0;
  for (auto _ : state) {
    const RunRecord& r = runs[next];
    builder.add_run(r);
    calls += static_cast<std::size_t>(std::count_if(
        r.calls.begin(), r.calls.end(), [](const CallRecord& c) { return c.is_llm(); }));
    next = (next + 1) % runs.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(calls));
  state.counters["paths"] = static_cast<double>(builder.state().path_count());
}
BENCHMARK(BM_BuilderIngestSteadyBounded);

// A flood of one-call runs on paths never seen before (request ids in function names), with the
// default bounds: every call is a candidate, the candidate table turns over, nothing is admitted.
void BM_BuilderIngestDistinctPaths(benchmark::State& state) {
  Builder builder(SensitivityConfig{}, default_limits());
  RunRecord r;
  r.run_id = "flood";
  r.calls.resize(1);
  CallRecord& c = r.calls[0];
  c.call_index = 1;
  c.output_tokens = 20;
  c.status = 200;
  std::int64_t t = 1'700'000'000'000;
  std::uint64_t id = 0;
  for (auto _ : state) {
    c.path = {"buggy_agent", "req-" + std::to_string(id++)};
    r.started_at_ms = c.started_at_ms = t;
    r.ended_at_ms = c.ended_at_ms = t + 50;
    t += 1;
    builder.add_run(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["paths"] = static_cast<double>(builder.state().path_count());
  state.counters["candidates"] = static_cast<double>(builder.candidate_count());
}
BENCHMARK(BM_BuilderIngestDistinctPaths);

// The same paths each seen three times in a row: admitted, then evicted again at the path bound.
void BM_BuilderIngestChurningPaths(benchmark::State& state) {
  Builder builder(SensitivityConfig{}, default_limits());
  RunRecord r;
  r.run_id = "churn";
  r.calls.resize(1);
  CallRecord& c = r.calls[0];
  c.call_index = 1;
  c.output_tokens = 20;
  c.status = 200;
  std::int64_t t = 1'700'000'000'000;
  std::uint64_t n = 0;
  for (auto _ : state) {
    c.path = {"buggy_agent", "req-" + std::to_string(n++ / 3)};
    r.started_at_ms = c.started_at_ms = t;
    r.ended_at_ms = c.ended_at_ms = t + 50;
    t += 1;
    builder.add_run(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["paths"] = static_cast<double>(builder.state().path_count());
  state.counters["evicted"] = static_cast<double>(
      builder.state().evictions()[static_cast<std::size_t>(Eviction::capacity)]);
}
BENCHMARK(BM_BuilderIngestChurningPaths);

// From empty: 4096 runs into a fresh builder per iteration (exact-sample phase included).
void BM_BuilderIngestFromEmpty(benchmark::State& state) {
  const std::vector<RunRecord> runs = make_runs(4096);
  const std::size_t calls = llm_calls(runs);
  for (auto _ : state) {
    Builder builder;
    for (const auto& r : runs) builder.add_run(r);
    benchmark::DoNotOptimize(builder.state().call_count());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(calls * state.iterations()));
}
BENCHMARK(BM_BuilderIngestFromEmpty)->Unit(benchmark::kMillisecond);

Builder warmed_builder() {
  Builder builder;
  for (const auto& r : make_runs(20000)) builder.add_run(r);
  return builder;
}

void BM_BuildTrie(benchmark::State& state) {
  const Builder builder = warmed_builder();
  for (auto _ : state) {
    Trie t = builder.build("bench");
    benchmark::DoNotOptimize(t);
  }
  state.counters["nodes"] = static_cast<double>(builder.state().node_count());
}
BENCHMARK(BM_BuildTrie)->Unit(benchmark::kMicrosecond);

void BM_SerializeTrie(benchmark::State& state) {
  const Trie trie = warmed_builder().build("bench");
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string s = serialize_trie(trie);
    bytes += s.size();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_SerializeTrie)->Unit(benchmark::kMicrosecond);

void BM_ParseTrie(benchmark::State& state) {
  const std::string text = serialize_trie(warmed_builder().build("bench"));
  for (auto _ : state) {
    Trie t = parse_trie(text);
    benchmark::DoNotOptimize(t);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(text.size() * state.iterations()));
}
BENCHMARK(BM_ParseTrie)->Unit(benchmark::kMicrosecond);

void BM_StateRoundTrip(benchmark::State& state) {
  const Builder builder = warmed_builder();
  std::size_t size = 0;
  for (auto _ : state) {
    const std::string s = builder.state().to_string();
    BuilderState back = BuilderState::from_string(s);
    benchmark::DoNotOptimize(back);
    size = s.size();
  }
  state.counters["state_bytes"] = static_cast<double>(size);
}
BENCHMARK(BM_StateRoundTrip)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace augur::trie

BENCHMARK_MAIN();
