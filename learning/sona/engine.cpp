// The SONA engine (see engine.hpp): instant loop, background loop and the lock-free request path.
#include "learning/sona/engine.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "learning/sona/kmeans.hpp"
#include "learning/sona/vec.hpp"

namespace augur::sona {

namespace {

constexpr std::size_t kTopK = 4;
// Patterns less similar than this say nothing about a call.
constexpr float kMinSimilarity = 0.5f;
// Softmax temperature over similarity: a pattern 0.05 less similar than the best weighs e^-2.5.
constexpr float kSimilarityTemperature = 0.02f;
// Near-duplicate patterns (the seed's consolidation threshold) merge.
constexpr double kMergeSimilarity = 0.95;
// When a cycle's cluster merges into an existing pattern, the old statistics count this much, so
// the newest interval dominates and drift is absorbed within a cycle or two.
constexpr double kRecency = 0.5;
// The adapters minimise a Huber loss of the log error with this small knee: nearly L1, so they
// move predictions toward the median (which the evaluation's |log(pred/actual)| rewards, and
// which the patterns predict) rather than the mean, and one absurd observation moves them little.
constexpr float kErrorClip = 0.25f;
// After a cycle the patterns hold what MicroLoRA learnt since the last one: halve its output.
constexpr float kMicroDecayPerCycle = 0.5f;
constexpr std::uint64_t kPruneAgeCycles = 24;
constexpr double kPruneConfidence = 0.2;
constexpr std::size_t kBaseSamplesPerCycle = 1024;
constexpr std::size_t kBaseBatch = 32;
constexpr std::size_t kNovelTrigger = 50;
// Lloyd on a seeded sample of a cycle's trajectories, then one assignment pass over all of them:
// 2,048 points are plenty for a few hundred contexts and keep a full cycle short.
constexpr std::size_t kKMeansIterations = 10;
constexpr std::size_t kKMeansFitPoints = 2048;
constexpr std::size_t kFirstCycleTrajectories = 100;

}  // namespace

struct Engine::Snapshot {
  struct Live {
    // A hint's mean and whether it has one, in one word: a reader on any CPU (ARM's weak
    // ordering included) sees both from the same store, never a presence without its value.
    class Value {
     public:
      void store(std::optional<float> v) {
        std::uint64_t word = 0;
        if (v) word = std::uint64_t{1} << 32 | std::bit_cast<std::uint32_t>(*v);
        word_.store(word, std::memory_order_relaxed);
      }
      std::optional<float> load() const {
        const std::uint64_t word = word_.load(std::memory_order_relaxed);
        if (!(word >> 32)) return std::nullopt;
        return std::bit_cast<float>(static_cast<std::uint32_t>(word));
      }

     private:
      std::atomic<std::uint64_t> word_{0};
    };
    Value value[kHints];
    std::atomic<float> confidence;
    std::atomic<float> size;
  };
  std::size_t dim = 0;
  std::size_t count = 0;
  std::vector<float> centroids;  // count x dim
  std::unique_ptr<Live[]> live;  // written by the learner between cycles, read by everyone
  LowRankAdapter base;

