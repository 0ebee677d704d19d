// LoRA forward, gradient and the normalised update (see lora.hpp).
#include "learning/sona/lora.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "learning/sona/vec.hpp"

namespace augur::sona {

namespace {

// N(0, 1) from a seeded 64-bit Mersenne Twister via Box-Muller: the same numbers on every
// standard library (std::normal_distribution's algorithm is unspecified).
class Gaussian {
 public:
  explicit Gaussian(std::uint64_t seed) : rng_(seed) {}
  float operator()() {
    const double u1 = (static_cast<double>(rng_() >> 11) + 0.5) * 0x1.0p-53;
    const double u2 = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }

 private:
  std::mt19937_64 rng_;
};

}  // namespace

LowRankAdapter::LowRankAdapter(std::size_t in_dim, std::size_t out_dim, std::size_t rank,
                               std::uint64_t seed)
    : in_(in_dim),
      out_(out_dim),
      rank_(std::clamp<std::size_t>(rank, 1, kMaxRank)),
      scale_(1.0f / std::sqrt(static_cast<float>(rank_))),
      w_(rank_ * in_ + out_ * rank_, 0.0f),
      scratch_(rank_, 0.0f) {
  Gaussian g(seed);
  for (std::size_t i = 0; i < rank_ * in_; ++i) w_[i] = g();
}

void LowRankAdapter::forward(std::span<const float> x, std::span<float> y) const noexcept {
  // A stack buffer, not scratch_: forward() must stay safe on a shared const adapter.
  float hidden[kMaxRank];
  const float* a = w_.data();
  const float* b = a + rank_ * in_;
  for (std::size_t r = 0; r < rank_; ++r) hidden[r] = scale_ * dot({a + r * in_, in_}, x);
  for (std::size_t h = 0; h < out_ && h < y.size(); ++h)
    for (std::size_t r = 0; r < rank_; ++r) y[h] += b[h * rank_ + r] * hidden[r];
}

void LowRankAdapter::gradient(std::span<const float> x, std::span<const float> err,
                              std::span<float> grad) const noexcept {
  const float* a = w_.data();
  const float* b = a + rank_ * in_;
  float* ga = grad.data();
  float* gb = ga + rank_ * in_;
  for (std::size_t r = 0; r < rank_; ++r) scratch_[r] = dot({a + r * in_, in_}, x);
  for (std::size_t r = 0; r < rank_; ++r) {
    // dL/dA_r = s·(Σ_h err_h·B_hr)·x ; dL/dB_hr = s·err_h·(A_r·x)
    float back = 0;
    for (std::size_t h = 0; h < out_; ++h) back += err[h] * b[h * rank_ + r];
    std::span<float> row(ga + r * in_, in_);
    std::fill(row.begin(), row.end(), 0.0f);
    axpy(scale_ * back, x, row);
  }
  for (std::size_t h = 0; h < out_; ++h)
    for (std::size_t r = 0; r < rank_; ++r) gb[h * rank_ + r] = scale_ * err[h] * scratch_[r];
}

float LowRankAdapter::jacobian_norm2(std::span<const float> x) const noexcept {
  // For output h: Σ_θ (∂y_h/∂θ)² = s²·(‖A·x‖² + ‖B_h‖²·‖x‖²); the largest over h bounds them all.
  const float* a = w_.data();
  const float* b = a + rank_ * in_;
  float ax2 = 0;
  for (std::size_t r = 0; r < rank_; ++r) {
    const float v = dot({a + r * in_, in_}, x);
    ax2 += v * v;
  }
  const float x2 = dot(x, x);
  float worst = 0;
  for (std::size_t h = 0; h < out_; ++h) {
    float bh2 = 0;
    for (std::size_t r = 0; r < rank_; ++r) bh2 += b[h * rank_ + r] * b[h * rank_ + r];
    worst = std::max(worst, ax2 + bh2 * x2);
  }
  return scale_ * scale_ * worst;
}

bool LowRankAdapter::nlms_step(std::span<const float> x, std::span<const float> err, float rate) {
  const float norm2 = jacobian_norm2(x);
  if (!(norm2 > 1e-12f)) return false;
  std::vector<float>& g = grad_scratch();
  gradient(x, err, g);
  const float step = -rate / norm2;
  for (float v : g)
    if (!std::isfinite(v * step)) return false;
  axpy(step, g, w_);
  return true;
}

std::vector<float>& LowRankAdapter::grad_scratch() const {
  if (grad_.size() != w_.size()) grad_.assign(w_.size(), 0.0f);
  return grad_;
}

void LowRankAdapter::add(std::span<const float> delta) noexcept { axpy(1.0f, delta, w_); }

void LowRankAdapter::decay_output(float factor) noexcept {
  for (std::size_t i = rank_ * in_; i < w_.size(); ++i) w_[i] *= factor;
}

PublishedAdapter::PublishedAdapter(const LowRankAdapter& a)
    : in_(a.in_dim()),
      out_(a.out_dim()),
      rank_(a.rank()),
      scale_(a.scale()),
      size_(a.params().size()),
      w_(std::make_unique<std::atomic<float>[]>(size_)) {
  publish(a);
}

void PublishedAdapter::publish(const LowRankAdapter& a) noexcept {
  const auto p = a.params();
  for (std::size_t i = 0; i < size_ && i < p.size(); ++i)
    w_[i].store(p[i], std::memory_order_relaxed);
}

void PublishedAdapter::forward(std::span<const float> x, std::span<float> y) const noexcept {
  float h[LowRankAdapter::kMaxRank] = {};
  const std::size_t rank = std::min(rank_, LowRankAdapter::kMaxRank);
  const std::size_t n = std::min(in_, x.size());
  for (std::size_t r = 0; r < rank; ++r) {
    const std::atomic<float>* row = w_.get() + r * in_;
    float s = 0;
    for (std::size_t i = 0; i < n; ++i) s += row[i].load(std::memory_order_relaxed) * x[i];
    h[r] = scale_ * s;
  }
  const std::atomic<float>* b = w_.get() + rank_ * in_;
  for (std::size_t o = 0; o < out_ && o < y.size(); ++o)
    for (std::size_t r = 0; r < rank; ++r)
      y[o] += b[o * rank_ + r].load(std::memory_order_relaxed) * h[r];
}

}  // namespace augur::sona
