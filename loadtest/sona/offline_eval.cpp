// The offline evaluation's workload and its three predictors (see offline_eval.hpp).
#include "loadtest/sona/offline_eval.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace augur::sona::eval {

namespace {

// One function of an agent and what its LLM calls look like.
struct Function {
  std::vector<std::string> path;
  std::vector<std::vector<std::string>> renames;  // novel: similar names never seen before
  double tokens_first, tokens_mid, tokens_last;   // medians by position within the function
  double gap_ms;                                  // median think/tool time before the next call
  std::string model;
  bool tools;
};

struct Step {
  std::size_t function;
  int calls;  // LLM calls this function makes in a row
};

struct Call {
  std::vector<std::string> path;
  std::uint32_t index = 0;  // 1-based within (run, path)
  std::size_t function = 0;
  int position_in_function = 0, calls_in_function = 0;
  bool novel = false;
  // Truth, filled at emission.
  double tokens = 0;
  double remaining = 0;
  Embedding embedding;
  HintValues injected;
  bool scored = false;
};

struct Run {
  std::vector<Call> calls;
  std::size_t next = 0;
};

const std::vector<Function>& functions() {
  static const std::vector<Function> f = {
      {{"react_workflow", "react_agent"},
       {{"react_workflow", "react_agent_v2"}, {"react_workflow", "react_agent_tool"}},
       250,
       120,
       700,
       900,
       "llama-70b",
       true},
      {{"research_workflow", "web_search"},
       {{"research_workflow", "web_search_tool"}, {"research_workflow", "websearch_api"}},
       60,
       80,
       90,
       1200,
       "llama-70b",
       true},
      {{"research_workflow", "summarize"},
       {{"research_workflow", "summarize_docs"}, {"research_workflow", "summarize_text"}},
       900,
       900,
       900,
       150,
       "llama-70b",
       false},
      {{"research_workflow", "critic"},
       {{"research_workflow", "critic_agent"}},
       300,
       300,
       300,
       100,
       "small-8b",
       false},
      {{"coder_workflow", "planner"},
       {{"coder_workflow", "task_planner"}},
       500,
       500,
       500,
       200,
       "llama-70b",
       false},
      {{"coder_workflow", "python_exec"},
       {{"coder_workflow", "python_exec_sandbox"}, {"coder_workflow", "exec_python"}},
       200,
       180,
       260,
       2000,
       "llama-70b",
       true},
      {{"coder_workflow", "reviewer"},
       {{"coder_workflow", "code_reviewer"}},
       350,
       350,
       350,
       100,
       "llama-70b",
       false},
  };
  return f;
}

// Drift multiplies the output tokens of react_agent and summarize.
constexpr std::size_t kDriftA = 0, kDriftB = 2;

class Workload {
 public:
  Workload(const Options& o) : o_(o), rng_(o.seed) {}

  Run new_run(std::size_t call_counter) {
    std::vector<Step> steps;
    const int shape = std::uniform_int_distribution<int>(0, 2)(rng_);
    if (shape == 0) {
      steps = {{0, std::uniform_int_distribution<int>(3, 8)(rng_)}};
    } else if (shape == 1) {
      steps = {{1, std::uniform_int_distribution<int>(1, 3)(rng_)}, {2, 1}, {3, 1}};
    } else {
      steps = {{4, 1}, {5, std::uniform_int_distribution<int>(1, 4)(rng_)}, {6, 1}};
    }
    // Novel: after the warm-up, half the runs rename every function to a similar new name.
    const bool rename = o_.scenario == Scenario::novel && call_counter > o_.calls * 3 / 10 &&
                        std::bernoulli_distribution(0.5)(rng_);
    // New tools keep appearing: every half rebuild period the renamed functions get a new
    // suffix, so some names are always ones the trie has not been rebuilt with yet.
    static constexpr const char* kSuffixes[] = {"tool", "v2", "api",  "agent", "runner", "task",
                                                "docs", "fn", "step", "svc",   "call",   "util"};
    const std::size_t period = std::max<std::size_t>(
        1, static_cast<std::size_t>(o_.rebuild_seconds * o_.calls_per_second / 2));
    const char* suffix = kSuffixes[(call_counter / period) % std::size(kSuffixes)];
    Run run;
    std::map<std::string, std::uint32_t> per_path;
    for (const Step& s : steps) {
      const Function& fn = functions()[s.function];
      std::vector<std::string> path = fn.path;
      if (rename) {
        path =
            fn.renames[std::uniform_int_distribution<std::size_t>(0, fn.renames.size() - 1)(rng_)];
        path.back() += std::string("_") + suffix;
      }
      std::string key;
      for (const auto& p : path) key += p + "/";
      for (int i = 0; i < s.calls; ++i) {
        Call c;
        c.path = path;
        c.index = ++per_path[key];
        c.function = s.function;
        c.position_in_function = i;
        c.calls_in_function = s.calls;
        c.novel = rename;
        run.calls.push_back(std::move(c));
      }
    }
    const std::size_t n = run.calls.size();
    for (std::size_t i = 0; i < n; ++i) run.calls[i].remaining = static_cast<double>(n - 1 - i);
    return run;
  }