  explicit Snapshot(const LowRankAdapter& b) : base(b) {}
};

// One pattern as seen by the blend, from either the bank or a snapshot.
struct Engine::Candidate {
  float similarity = 0;
  float confidence = 0;
  float size = 0;
  HintVector mean{};
  HintVector spread{};  // standard deviation of the observations (log space)
  std::array<bool, kHints> has{};
};

struct Engine::Blend {
  bool any = false;
  float best_similarity = 0;
  HintVector value{};
  HintVector spread{};
  std::array<bool, kHints> has{};
  double confidence = 0;
  double samples = 0;
};

namespace {

// A similarity-softmax-weighted mean of the candidates' hint means (in log space); confidence is
// the weighted pattern confidence scaled by how similar the best pattern is.
template <class C>
void blend(std::span<const C> cands, auto& out) {
  if (cands.empty() || cands[0].similarity < kMinSimilarity) return;
  const float best = cands[0].similarity;
  double wsum = 0, csum = 0;
  std::array<double, kHints> num{}, den{}, var{};
  for (const C& c : cands) {
    if (c.similarity < kMinSimilarity) break;
    const double w =
        std::exp((c.similarity - best) / kSimilarityTemperature) * (c.confidence + 1e-3);
    wsum += w;
    csum += w * c.confidence;
    out.samples += c.size;
    for (std::size_t h = 0; h < kHints; ++h)
      if (c.has[h]) {
        num[h] += w * c.mean[h];
        var[h] += w * c.spread[h] * c.spread[h];
        den[h] += w;
      }
  }
  out.any = true;
  out.best_similarity = best;
  out.confidence = static_cast<double>(best) * best * (csum / wsum);
  for (std::size_t h = 0; h < kHints; ++h) {
    out.has[h] = den[h] > 0;
    out.value[h] = den[h] > 0 ? static_cast<float>(num[h] / den[h]) : 0.0f;
    out.spread[h] = den[h] > 0 ? static_cast<float>(std::sqrt(var[h] / den[h])) : 0.0f;
  }
}

float quality_of(const HintVector& injected, const Target& t, bool failed) {
  if (failed) return 0;
  double err = 0;
  int n = 0;
  for (std::size_t h = 0; h < kHints; ++h)
    if (t.present[h]) {
      err += std::fabs(injected[h] - t.value[h]);
      ++n;
    }
  return n == 0 ? 0.0f : static_cast<float>(std::exp(-err / n));
}

std::uint64_t next_engine_id() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

// suggest_call's per-thread memory: one answer per call context, with when it expires and which
// engine and snapshot produced it.
class SuggestionCache {
 public:
  static constexpr std::size_t kMaxEntries = 1024;
  struct Entry {
    std::uint64_t engine = 0, epoch = 0;
    double min_confidence = 0;
    ShapeKey shape{};
    std::string model;
    std::vector<std::string> path;
    Engine::Clock::time_point expires{};
    std::optional<Suggestion> value;
  };

  // The entry for this context (possibly stale or new: check `engine`, `epoch`, `expires`).
  Entry& slot(const CallFeatures& f, const ShapeKey& shape, double min_confidence, bool& fresh) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    const auto mix = [&](std::uint64_t x) { h = (h ^ x) * 0x100000001b3ull; };
    for (const std::uint64_t x : shape) mix(x);
    mix(std::hash<std::string_view>{}(f.model));
    for (const std::string& name : f.path) mix(std::hash<std::string_view>{}(name));
    mix(static_cast<std::uint64_t>(min_confidence * 1e9));
    if (entries_.size() >= kMaxEntries && !entries_.contains(h)) entries_.clear();
    Entry& e = entries_[h];
    fresh = e.shape == shape && e.min_confidence == min_confidence && e.model == f.model &&
            std::equal(f.path.begin(), f.path.end(), e.path.begin(), e.path.end());
    if (!fresh) {  // new, or a hash collision: this context takes the slot
      e.engine = 0;
      e.shape = shape;
      e.min_confidence = min_confidence;
      e.model = f.model;
      e.path.assign(f.path.begin(), f.path.end());
    }
    return e;
  }

 private:
  std::unordered_map<std::uint64_t, Entry> entries_;
};

}  // namespace

Engine::Engine(const SonaConfig& config, Clock::time_point now)
    : config_(config),
      bank_(config.embedding_dim, config.max_patterns),
      micro_(config.embedding_dim, kHints, std::clamp<std::size_t>(config.micro_lora_rank, 1, 2),
             config.seed ^ 0x1111),
      base_(config.embedding_dim, kHints, config.base_lora_rank, config.seed ^ 0x2222),
      ewc_(EwcConfig{.param_count = base_.params().size(), .lambda = config.ewc_lambda}),
      buffer_(config.trajectory_capacity),
      published_micro_(micro_),
      last_cycle_(now),
      id_(next_engine_id()) {
  if (config.embedding_dim == 0) throw std::invalid_argument("SONA embedding_dim must be > 0");
  publish_snapshot();
}

Engine::~Engine() = default;

