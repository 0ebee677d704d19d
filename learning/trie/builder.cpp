#include "learning/trie/builder.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <unordered_map>

namespace augur::trie {

// ---- per-run extraction ----------------------------------------------------------------------

namespace {

struct Interval {
  std::int64_t start;
  std::int64_t end;
};

// The signals of the seed's compute_raw_sensitivity_scores.
double raw_sensitivity(const CallContext& c, std::uint32_t steps, std::size_t group_size,
                       const SensitivityConfig& cfg) {
  const double critical =
      c.workflow_duration_ms > 0 ? std::min(c.duration_ms / c.workflow_duration_ms, 1.0) : 1.0;
  const std::uint32_t max_remaining = steps - 1;
  const double fanout = max_remaining > 0
                            ? static_cast<double>(max_remaining - c.logical_position) /
                                  static_cast<double>(max_remaining)
                            : 0.0;
  double position = 1.0;
  if (steps > 1) {
    const double x = static_cast<double>(c.logical_position) / static_cast<double>(steps - 1);
    position = std::max(1.0 - x, x);
  }
  // The seed never measures parallel slack (always 0); only the group share remains.
  constexpr double kSlack = 0.0;
  const double penalty =
      group_size > 1
          ? (kSlack + static_cast<double>(group_size - 1) / static_cast<double>(group_size)) / 2.0
          : kSlack;
  return cfg.w_critical * critical + cfg.w_fanout * fanout + cfg.w_position * position -
         cfg.w_parallel * penalty;
}

void score_run(std::vector<CallContext>& contexts, std::span<const Interval> spans,
               const SensitivityConfig& cfg) {
  const std::size_t n = contexts.size();
  // Logical positions: interval merging in start order; a call starting before the current group's
  // latest end runs in parallel with it and shares its position.
  std::vector<std::uint32_t> by_start(n);
  for (std::uint32_t i = 0; i < n; ++i) by_start[i] = i;
  std::stable_sort(by_start.begin(), by_start.end(), [&](std::uint32_t a, std::uint32_t b) {
    return spans[a].start < spans[b].start;
  });
  std::uint32_t group = 0;
  std::int64_t group_end = spans[by_start[0]].end;
  std::vector<std::size_t> group_sizes(1, 0);
  for (std::size_t k = 0; k < n; ++k) {
    const std::uint32_t i = by_start[k];
    if (k > 0) {
      if (spans[i].start < group_end) {
        group_end = std::max(group_end, spans[i].end);
      } else {
        ++group;
        group_sizes.push_back(0);
        group_end = spans[i].end;
      }
    }
    contexts[i].logical_position = group;
    ++group_sizes[group];
  }
  const std::uint32_t steps = group + 1;

  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  for (CallContext& c : contexts) {
    c.raw_score = raw_sensitivity(c, steps, group_sizes[c.logical_position], cfg);
    lo = std::min(lo, c.raw_score);
    hi = std::max(hi, c.raw_score);
  }
  const double range = hi - lo;
  for (CallContext& c : contexts) {
    c.sensitivity_score = range > 0 ? (c.raw_score - lo) / range : 0.5;
  }
}

// Unambiguous key for a path (length-prefixed names), for numbering calls per path.
std::string path_key(const std::vector<std::string>& path) {
  std::string key;
  for (const std::string& name : path) {
    key += std::to_string(name.size());
    key += ':';
    key += name;
  }
  return key;
}

}  // namespace

std::vector<CallContext> extract_call_contexts(
    const RunRecord& run, const std::optional<SensitivityConfig>& sensitivity) {
  const std::vector<CallRecord>& calls = run.calls;

  // All LLM calls by start (record order breaks ties): candidates for "the next call", and the
  // order in which the proxy numbers calls.
  std::vector<std::uint32_t> llm_by_start;
  std::vector<std::uint32_t> completed;
  std::int64_t last_end = run.started_at_ms;
  bool any_end = false;
  for (std::uint32_t i = 0; i < calls.size(); ++i) {
    const CallRecord& c = calls[i];
    if (c.ended_at_ms) {
      last_end = any_end ? std::max(last_end, *c.ended_at_ms) : *c.ended_at_ms;
      any_end = true;
    }
    if (!c.is_llm()) continue;
    llm_by_start.push_back(i);
    if (c.ended_at_ms) completed.push_back(i);
  }
  if (completed.empty()) return {};
  std::stable_sort(llm_by_start.begin(), llm_by_start.end(), [&](std::uint32_t a, std::uint32_t b) {
    return calls[a].started_at_ms < calls[b].started_at_ms;
  });

  // Call indices the records lack, numbered per path in start order.
  std::vector<std::uint32_t> derived_index(calls.size(), 0);
  bool any_missing = false;
  // An explicit index of 0 (possible only through the API; the reader rejects it) counts as
  // missing: NAT files cannot carry a "0" key.
  const auto has_index = [&](std::uint32_t i) { return calls[i].call_index.value_or(0) > 0; };
  for (const std::uint32_t i : completed) any_missing = any_missing || !has_index(i);
  if (any_missing) {
    std::unordered_map<std::string, std::uint32_t> per_path;
    for (const std::uint32_t i : llm_by_start)
      derived_index[i] = ++per_path[path_key(calls[i].path)];
  }

  // Completed calls in end order: remaining_calls counts those after each one.
  std::stable_sort(completed.begin(), completed.end(), [&](std::uint32_t a, std::uint32_t b) {
    const CallRecord& x = calls[a];
    const CallRecord& y = calls[b];
    if (*x.ended_at_ms != *y.ended_at_ms) return *x.ended_at_ms < *y.ended_at_ms;
    return x.started_at_ms < y.started_at_ms;
  });

  // Run duration as the seed defines it: the run's own end, else the last call's end.
  const std::int64_t run_end = run.ended_at_ms.value_or(any_end ? last_end : run.started_at_ms);
  const double workflow_ms = static_cast<double>(run_end - run.started_at_ms);

  std::vector<CallContext> contexts(completed.size());
  std::vector<Interval> spans(completed.size());
  for (std::size_t pos = 0; pos < completed.size(); ++pos) {
    const std::uint32_t i = completed[pos];
    const CallRecord& call = calls[i];
    const std::int64_t end = *call.ended_at_ms;
    CallContext& ctx = contexts[pos];
    ctx.call = &call;
    ctx.call_index = has_index(i) ? *call.call_index : derived_index[i];
    ctx.remaining_calls = static_cast<std::uint32_t>(completed.size() - pos - 1);
    // The first LLM call that starts once this one has ended (NAT: first LLM_START after this
    // LLM_END). The seed takes the next LLM record instead, which goes negative when calls
    // overlap; NAT's definition is what an inter-arrival time means and does not depend on the
    // order records were appended in. ">=" rather than ">" because times are whole milliseconds.
    auto it = std::lower_bound(
        llm_by_start.begin(), llm_by_start.end(), end,
        [&](std::uint32_t k, std::int64_t t) { return calls[k].started_at_ms < t; });
    while (it != llm_by_start.end() && *it == i) ++it;  // a zero-length call is not its own next
    if (it != llm_by_start.end()) {
      ctx.interarrival_ms = static_cast<double>(calls[*it].started_at_ms - end);
    }
    ctx.output_tokens = call.output_tokens.value_or(0);
    ctx.duration_ms = static_cast<double>(end - call.started_at_ms);
    ctx.workflow_duration_ms = workflow_ms;
    spans[pos] = {call.started_at_ms, end};
  }
  if (sensitivity) score_run(contexts, spans, *sensitivity);
  return contexts;
}

// ---- accumulators ----------------------------------------------------------------------------

void IndexAccumulators::merge(const IndexAccumulators& other) {
  remaining_calls.merge(other.remaining_calls);
  interarrival_ms.merge(other.interarrival_ms);
  output_tokens.merge(other.output_tokens);
  sensitivity.merge(other.sensitivity);
}

void NodeAccumulators::merge(const NodeAccumulators& other) {
  for (const auto& [index, acc] : other.by_call_index) by_call_index[index].merge(acc);
  any_index.merge(other.any_index);
}

BuilderState::BuilderState() { nodes_.push_back(PathNode{"root", 0, 0, {}, {}}); }

std::uint32_t BuilderState::child_of(std::uint32_t parent, std::string_view name) {
  auto& children = nodes_[parent].children;
  if (const auto it = children.find(name); it != children.end()) return it->second;
  const auto index = static_cast<std::uint32_t>(nodes_.size());
  const std::uint32_t depth = nodes_[parent].depth + 1;
  children.emplace(std::string(name), index);
  // May reallocate nodes_: no reference into it is held across this line.
  nodes_.push_back(PathNode{std::string(name), parent, depth, {}, {}});
  return index;
}

NodeAccumulators& BuilderState::node(std::span<const std::string_view> path) {
  std::uint32_t index = 0;
  for (const std::string_view name : path) index = child_of(index, name);
  return nodes_[index].acc;
}

const NodeAccumulators* BuilderState::find(std::span<const std::string_view> path) const noexcept {
  std::uint32_t index = 0;
  for (const std::string_view name : path) {
    const auto& children = nodes_[index].children;
    const auto it = children.find(name);
    if (it == children.end()) return nullptr;
    index = it->second;
  }
  return &nodes_[index].acc;
}

void BuilderState::merge(const BuilderState& other) {
  // other's parents precede their children, so each parent is mapped before it is needed.
  std::vector<std::uint32_t> mapped(other.nodes_.size(), 0);
  for (std::uint32_t i = 1; i < other.nodes_.size(); ++i) {
    const PathNode& theirs = other.nodes_[i];
    mapped[i] = child_of(mapped[theirs.parent], theirs.name);
  }
  for (std::uint32_t i = 0; i < other.nodes_.size(); ++i) {
    nodes_[mapped[i]].acc.merge(other.nodes_[i].acc);
  }
  runs_ += other.runs_;
  calls_ += other.calls_;
}

void BuilderState::path_of(std::uint32_t index, std::vector<std::string_view>& out) const {
  out.clear();
  while (index != 0) {
    out.push_back(nodes_[index].name);
    index = nodes_[index].parent;
  }
  std::reverse(out.begin(), out.end());
}

void BuilderState::for_each_node(const std::function<void(std::span<const std::string_view>,
                                                          const NodeAccumulators&)>& visit) const {
  std::vector<std::string_view> path;
  for (std::uint32_t i = 0; i < nodes_.size(); ++i) {
    path_of(i, path);
    visit(path, nodes_[i].acc);
  }
}

// ---- Builder ---------------------------------------------------------------------------------

Builder::Builder(std::optional<SensitivityConfig> sensitivity) : sensitivity_(sensitivity) {}

Builder Builder::from_state(BuilderState state, std::optional<SensitivityConfig> sensitivity) {
  Builder b(sensitivity);
  b.state_ = std::move(state);
  return b;
}

namespace {

// Samples beyond the trie's range (run records allow times up to 2^63 ms) are clamped to it, so
// the state holds only values its reader accepts and a trie file can carry.
double sample(double v) { return std::clamp(v, -kMaxMetricValue, kMaxMetricValue); }

void add_to(IndexAccumulators& acc, const CallContext& ctx, bool with_sensitivity) {
  acc.remaining_calls.add(sample(static_cast<double>(ctx.remaining_calls)));
  if (ctx.interarrival_ms) acc.interarrival_ms.add(sample(*ctx.interarrival_ms));
  acc.output_tokens.add(sample(static_cast<double>(ctx.output_tokens)));
  if (with_sensitivity) acc.sensitivity.add(ctx.sensitivity_score);
}

void add_to(NodeAccumulators& acc, const CallContext& ctx, bool with_sensitivity) {
  add_to(acc.by_call_index[ctx.call_index], ctx, with_sensitivity);
  add_to(acc.any_index, ctx, with_sensitivity);
}

}  // namespace

std::vector<CallContext> Builder::add_run(const RunRecord& run) {
  for (const CallRecord& call : run.calls) {
    if (call.is_llm() && call.path.size() > kMaxTrieDepth) {
      throw TrieError("run " + run.run_id + ": a call path is deeper than " +
                      std::to_string(kMaxTrieDepth) + " names");
    }
  }
  std::vector<CallContext> contexts = extract_call_contexts(run, sensitivity_);
  const bool with_sensitivity = sensitivity_.has_value();
  for (const CallContext& ctx : contexts) {
    // The root and every prefix of the path learn from the call (NAT _update_accumulators).
    std::uint32_t node = 0;
    add_to(state_.nodes_[node].acc, ctx, with_sensitivity);
    for (const std::string& name : ctx.call->path) {
      node = state_.child_of(node, name);
      add_to(state_.nodes_[node].acc, ctx, with_sensitivity);
    }
  }
  ++state_.runs_;
  state_.calls_ += contexts.size();
  return contexts;
}

std::optional<int> sensitivity_level(const Moments& scores, int scale) {
  if (scores.count() == 0 || scale < 1) return std::nullopt;
  // Ties to even (nearbyint in the default rounding mode), as Python's round() in NAT's builder.
  const double level = std::nearbyint(scores.mean() * static_cast<double>(scale - 1)) + 1.0;
  return static_cast<int>(std::clamp(level, 1.0, static_cast<double>(scale)));
}

namespace {

// A metric as the trie file can carry it. Samples are clamped as they are added, but merged states
// can count past 2^53 and rounding can nudge a mean past the bound; without this such a trie would
// be published (Redis, snapshot, `trie build`) and then refused by every reader, augur's own
// included.
MetricStats writable(MetricStats m) {
  m.sample_count = std::min(m.sample_count, kMaxSampleCount);
  m.mean = sample(m.mean);
  m.p50 = sample(m.p50);
  m.p90 = sample(m.p90);
  m.p95 = sample(m.p95);
  return m;
}

Prediction predict(const IndexAccumulators& acc, const std::optional<SensitivityConfig>& cfg) {
  Prediction p;
  p.remaining_calls = writable(acc.remaining_calls.stats());
  p.interarrival_ms = writable(acc.interarrival_ms.stats());
  p.output_tokens = writable(acc.output_tokens.stats());
  if (cfg) p.latency_sensitivity = sensitivity_level(acc.sensitivity, cfg->scale);
  return p;
}

}  // namespace

Trie Builder::build(std::string workflow_name, std::chrono::system_clock::time_point now) const {
  Trie trie;
  trie.generated_at = format_generated_at(now);
  trie.workflow_name = std::move(workflow_name);

  // Depth-first over the state's tree, children in name order, creating each trie node once.
  struct Frame {
    std::uint32_t state_index;
    Node* node;
  };
  const auto fill = [&](const BuilderState::PathNode& from, Node& to) {
    for (const auto& [index, acc] : from.acc.by_call_index) {
      to.predictions_by_call_index.emplace(index, predict(acc, sensitivity_));
    }
    if (from.acc.any_index.remaining_calls.moments().count() > 0) {
      to.predictions_any_index = predict(from.acc.any_index, sensitivity_);
    }
  };
  std::vector<Frame> stack{{0, &trie.root}};
  while (!stack.empty()) {
    const Frame frame = stack.back();
    stack.pop_back();
    const BuilderState::PathNode& from = state_.nodes_[frame.state_index];
    fill(from, *frame.node);
    // Add every child first, then take pointers: adding would invalidate earlier ones.
    for (const auto& [name, index] : from.children) frame.node->children.get_or_add(name);
    for (const auto& [name, index] : from.children) {
      stack.push_back({index, frame.node->children.find(name)});
    }
  }
  return trie;
}

std::string format_generated_at(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto micros = duration_cast<microseconds>(t.time_since_epoch()).count();
  std::int64_t secs = micros / 1'000'000;
  std::int64_t frac = micros % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    --secs;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  if (frac != 0) {
    std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(frac));
    out += buf;
  }
  out += "+00:00";
  return out;
}

}  // namespace augur::trie