  double tokens(const Call& c, bool drifted) {
    const Function& fn = functions()[c.function];
    double median = c.position_in_function == 0                         ? fn.tokens_first
                    : c.position_in_function == c.calls_in_function - 1 ? fn.tokens_last
                                                                        : fn.tokens_mid;
    if (drifted && (c.function == kDriftA || c.function == kDriftB)) median *= o_.drift_factor;
    return std::round(median * std::exp(0.35 * normal_(rng_)));
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  const Options& o_;
  std::mt19937_64 rng_;
  std::normal_distribution<double> normal_{0.0, 1.0};
};

// NAT-style trie stand-in: cumulative means at every path prefix (exact call index and any
// index), looked up deepest-first, visible only as of the last rebuild.
class TrieStandIn {
 public:
  struct Acc {
    double n = 0, tokens = 0, remaining = 0;
  };

  void observe(const Call& c) {
    std::string key;
    add(key + "#*", c);
    add(key + "#" + std::to_string(c.index), c);
    for (const auto& p : c.path) {
      key += "/" + p;
      add(key + "#*", c);
      add(key + "#" + std::to_string(c.index), c);
    }
  }
  void rebuild() { snapshot_ = live_; }

  // Deepest prefix with a prediction: exact index first, then any index. nullopt: static.
  // `full` tells whether the whole path was known (NAT's exact/any_index vs ancestor/root).
  std::optional<HintValues> lookup(const Call& c, bool* full = nullptr) const {
    std::vector<std::string> keys{""};
    for (const auto& p : c.path) keys.push_back(keys.back() + "/" + p);
    // Walk while the node exists (NAT: stop at the first missing child).
    std::size_t depth = 0;
    while (depth + 1 < keys.size() && snapshot_.count(keys[depth + 1] + "#*") != 0) ++depth;
    for (std::size_t d = depth + 1; d-- > 0;) {
      for (const std::string& k :
           {keys[d] + "#" + std::to_string(c.index), keys[d] + std::string("#*")}) {
        auto it = snapshot_.find(k);
        if (it == snapshot_.end() || it->second.n == 0) continue;
        if (full != nullptr) *full = d + 1 == keys.size();
        HintValues v;
        v.output_tokens = it->second.tokens / it->second.n;
        v.remaining_calls = it->second.remaining / it->second.n;
        return v;
      }
    }
    return std::nullopt;
  }

