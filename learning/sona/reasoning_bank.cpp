// ReasoningBank (see reasoning_bank.hpp). Linear scans over a contiguous centroid matrix: at the
// bank's bounded size (<= a few thousand) that beats an index and keeps results exact.
#include "learning/sona/reasoning_bank.hpp"

#include <algorithm>
#include <cmath>

#include "learning/sona/vec.hpp"

namespace augur::sona {

void HintStats::add(const Target& t, double w) {
  for (std::size_t h = 0; h < kHints; ++h) {
    if (!t.present[h]) continue;
    weight[h] += w;
    const double delta = t.value[h] - mean[h];
    mean[h] += delta * w / weight[h];
    m2[h] += w * delta * (t.value[h] - mean[h]);
  }
}

void HintStats::add_ema(const Target& t, double rate) {
  for (std::size_t h = 0; h < kHints; ++h) {
    if (!t.present[h]) continue;
    if (weight[h] <= 0) {
      add(Target{t.value, {h == 0, h == 1, h == 2, h == 3}}, 1);
      continue;
    }
    const double delta = t.value[h] - mean[h];
    const double var = (1 - rate) * (variance(h) + rate * delta * delta);
    mean[h] += rate * delta;
    weight[h] += 1;
    m2[h] = var * weight[h];
  }
}

void HintStats::merge(const HintStats& o) {
  for (std::size_t h = 0; h < kHints; ++h) {
    const double w = weight[h] + o.weight[h];
    if (o.weight[h] <= 0) continue;
    const double delta = o.mean[h] - mean[h];
    mean[h] += delta * o.weight[h] / w;
    m2[h] += o.m2[h] + delta * delta * weight[h] * o.weight[h] / w;
    weight[h] = w;
  }
}

void HintStats::decay(double factor) {
  for (std::size_t h = 0; h < kHints; ++h) {
    weight[h] *= factor;
    m2[h] *= factor;
  }
}

double HintStats::variance(std::size_t h) const {
  return weight[h] > 0 ? std::max(0.0, m2[h] / weight[h]) : 0.0;
}

double HintStats::samples() const { return *std::max_element(weight.begin(), weight.end()); }

void RecentValues::push(float v) noexcept {
  v_[head_] = v;
  head_ = (head_ + 1) % kRecent;
  n_ = std::min(n_ + 1, kRecent);
  median_known_ = false;
}

void RecentValues::append(const RecentValues& newer) noexcept {
  const std::size_t start = (newer.head_ + kRecent - newer.n_) % kRecent;
  for (std::size_t i = 0; i < newer.n_; ++i) push(newer.v_[(start + i) % kRecent]);
}

float RecentValues::median() const noexcept {
  if (median_known_) return median_;
  median_known_ = true;
  std::array<float, kRecent> tmp = v_;
  const auto end = tmp.begin() + static_cast<std::ptrdiff_t>(n_);
  const auto mid = tmp.begin() + static_cast<std::ptrdiff_t>(n_ / 2);
  std::nth_element(tmp.begin(), mid, end);
  if (n_ % 2 == 1) {
    median_ = *mid;
  } else {
    const float below = *std::max_element(tmp.begin(), mid);
    median_ = 0.5f * (below + *mid);
  }
  return median_;
}

float Pattern::value(std::size_t h) const {
  return recent[h].size() > 0 ? recent[h].median() : static_cast<float>(stats.mean[h]);
}

void Pattern::observe(const Target& t, double rate) {
  if (rate > 0)
    stats.add_ema(t, rate);
  else
    stats.add(t);
  for (std::size_t h = 0; h < kHints; ++h)
    if (t.present[h]) recent[h].push(t.value[h]);
}

double Pattern::confidence() const {
  double var = 0;
  int n = 0;
  for (std::size_t h = 0; h < kHints; ++h)
    if (stats.weight[h] > 0) {
      var += stats.variance(h);
      ++n;
    }
  if (n == 0) return 0;
  const double spread = std::sqrt(var / n);
  return size / (size + 3) / (1 + spread);
}

void Pattern::merge(const Pattern& o) {
  const double total = size + o.size;
  if (total <= 0) return;
  const float w1 = static_cast<float>(size / total), w2 = static_cast<float>(o.size / total);
  for (std::size_t i = 0; i < centroid.size() && i < o.centroid.size(); ++i)
    centroid[i] = w1 * centroid[i] + w2 * o.centroid[i];
  normalize(centroid);
  avg_quality = (avg_quality * size + o.avg_quality * o.size) / total;
  stats.merge(o.stats);
  for (std::size_t h = 0; h < kHints; ++h) recent[h].append(o.recent[h]);
  size = total;
  created_cycle = std::min(created_cycle, o.created_cycle);
  updated_cycle = std::max(updated_cycle, o.updated_cycle);
  access_count += o.access_count;
}

ReasoningBank::ReasoningBank(std::size_t dim, std::size_t capacity)
    : dim_(dim), capacity_(std::max<std::size_t>(capacity, 1)) {}

std::vector<Match> ReasoningBank::find_similar(std::span<const float> q, std::size_t k) const {
  std::vector<Match> out;
  k = std::min(k, patterns_.size());
  if (k == 0) return out;
  out.reserve(k + 1);
  for (std::size_t i = 0; i < patterns_.size(); ++i) {
    const float s = dot(q, std::span<const float>(matrix_).subspan(i * dim_, dim_));
    if (out.size() == k && s <= out.back().similarity) continue;
    // Insertion into a short sorted list: k is small (<= 16), so no heap or full sort.
    auto pos =
        std::find_if(out.begin(), out.end(), [s](const Match& m) { return s > m.similarity; });
    out.insert(pos, Match{i, s});
    if (out.size() > k) out.pop_back();
  }
  return out;
}

void ReasoningBank::refresh_row(std::size_t i) {
  std::copy_n(patterns_[i].centroid.begin(), std::min(dim_, patterns_[i].centroid.size()),
              matrix_.begin() + static_cast<std::ptrdiff_t>(i * dim_));
}

void ReasoningBank::erase(std::size_t i) {
  // Swap with the last pattern so the matrix stays contiguous.
  const std::size_t last = patterns_.size() - 1;
  if (i != last) {
    patterns_[i] = std::move(patterns_[last]);
    refresh_row(i);
  }
  patterns_.pop_back();
  matrix_.resize(patterns_.size() * dim_);
}

std::size_t ReasoningBank::store(Pattern p) {
  p.centroid.resize(dim_, 0.0f);
  normalize(p.centroid);
  if (p.id == 0) p.id = next_id_++;
  if (patterns_.size() >= capacity_) {
    std::size_t worst = 0;
    double worst_c = patterns_[0].confidence();
    for (std::size_t i = 1; i < patterns_.size(); ++i)
      if (const double c = patterns_[i].confidence(); c < worst_c) {
        worst_c = c;
        worst = i;
      }
    erase(worst);
  }
  patterns_.push_back(std::move(p));
  matrix_.resize(patterns_.size() * dim_);
  refresh_row(patterns_.size() - 1);
  return patterns_.size() - 1;
}

std::size_t ReasoningBank::store_or_merge(Pattern p, double threshold) {
  p.centroid.resize(dim_, 0.0f);
  normalize(p.centroid);
  const auto best = find_similar(p.centroid, 1);
  if (!best.empty() && best[0].similarity > threshold) {
    patterns_[best[0].index].merge(p);
    refresh_row(best[0].index);
    return best[0].index;
  }
  return store(std::move(p));
}

std::size_t ReasoningBank::consolidate(double threshold) {
  std::size_t merges = 0;
  for (std::size_t i = 0; i < patterns_.size(); ++i) {
    for (std::size_t j = i + 1; j < patterns_.size();) {
      const float s = dot(std::span<const float>(matrix_).subspan(i * dim_, dim_),
                          std::span<const float>(matrix_).subspan(j * dim_, dim_));
      if (s > threshold) {
        patterns_[i].merge(patterns_[j]);
        refresh_row(i);
        erase(j);  // moves the last pattern to j: look at j again
        ++merges;
      } else {
        ++j;
      }
    }
  }
  return merges;
}

std::size_t ReasoningBank::prune(std::uint64_t now_cycle, std::uint64_t max_age,
                                 double min_confidence, double min_quality) {
  std::size_t removed = 0;
  for (std::size_t i = 0; i < patterns_.size();) {
    const Pattern& p = patterns_[i];
    const bool stale = now_cycle >= p.updated_cycle + max_age;
    if (stale && (p.confidence() < min_confidence || p.avg_quality < min_quality)) {
      erase(i);
      ++removed;
    } else {
      ++i;
    }
  }
  return removed;
}

}  // namespace augur::sona