Embedding Engine::embed(const CallFeatures& f) const {
  return embed_call(f, config_.embedding_dim);
}

void Engine::embed(const CallFeatures& f, Embedding& out) const {
  embed_call(f, config_.embedding_dim, out);
}

std::optional<Suggestion> Engine::suggest_call(const CallFeatures& f, double min_confidence,
                                               Clock::time_point now) const {
  thread_local SuggestionCache cache;
  thread_local Embedding embedding;  // no allocation after a thread's first miss
  const std::uint64_t epoch = published_.load(std::memory_order_acquire);
  bool fresh = false;
  auto& e = cache.slot(f, shape_key(f), min_confidence, fresh);
  if (fresh && e.engine == id_ && e.epoch == epoch && now < e.expires) {
    queries_.fetch_add(1, std::memory_order_relaxed);
    if (e.value) hits_.fetch_add(1, std::memory_order_relaxed);
    return e.value;
  }
  embed(f, embedding);
  e.value = suggest(embedding, min_confidence);
  e.engine = id_;
  e.epoch = epoch;
  e.expires = now + config_.suggest_reuse;
  return e.value;
}

std::optional<Suggestion> Engine::suggest(const Embedding& e) const {
  return suggest(e, config_.min_confidence);
}

std::optional<Suggestion> Engine::suggest(const Embedding& e, double min_confidence) const {
  queries_.fetch_add(1, std::memory_order_relaxed);
  const std::shared_ptr<const Snapshot> snap = snapshot_.load(std::memory_order_acquire);
  if (!snap || snap->count == 0 || e.values.size() != snap->dim) return std::nullopt;
  // Top-k by cosine (centroids and embeddings are unit vectors), kept sorted in a small array.
  std::array<Candidate, kTopK> top{};
  std::array<std::size_t, kTopK> index{};
  std::size_t n = 0;
  const std::span<const float> cents = snap->centroids;
  for (std::size_t i = 0; i < snap->count; ++i) {
    const float s = dot(e.values, cents.subspan(i * snap->dim, snap->dim));
    if (n == kTopK && s <= top[n - 1].similarity) continue;
    std::size_t pos = std::min(n, kTopK - 1);
    if (n < kTopK) ++n;
    while (pos > 0 && top[pos - 1].similarity < s) {
      top[pos] = top[pos - 1];
      index[pos] = index[pos - 1];
      --pos;
    }
    top[pos].similarity = s;
    index[pos] = i;
  }
  for (std::size_t j = 0; j < n; ++j) {
    const Snapshot::Live& l = snap->live[index[j]];
    Candidate& c = top[j];
    c.confidence = l.confidence.load(std::memory_order_relaxed);
    c.size = l.size.load(std::memory_order_relaxed);
    for (std::size_t h = 0; h < kHints; ++h) {
      const auto v = l.value[h].load();
      c.has[h] = v.has_value();
      c.mean[h] = v.value_or(0.0f);
    }
  }
  Blend b;
  blend(std::span<const Candidate>(top.data(), n), b);
  if (!b.any || b.confidence < min_confidence) return std::nullopt;
  HintVector y = b.value;
  snap->base.forward(e.values, y);
  if (!owns_context(b)) published_micro_.forward(e.values, y);
  Suggestion s;
  s.values = from_log(y);
  s.confidence = b.confidence;
  s.samples = static_cast<std::uint64_t>(b.samples);
  s.known = b.has;
  hits_.fetch_add(1, std::memory_order_relaxed);
  return s;
}

bool Engine::owns_context(const Blend& b) const noexcept {
  return b.any && config_.instant_pattern_rate > 0 &&
         b.best_similarity >= config_.instant_pattern_similarity;
}