 private:
  void add(const std::string& key, const Call& c) {
    Acc& a = live_[key];
    a.n += 1;
    a.tokens += c.tokens;
    a.remaining += c.remaining;
  }
  std::map<std::string, Acc> live_, snapshot_;
};

CallFeatures features(const Call& c, std::size_t position_in_run) {
  const Function& fn = functions()[c.function];
  CallFeatures f;
  f.path = c.path;
  f.call_index = c.index;
  f.model = fn.model;
  f.message_count = static_cast<std::uint32_t>(2 + 2 * position_in_run);
  f.request_bytes = 400 + 350 * position_in_run;
  f.max_tokens = 4096;
  f.tools = fn.tools;
  f.stream = false;
  return f;
}

void score(HintError& e, const HintValues& pred, const Call& c) {
  e.output_tokens += log_error(pred.output_tokens, c.tokens);
  e.remaining_calls += log_error(pred.remaining_calls, c.remaining);
  ++e.calls;
}

void finish(HintError& e) {
  if (e.calls == 0) return;
  e.output_tokens /= static_cast<double>(e.calls);
  e.remaining_calls /= static_cast<double>(e.calls);
}

}  // namespace

const char* to_string(Scenario s) {
  switch (s) {
    case Scenario::steady:
      return "steady";
    case Scenario::drift:
      return "drift";
    case Scenario::novel:
      return "novel";
  }
  return "?";
}

Result run(const Options& o) {
  Result r;
  Workload w(o);
  TrieStandIn trie;
  const auto t0 = Engine::Clock::time_point{};
  Engine engine(o.sona, t0);
  const std::size_t rebuild_every =
      std::max<std::size_t>(1, static_cast<std::size_t>(o.rebuild_seconds * o.calls_per_second));
  const std::size_t drift_at = o.calls / 2;
  HintValues static_defaults;
  static_defaults.remaining_calls = 10;
  static_defaults.output_tokens = 512;
  static_defaults.interarrival_ms = 250;
  static_defaults.latency_sensitivity = 2;

  std::vector<Run> active;
  for (std::size_t i = 0; i < o.concurrency; ++i) active.push_back(w.new_run(0));

  for (std::size_t counter = 1; counter <= o.calls; ++counter) {
    const auto now = t0 + std::chrono::microseconds(static_cast<std::int64_t>(
                              1e6 * static_cast<double>(counter) / o.calls_per_second));
    if (counter % rebuild_every == 0) trie.rebuild();

    const std::size_t ri =
        std::uniform_int_distribution<std::size_t>(0, active.size() - 1)(w.rng());
    Run& run = active[ri];
    const std::size_t pos = run.next++;
    Call& c = run.calls[pos];
    c.tokens = w.tokens(c, counter > drift_at && o.scenario == Scenario::drift);

    // Predict, as the proxy would before forwarding.
    bool trie_knows_path = false;
    const HintValues trie_pred = trie.lookup(c, &trie_knows_path).value_or(static_defaults);
    engine.embed(features(c, pos), c.embedding);
    HintValues sona_pred = trie_pred;
    bool answered = false;
    // Where the trie answers from an ancestor, the root or static, a less confident pattern
    // still beats it (the issue's "use the pattern when the trie's answer is weak").
    const double threshold = trie_knows_path ? o.sona.min_confidence : o.sona.min_confidence / 4;
    if (auto s = engine.suggest(c.embedding, threshold)) {
      if (s->known[static_cast<std::size_t>(Hint::output_tokens)])
        sona_pred.output_tokens = s->values.output_tokens;
      if (s->known[static_cast<std::size_t>(Hint::remaining_calls)])
        sona_pred.remaining_calls = s->values.remaining_calls;
      answered = true;
    }
    c.injected = sona_pred;

    const bool drifting_path = c.function == kDriftA || c.function == kDriftB;
    const bool scored = o.scenario == Scenario::steady  ? counter > rebuild_every
                        : o.scenario == Scenario::drift ? counter > drift_at && drifting_path
                                                        : c.novel && !trie_knows_path;
    if (scored) {
      score(r.static_defaults, static_defaults, c);
      score(r.trie, trie_pred, c);
      score(r.sona, sona_pred, c);
      if (answered) ++r.sona_answered;
    }

    if (run.next < run.calls.size()) continue;
    // The run is complete: everyone learns from it (the trie builder also works on whole runs).
    for (std::size_t i = 0; i < run.calls.size(); ++i) {
      const Call& done = run.calls[i];
      trie.observe(done);
      Observed obs;
      obs.output_tokens = done.tokens;
      obs.remaining_calls = done.remaining;
      engine.learn(done.embedding, done.injected, obs);
    }
    if (engine.background_due(now)) engine.background_cycle(now);
    run = w.new_run(counter);
  }
  finish(r.static_defaults);
  finish(r.trie);
  finish(r.sona);
  r.stats = engine.stats();
  return r;
}

}  // namespace augur::sona::eval
