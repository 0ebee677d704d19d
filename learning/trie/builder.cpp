#include "learning/trie/builder.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <queue>
#include <tuple>
#include <unordered_map>

#include "learning/trie/nat_json.hpp"

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

void IndexAccumulators::merge(const IndexAccumulators& other, double scale) {
  remaining_calls.merge(other.remaining_calls, scale);
  interarrival_ms.merge(other.interarrival_ms, scale);
  output_tokens.merge(other.output_tokens, scale);
  sensitivity.merge(other.sensitivity, scale);
}

void IndexAccumulators::scale(double factor) {
  remaining_calls.scale(factor);
  interarrival_ms.scale(factor);
  output_tokens.scale(factor);
  sensitivity.scale(factor);
}

void NodeAccumulators::merge(const NodeAccumulators& other, double scale) {
  for (const auto& [index, acc] : other.by_call_index) by_call_index[index].merge(acc, scale);
  any_index.merge(other.any_index, scale);
}

void NodeAccumulators::scale(double factor) {
  for (auto& [index, acc] : by_call_index) acc.scale(factor);
  any_index.scale(factor);
}

BuilderLimits default_limits() {
  BuilderLimits l;
  l.half_life = std::chrono::minutes(2);
  l.max_paths = 1000;
  l.max_call_indices = 32;
  l.min_path_samples = 3;
  l.max_new_paths_per_run = 16;
  return l;
}

BuilderLimits offline_limits() {
  BuilderLimits l = default_limits();
  l.min_path_samples = 1;
  l.max_new_paths_per_run = 0;
  return l;
}

std::string_view to_string(Eviction reason) {
  switch (reason) {
    case Eviction::capacity:
      return "capacity";
    case Eviction::run_path_limit:
      return "run_path_limit";
    case Eviction::candidate:
      return "candidate";
    case Eviction::call_index:
      return "call_index";
    case Eviction::merge:
      return "merge";
    case Eviction::trie_bytes:
      return "trie_bytes";
    case Eviction::state_bytes:
      return "state_bytes";
  }
  return "capacity";
}

namespace {

// New weights stay below 2^kRescaleExponent: past it the state is rescaled and the landmark moves
// (at most once per 40 half-lives of run time), so weights never overflow and doubles keep their
// precision for the samples that matter.
constexpr double kRescaleExponent = 40;

std::size_t slot(Eviction r) { return static_cast<std::size_t>(r); }

}  // namespace

BuilderState::BuilderState() {
  PathNode root;
  root.name = "root";
  root.live = true;
  nodes_.push_back(std::move(root));
}

std::uint32_t BuilderState::find_child(std::uint32_t parent, std::string_view name) const noexcept {
  const auto& children = nodes_[parent].children;
  const auto it = children.find(name);
  return it == children.end() ? kNone : it->second;
}

std::uint32_t BuilderState::child_of(std::uint32_t parent, std::string_view name) {
  if (const std::uint32_t found = find_child(parent, name); found != kNone) return found;
  std::uint32_t index = 0;
  if (free_.empty()) {
    index = static_cast<std::uint32_t>(nodes_.size());
    nodes_.emplace_back();  // may reallocate: no reference into nodes_ is held across this line
  } else {
    index = free_.back();
    free_.pop_back();
  }
  PathNode& node = nodes_[index];
  node.name = std::string(name);
  node.parent = parent;
  node.depth = nodes_[parent].depth + 1;
  node.live = true;
  node.seen_ms = 0;
  nodes_[parent].children.emplace(node.name, index);
  ++live_;
  return index;
}

std::uint32_t BuilderState::index_of(std::span<const std::string_view> path) {
  std::uint32_t index = 0;
  for (const std::string_view name : path) index = child_of(index, name);
  return index;
}

NodeAccumulators& BuilderState::node(std::span<const std::string_view> path) {
  return nodes_[index_of(path)].acc;
}

const NodeAccumulators* BuilderState::find(std::span<const std::string_view> path) const noexcept {
  std::uint32_t index = 0;
  for (const std::string_view name : path) {
    index = find_child(index, name);
    if (index == kNone) return nullptr;
  }
  return &nodes_[index].acc;
}