Engine::Blend Engine::blend_from_bank(std::span<const float> x, std::vector<Match>& matches) const {
  matches = bank_.find_similar(x, kTopK);
  std::array<Candidate, kTopK> cands{};
  for (std::size_t j = 0; j < matches.size(); ++j) {
    const Pattern& p = bank_.patterns()[matches[j].index];
    Candidate& c = cands[j];
    c.similarity = matches[j].similarity;
    c.confidence = static_cast<float>(p.confidence());
    c.size = static_cast<float>(p.size);
    for (std::size_t h = 0; h < kHints; ++h) {
      c.has[h] = p.stats.weight[h] > 0;
      c.mean[h] = p.value(h);
      c.spread[h] = static_cast<float>(std::sqrt(p.stats.variance(h)));
    }
  }
  Blend b;
  blend(std::span<const Candidate>(cands.data(), matches.size()), b);
  return b;
}

HintVector Engine::adapter_output(const Embedding& e) const {
  HintVector y{};
  base_.forward(e.values, y);
  micro_.forward(e.values, y);
  return y;
}

void Engine::learn(const Embedding& e, const HintValues& injected, const Observed& actual) {
  seen_.fetch_add(1, std::memory_order_relaxed);
  Trajectory tr;
  tr.embedding = e.values;
  tr.injected = to_log(injected);
  tr.target = to_target(actual);
  tr.failed = actual.failed;
  tr.quality = quality_of(tr.injected, tr.target, tr.failed);
  const std::span<const float> x = tr.embedding;
  const Target& t = tr.target;

  if (!tr.failed && t.any() && x.size() == config_.embedding_dim) {
    const Blend b = blend_from_bank(x, matches_);
    // The prediction SONA would make now. MicroLoRA corrects the patterns, so it learns only
    // hints a near pattern knows: a correction learnt against some other baseline (the injected
    // trie value) would be added wrongly once a pattern answers.
    HintVector pred{};
    for (std::size_t h = 0; h < kHints; ++h) pred[h] = b.has[h] ? b.value[h] : 0.0f;
    base_.forward(x, pred);
    const bool near = owns_context(b);
    if (!near) micro_.forward(x, pred);
    // Errors the patterns' own spread explains are noise, not news: MicroLoRA learns only the
    // part beyond one standard deviation (without this dead zone it chases noise and costs
    // precision on a steady workload).
    // remaining_calls is left to the patterns: it is a property of the agent's structure, which
    // the patterns hold per context, and a global low-rank correction only leaks other contexts'
    // noise into it (it made remaining_calls worse than the trie alone on the replayed workload).
    HintVector err{};
    for (std::size_t h = 0; h < kHints; ++h) {
      if (!t.present[h] || !b.has[h] || h == static_cast<std::size_t>(Hint::remaining_calls))
        continue;
      const float e = pred[h] - t.value[h];
      const float beyond = std::max(0.0f, std::fabs(e) - (b.has[h] ? b.spread[h] : 0.0f));
      err[h] = std::copysign(std::min(beyond, kErrorClip), e);
    }
    // Division of labour: a pattern that owns this context (see owns_context) tracks it itself;
    // MicroLoRA carries corrections for contexts between patterns (renamed or unseen ones),
    // which no pattern statistic can hold until the next cycle. Both adapting the same context
    // would overshoot, and MicroLoRA's global low-rank map would leak into exact contexts.
    if (!near && micro_.nlms_step(x, err, static_cast<float>(config_.micro_lora_lr))) {
      instant_updates_.fetch_add(1, std::memory_order_relaxed);
      published_micro_.publish(micro_);
    }
    if (near) {
      const std::size_t i = matches_[0].index;
      Pattern& p = bank_.at(i);
      p.observe(t, config_.instant_pattern_rate);
      p.updated_cycle = cycle_;
      pattern_updates_.fetch_add(1, std::memory_order_relaxed);
      if (current_ && i < current_->count) {
        Snapshot::Live& l = current_->live[i];
        for (std::size_t h = 0; h < kHints; ++h) {
          if (p.stats.weight[h] > 0) l.value[h].store(p.value(h));
        }
        l.confidence.store(static_cast<float>(p.confidence()), std::memory_order_relaxed);
      }
    } else if (!b.any || b.best_similarity < config_.instant_pattern_similarity) {
      ++unmatched_;  // no pattern is this context: evidence for a new one
    }
  }
  buffer_.try_push(std::move(tr));
}

bool Engine::background_due(Clock::time_point now) const {
  const std::size_t buffered = buffer_.size() + pending_.size();
  if (buffered < std::max<std::size_t>(config_.min_trajectories, 1)) return false;
  if (now - last_cycle_ >= config_.background_interval) return true;
  if (buffered >= buffer_.capacity() / 2) return true;
  if (bank_.size() == 0)
    return buffered >= std::min(kFirstCycleTrajectories, buffer_.capacity() / 2);
  return unmatched_ >= std::max(config_.min_trajectories, kNovelTrigger);
}

void Engine::background_cycle(Clock::time_point now) {
  std::vector<Trajectory> batch = std::move(pending_);
  pending_.clear();
  buffer_.drain(batch);
  std::erase_if(batch, [](const Trajectory& t) { return t.failed || !t.target.any(); });
  if (batch.size() < std::max<std::size_t>(config_.min_trajectories, 1)) {
    pending_ = std::move(batch);  // unlike the original, too few are kept, not discarded
    return;
  }
  last_cycle_ = now;
  unmatched_ = 0;
  ++cycle_;
  const std::size_t dim = config_.embedding_dim;

  // 1. Cluster this cycle's trajectories (only these: older ones live on in the patterns).
  std::vector<float> points(batch.size() * dim);
  for (std::size_t i = 0; i < batch.size(); ++i)
    std::copy_n(batch[i].embedding.begin(), dim,
                points.begin() + static_cast<std::ptrdiff_t>(i * dim));
  const KMeansResult km = kmeans(points, dim, std::min(config_.pattern_clusters, batch.size()),
                                 config_.seed + cycle_, kKMeansIterations, kKMeansFitPoints);

  // 2. One candidate pattern per cluster, merged into its near-duplicate or stored.
  std::vector<Pattern> cands(km.k);
  for (std::size_t c = 0; c < km.k; ++c) {
    cands[c].centroid.assign(km.centroids.begin() + static_cast<std::ptrdiff_t>(c * dim),
                             km.centroids.begin() + static_cast<std::ptrdiff_t>((c + 1) * dim));
    cands[c].created_cycle = cands[c].updated_cycle = cycle_;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    Pattern& p = cands[km.assignment[i]];
    p.observe(batch[i].target, 0);
    p.avg_quality += batch[i].quality;
    p.size += 1;
  }
  for (Pattern& p : cands) {
    if (p.size <= 0) continue;
    p.avg_quality /= p.size;
    normalize(p.centroid);
    const auto best = bank_.find_similar(p.centroid, 1);
    if (!best.empty() && best[0].similarity > kMergeSimilarity) {
      Pattern& old = bank_.at(best[0].index);
      old.stats.decay(kRecency);
      old.size *= kRecency;
      old.merge(p);
      bank_.refresh_row(best[0].index);
    } else {
      bank_.store(std::move(p));
    }
  }
  bank_.consolidate(kMergeSimilarity);
  bank_.prune(cycle_, kPruneAgeCycles, kPruneConfidence, config_.quality_threshold);

  // 3. BaseLoRA on what the patterns still get wrong, under EWC++.
  train_base(batch);
  micro_.decay_output(kMicroDecayPerCycle);
  published_micro_.publish(micro_);

  publish_snapshot();
  cycles_.fetch_add(1, std::memory_order_relaxed);
}