std::vector<std::uint32_t> BuilderState::preorder() const {
  std::vector<std::uint32_t> order;
  order.reserve(live_);
  std::vector<std::uint32_t> stack{0};
  while (!stack.empty()) {
    const std::uint32_t i = stack.back();
    stack.pop_back();
    order.push_back(i);
    const auto& children = nodes_[i].children;
    for (auto it = children.rbegin(); it != children.rend(); ++it) stack.push_back(it->second);
  }
  return order;
}

void BuilderState::rescale(double factor) {
  for (PathNode& n : nodes_) {
    if (n.live) n.acc.scale(factor);
  }
}

double BuilderState::sample_weight(std::int64_t t_ms) {
  const auto h = static_cast<double>(half_life_.count());
  if (h <= 0) return 1.0;
  if (!landmark_ms_) {
    landmark_ms_ = t_ms;
    return 1.0;
  }
  const double exponent = (static_cast<double>(t_ms) - static_cast<double>(*landmark_ms_)) / h;
  if (exponent > kRescaleExponent) {
    rescale(std::exp2(-exponent));
    landmark_ms_ = t_ms;
    return 1.0;
  }
  return std::max(std::exp2(exponent), kMinWeight);
}

void BuilderState::merge(const BuilderState& other) {
  // Bring both to the later landmark; an untimed side counts as observed at the other's.
  double scale = 1.0;
  const auto h = static_cast<double>(half_life_.count());
  if (h > 0 && other.landmark_ms_) {
    if (!landmark_ms_) {
      landmark_ms_ = other.landmark_ms_;
    } else if (*other.landmark_ms_ > *landmark_ms_) {
      rescale(std::exp2(
          (static_cast<double>(*landmark_ms_) - static_cast<double>(*other.landmark_ms_)) / h));
      landmark_ms_ = other.landmark_ms_;
    } else {
      scale = std::exp2(
          (static_cast<double>(*other.landmark_ms_) - static_cast<double>(*landmark_ms_)) / h);
    }
  }
  // Parents first, so each parent is mapped before its children need it.
  std::vector<std::uint32_t> mapped(other.nodes_.size(), 0);
  for (const std::uint32_t i : other.preorder()) {
    const PathNode& theirs = other.nodes_[i];
    if (i != 0) mapped[i] = child_of(mapped[theirs.parent], theirs.name);
    PathNode& ours = nodes_[mapped[i]];
    ours.acc.merge(theirs.acc, scale);
    ours.seen_ms = std::max(ours.seen_ms, theirs.seen_ms);
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
  for (const std::uint32_t i : preorder()) {
    path_of(i, path);
    visit(path, nodes_[i].acc);
  }
}

void BuilderState::remove_leaf(std::uint32_t index) {
  PathNode& node = nodes_[index];
  nodes_[node.parent].children.erase(node.name);
  node = PathNode{};  // frees the accumulators now
  free_.push_back(index);
  --live_;
}

double BuilderState::evidence(std::uint32_t index, std::int64_t latest_ms) const noexcept {
  const PathNode& n = nodes_[index];
  const double samples = static_cast<double>(n.acc.any_index.remaining_calls.moments().count());
  if (n.seen_ms == 0 || latest_ms <= n.seen_ms) return samples;
  const double age = static_cast<double>(latest_ms - n.seen_ms);
  return samples * std::exp2(-age / static_cast<double>(kEvictionHalfLife.count()));
}

// Every sample feeds the root, so the root was seen last.
std::int64_t BuilderState::latest_seen_ms() const noexcept { return nodes_[0].seen_ms; }

std::uint32_t BuilderState::weakest_leaf(std::uint32_t keep, std::int64_t latest_ms) const {
  std::uint32_t best = kNone;
  double best_evidence = 0;
  for (std::uint32_t i = 1; i < nodes_.size(); ++i) {
    const PathNode& n = nodes_[i];
    if (!n.live || !n.children.empty() || i == keep) continue;
    const double e = evidence(i, latest_ms);
    if (best == kNone || e < best_evidence ||
        (e == best_evidence && n.seen_ms < nodes_[best].seen_ms)) {
      best = i;
      best_evidence = e;
    }
  }
  return best;
}

std::size_t BuilderState::evict(std::size_t n, Eviction reason) {
  if (n == 0 || live_ <= 1) return 0;
  // Leaves by (weight, last seen); a parent becomes a candidate once its last child is gone. A
  // parent weighs at least as much as any child (it holds their samples), so this takes the
  // globally weakest paths.
  using Entry = std::tuple<double, std::int64_t, std::uint32_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> leaves;
  const std::int64_t latest = latest_seen_ms();
  for (std::uint32_t i = 1; i < nodes_.size(); ++i) {
    if (nodes_[i].live && nodes_[i].children.empty()) {
      leaves.emplace(evidence(i, latest), nodes_[i].seen_ms, i);
    }
  }
  std::size_t removed = 0;
  while (removed < n && !leaves.empty()) {
    const std::uint32_t i = std::get<2>(leaves.top());
    leaves.pop();
    const std::uint32_t parent = nodes_[i].parent;
    remove_leaf(i);
    ++removed;
    if (parent != 0 && nodes_[parent].children.empty()) {
      leaves.emplace(evidence(parent, latest), nodes_[parent].seen_ms, parent);
    }
  }
  evicted_[slot(reason)] += removed;
  return removed;
}

void BuilderState::evict_to(std::size_t max_paths, Eviction reason) {
  if (max_paths > 0 && path_count() > max_paths) evict(path_count() - max_paths, reason);
}

// ---- Builder ---------------------------------------------------------------------------------

Builder::Builder(std::optional<SensitivityConfig> sensitivity, BuilderLimits limits)
    : sensitivity_(sensitivity), limits_(limits) {
  limits_.min_path_samples = std::max<std::uint32_t>(limits_.min_path_samples, 1);
  max_candidates_ = limits_.max_candidates > 0
                        ? limits_.max_candidates
                        : std::max<std::size_t>(1024, 16 * limits_.max_paths);
  state_.set_half_life(limits_.half_life);
}

Builder Builder::from_state(BuilderState state, std::optional<SensitivityConfig> sensitivity,
                            BuilderLimits limits) {
  Builder b(sensitivity, limits);
  b.state_ = std::move(state);
  b.state_.set_half_life(b.limits_.half_life);
  b.state_.evict_to(b.limits_.max_paths, Eviction::merge);
  return b;
}

void Builder::merge(const BuilderState& other) {
  state_.merge(other);
  state_.evict_to(limits_.max_paths, Eviction::merge);
}

namespace {

// Samples beyond the trie's range (run records allow times up to 2^63 ms) are clamped to it, so
// the state holds only values its reader accepts and a trie file can carry.
double sample(double v) { return std::clamp(v, -kMaxMetricValue, kMaxMetricValue); }

void add_to(IndexAccumulators& acc, const Builder::Sample& s) {
  acc.remaining_calls.add(s.remaining_calls, s.weight);
  if (!std::isnan(s.interarrival_ms)) acc.interarrival_ms.add(s.interarrival_ms, s.weight);
  acc.output_tokens.add(s.output_tokens, s.weight);
  if (!std::isnan(s.sensitivity)) acc.sensitivity.add(s.sensitivity, s.weight);
}

// FNV-1a over length-prefixed names: a path's candidate key, extended one name at a time.
constexpr std::uint64_t kFnvBasis = 14695981039346656037ull;
std::uint64_t extend_key(std::uint64_t key, std::string_view name) {
  const auto mix = [&key](unsigned char c) {
    key ^= c;
    key *= 1099511628211ull;
  };
  for (std::size_t n = name.size(); n > 0; n >>= 8) mix(static_cast<unsigned char>(n & 0xff));
  mix(0xff);
  for (const char c : name) mix(static_cast<unsigned char>(c));
  return key;
}

}  // namespace

void Builder::add_sample(NodeAccumulators& acc, const Sample& s) {
  if (limits_.max_call_indices == 0 || s.call_index <= limits_.max_call_indices) {
    add_to(acc.by_call_index[s.call_index], s);
  }
  add_to(acc.any_index, s);
}

bool Builder::admission_on() const noexcept {
  return limits_.min_path_samples > 1 || limits_.max_paths > 0 || limits_.max_new_paths_per_run > 0;
}

void Builder::admit(std::span<std::uint32_t> chain, std::span<const std::string> path,
                    std::size_t from, Sample sample, std::int64_t t,
                    std::size_t& admitted_this_run) {
  // One candidate per full path: agents repeat their paths exactly, and a new nested path is
  // admitted level by level in the same call once it has earned it.
  std::uint64_t key = kFnvBasis;
  for (const std::string& name : path) key = extend_key(key, name);
  auto it = candidates_.find(key);
  if (it == candidates_.end() && limits_.min_path_samples > 1) {
    if (candidates_.size() >= max_candidates_) {
      candidates_.erase(candidate_lru_.front());
      candidate_lru_.pop_front();
      ++state_.evicted_[slot(Eviction::candidate)];
    }
    candidate_lru_.push_back(key);
    it = candidates_.emplace(key, Candidate{0, {}, std::prev(candidate_lru_.end())}).first;
  } else if (it != candidates_.end()) {
    candidate_lru_.splice(candidate_lru_.end(), candidate_lru_, it->second.lru);
  }
  Candidate* c = it == candidates_.end() ? nullptr : &it->second;
  const std::uint32_t sightings = c ? ++c->sightings : 1;
  // The levels chain[1..depth] that hold `sample` already; a kept sample remembers its depth so
  // that when more levels exist it is replayed into exactly those it is missing.
  std::size_t depth = from;
  const auto keep_sample = [&] {
    if (c && c->samples.size() + 1 < limits_.min_path_samples) {
      sample.depth = static_cast<std::uint32_t>(depth);
      c->samples.push_back(sample);
    }
  };
  // Replays `kept` into the levels up to `to` that did not exist when it was taken.
  const auto replay = [&](std::vector<Sample>& kept, std::size_t to) {
    for (Sample& s : kept) {
      for (std::size_t d = s.depth + 1; d <= to; ++d) add_sample(state_.nodes_[chain[d]].acc, s);
      s.depth = static_cast<std::uint32_t>(std::max<std::size_t>(s.depth, to));
    }
  };
  if (sightings < limits_.min_path_samples) {
    keep_sample();
    return;
  }
  // The newcomer's evidence: its sightings, all of them recent.
  const double brings = static_cast<double>(1 + (c ? c->samples.size() : 0));
  std::uint64_t prefix_key = kFnvBasis;
  for (std::size_t k = 0; k < from; ++k) prefix_key = extend_key(prefix_key, path[k]);
  bool complete = true;
  for (; depth < path.size(); ++depth) {
    prefix_key = extend_key(prefix_key, path[depth]);
    if (limits_.max_new_paths_per_run > 0 && admitted_this_run >= limits_.max_new_paths_per_run) {
      ++state_.evicted_[slot(Eviction::run_path_limit)];
      complete = false;
      break;
    }
    if (limits_.max_paths > 0 && state_.path_count() >= limits_.max_paths) {
      // Room only by evicting a path with no more weight than this one brings.
      const std::int64_t latest = std::max(state_.latest_seen_ms(), t);  // root not yet fed
      const std::uint32_t weakest = state_.weakest_leaf(chain[depth], latest);
      if (weakest == BuilderState::kNone || state_.evidence(weakest, latest) > brings) {
        ++state_.evicted_[slot(Eviction::capacity)];
        complete = false;
        break;
      }
      state_.remove_leaf(weakest);
      ++state_.evicted_[slot(Eviction::capacity)];
    }
    const std::uint32_t node = state_.child_of(chain[depth], path[depth]);
    chain[depth + 1] = node;
    ++admitted_this_run;
    add_sample(state_.nodes_[node].acc, sample);
    state_.nodes_[node].seen_ms = t;
    // A prefix that was also called on its own kept those calls as a candidate of its own.
    if (depth + 1 < path.size()) {
      if (auto own = candidates_.find(prefix_key); own != candidates_.end()) {
        replay(own->second.samples, depth + 1);
        candidate_lru_.erase(own->second.lru);
        candidates_.erase(own);
      }
    }
  }
  if (c) replay(c->samples, depth);
  if (!complete) {
    keep_sample();
    return;
  }
  if (c) {
    candidate_lru_.erase(c->lru);
    candidates_.erase(it);
  }
}

std::vector<CallContext> Builder::add_run(const RunRecord& run) {
  for (const CallRecord& call : run.calls) {
    if (call.is_llm() && call.path.size() > kMaxTrieDepth) {
      throw TrieError("run " + run.run_id + ": a call path is deeper than " +
                      std::to_string(kMaxTrieDepth) + " names");
    }
  }
  std::vector<CallContext> contexts = extract_call_contexts(run, sensitivity_);
  if (contexts.empty()) {
    ++state_.runs_;
    return contexts;
  }
  // Every sample of a run weighs the same: its weight at the run's end.
  std::int64_t end = run.started_at_ms;
  for (const CallContext& ctx : contexts) end = std::max(end, *ctx.call->ended_at_ms);
  // Within the state reader's range (run records allow any 64-bit time).
  constexpr std::int64_t kTimeBound = std::int64_t{1} << 62;
  const std::int64_t t = std::clamp(run.ended_at_ms.value_or(end), -kTimeBound, kTimeBound);
  const double weight = state_.sample_weight(t);
  const bool with_sensitivity = sensitivity_.has_value();
  const bool admission = admission_on();
  std::size_t admitted = 0;
  for (const CallContext& ctx : contexts) {
    Sample s;
    s.call_index = ctx.call_index;
    s.remaining_calls = sample(static_cast<double>(ctx.remaining_calls));
    s.interarrival_ms = ctx.interarrival_ms ? sample(*ctx.interarrival_ms)
                                            : std::numeric_limits<double>::quiet_NaN();
    s.output_tokens = sample(static_cast<double>(ctx.output_tokens));
    s.sensitivity =
        with_sensitivity ? ctx.sensitivity_score : std::numeric_limits<double>::quiet_NaN();
    s.weight = weight;
    if (limits_.max_call_indices > 0 && ctx.call_index > limits_.max_call_indices) {
      ++state_.evicted_[slot(Eviction::call_index)];
    }
    // The root and every prefix of the path learn from the call (NAT _update_accumulators); a
    // prefix not admitted yet ends the walk until it is (its sample is then held by the ancestors
    // and its candidate entry).
    const std::vector<std::string>& path = ctx.call->path;
    std::array<std::uint32_t, kMaxTrieDepth + 1> chain;  // chain[d]: the node at depth d
    chain[0] = 0;
    add_sample(state_.nodes_[0].acc, s);
    state_.nodes_[0].seen_ms = std::max(state_.nodes_[0].seen_ms, t);
    std::size_t depth = 0;
    for (; depth < path.size(); ++depth) {
      const std::uint32_t next = state_.find_child(chain[depth], path[depth]);
      if (next == BuilderState::kNone) break;
      chain[depth + 1] = next;
      add_sample(state_.nodes_[next].acc, s);
      state_.nodes_[next].seen_ms = std::max(state_.nodes_[next].seen_ms, t);
    }
    if (depth == path.size()) continue;
    if (admission) {
      admit(chain, path, depth, s, t, admitted);
      continue;
    }
    for (; depth < path.size(); ++depth) {
      const std::uint32_t node = state_.child_of(chain[depth], path[depth]);
      chain[depth + 1] = node;
      add_sample(state_.nodes_[node].acc, s);
      state_.nodes_[node].seen_ms = std::max(state_.nodes_[node].seen_ms, t);
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

namespace {

// Paths to evict so that `bytes` shrinks to `max_bytes`, assuming bytes are spread evenly over
// paths (10% more, so one or two rounds do), at least one.
std::size_t paths_over(std::size_t paths, std::size_t bytes, std::size_t max_bytes) {
  const double share = static_cast<double>(bytes - max_bytes) / static_cast<double>(bytes);
  return std::max<std::size_t>(
      1, static_cast<std::size_t>(std::ceil(static_cast<double>(paths) * share * 1.1)));
}

}  // namespace

std::string Builder::state_within(std::size_t max_bytes) {
  std::string text = state_.to_string();
  while (max_bytes > 0 && text.size() > max_bytes && state_.path_count() > 0) {
    state_.evict(paths_over(state_.path_count(), text.size(), max_bytes), Eviction::state_bytes);
    text = state_.to_string();
  }
  return text;
}

Builder::BuiltTrie Builder::build_within(std::size_t max_bytes, const std::string& workflow_name,
                                         std::chrono::system_clock::time_point now) {
  BuiltTrie out;
  out.trie = build(workflow_name, now);
  out.json = serialize_trie(out.trie);
  while (max_bytes > 0 && out.json.size() > max_bytes && state_.path_count() > 0) {
    state_.evict(paths_over(state_.path_count(), out.json.size(), max_bytes), Eviction::trie_bytes);
    out.trie = build(workflow_name, now);
    out.json = serialize_trie(out.trie);
  }
  return out;
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