void Engine::train_base(const std::vector<Trajectory>& batch) {
  std::mt19937_64 rng(config_.seed ^ (cycle_ * 0x9e3779b97f4a7c15ull));
  std::vector<std::size_t> order(batch.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::shuffle(order.begin(), order.end(), rng);
  order.resize(std::min(order.size(), kBaseSamplesPerCycle));

  const std::size_t n_params = base_.params().size();
  std::vector<float> grad(n_params), one(n_params);
  std::vector<Match> matches;
  for (std::size_t start = 0; start < order.size(); start += kBaseBatch) {
    std::fill(grad.begin(), grad.end(), 0.0f);
    std::size_t used = 0;
    for (std::size_t j = start; j < std::min(order.size(), start + kBaseBatch); ++j) {
      const Trajectory& tr = batch[order[j]];
      const Blend b = blend_from_bank(tr.embedding, matches);
      if (!b.any) continue;
      HintVector pred = b.value;
      base_.forward(tr.embedding, pred);
      HintVector err{};
      for (std::size_t h = 0; h < kHints; ++h)
        if (tr.target.present[h] && b.has[h])
          err[h] = std::clamp(pred[h] - tr.target.value[h], -kErrorClip, kErrorClip);
      base_.gradient(tr.embedding, err, one);
      axpy(1.0f, one, grad);
      ++used;
    }
    if (used == 0) continue;
    for (float& g : grad) g /= static_cast<float>(used);
    if (ewc_.observe(grad)) {
      ewc_.start_task(base_.params());
      ewc_tasks_.store(ewc_.task_count(), std::memory_order_relaxed);
    }
    ewc_.step(base_.params(), grad, config_.base_lora_lr);
  }
}

void Engine::publish_snapshot() {
  auto snap = std::make_shared<Snapshot>(base_);
  snap->dim = config_.embedding_dim;
  snap->count = bank_.size();
  snap->centroids.assign(bank_.centroids().begin(), bank_.centroids().end());
  snap->live = std::make_unique<Snapshot::Live[]>(snap->count);
  for (std::size_t i = 0; i < snap->count; ++i) {
    const Pattern& p = bank_.patterns()[i];
    Snapshot::Live& l = snap->live[i];
    for (std::size_t h = 0; h < kHints; ++h) {
      l.value[h].store(p.stats.weight[h] > 0 ? std::optional<float>(p.value(h)) : std::nullopt);
    }
    l.confidence.store(static_cast<float>(p.confidence()), std::memory_order_relaxed);
    l.size.store(static_cast<float>(p.size), std::memory_order_relaxed);
  }
  current_ = snap;
  snapshot_.store(std::move(snap), std::memory_order_release);
  published_.fetch_add(1, std::memory_order_release);
  patterns_.store(bank_.size(), std::memory_order_relaxed);
}

Stats Engine::stats() const {
  Stats s;
  s.queries_processed = queries_.load(std::memory_order_relaxed);
  s.pattern_hits = hits_.load(std::memory_order_relaxed);
  s.pattern_hit_rate = s.queries_processed > 0 ? static_cast<double>(s.pattern_hits) /
                                                     static_cast<double>(s.queries_processed)
                                               : 0.0;
  s.trajectories_seen = seen_.load(std::memory_order_relaxed);
  s.trajectories_dropped = buffer_.dropped();
  s.instant_updates = instant_updates_.load(std::memory_order_relaxed);
  s.pattern_updates = pattern_updates_.load(std::memory_order_relaxed);
  s.background_cycles = cycles_.load(std::memory_order_relaxed);
  s.patterns_stored = patterns_.load(std::memory_order_relaxed);
  s.ewc_tasks = ewc_tasks_.load(std::memory_order_relaxed);
  return s;
}

std::string Engine::stats_json() const {
  const Stats s = stats();
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"queries_processed\":%llu,\"pattern_hits\":%llu,\"pattern_hit_rate\":%.6g,"
                "\"trajectories_seen\":%llu,\"trajectories_dropped\":%llu,"
                "\"instant_updates\":%llu,\"pattern_updates\":%llu,\"background_cycles\":%llu,"
                "\"patterns_stored\":%llu,\"ewc_tasks\":%llu}",
                static_cast<unsigned long long>(s.queries_processed),
                static_cast<unsigned long long>(s.pattern_hits), s.pattern_hit_rate,
                static_cast<unsigned long long>(s.trajectories_seen),
                static_cast<unsigned long long>(s.trajectories_dropped),
                static_cast<unsigned long long>(s.instant_updates),
                static_cast<unsigned long long>(s.pattern_updates),
                static_cast<unsigned long long>(s.background_cycles),
                static_cast<unsigned long long>(s.patterns_stored),
                static_cast<unsigned long long>(s.ewc_tasks));
  return buf;
}

}  // namespace augur::sona
