// Low-rank adapters from an embedding to the four log-space hints: y += s·B·(A·x). MicroLoRA
// (rank 1-2) learns per trajectory in the instant loop; BaseLoRA (rank 4-16) learns in the
// background loop under EWC++. Both are trained by gradient descent on the squared log error of
// the hints, and A starts random (B at zero), so the very first update already moves the output.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace augur::sona {

class LowRankAdapter {
 public:
  static constexpr std::size_t kMaxRank = 64;  // larger ranks are clamped

  // A: rank x in_dim, seeded N(0, 1) (x is a unit vector, so A·x is O(1)); B: out_dim x rank, 0.
  LowRankAdapter(std::size_t in_dim, std::size_t out_dim, std::size_t rank, std::uint64_t seed);

  std::size_t in_dim() const noexcept { return in_; }
  std::size_t out_dim() const noexcept { return out_; }
  std::size_t rank() const noexcept { return rank_; }
  float scale() const noexcept { return scale_; }

  // Parameters, A (row-major) then B (row-major): what EWC++ protects and snapshots copy.
  std::span<const float> params() const noexcept { return w_; }
  std::span<float> params() noexcept { return w_; }

  // y += s·B·(A·x) for the first out_dim elements of y. Thread-safe on a const adapter.
  void forward(std::span<const float> x, std::span<float> y) const noexcept;

  // Not thread-safe (scratch buffers), like everything below. Gradient of ½·Σ err_h² with err =
  // prediction − target (0 where a target is missing), into `grad` (params().size() elements;
  // overwritten).
  void gradient(std::span<const float> x, std::span<const float> err,
                std::span<float> grad) const noexcept;

  // One normalised gradient step (NLMS): on x itself it removes about `rate` (0..1) of err,
  // whatever the current weights. Returns false (and changes nothing) if the step is not finite.
  bool nlms_step(std::span<const float> x, std::span<const float> err, float rate);

  // Scales the Jacobian norm: the step size nlms_step would divide by for x.
  float jacobian_norm2(std::span<const float> x) const noexcept;

  // params += delta (clipped to the common length).
  void add(std::span<const float> delta) noexcept;

  // Multiplies B by `factor` (MicroLoRA hands consolidated corrections back to the patterns).
  void decay_output(float factor) noexcept;

 private:
  std::size_t in_, out_, rank_;
  float scale_;
  std::vector<float>& grad_scratch() const;

  std::vector<float> w_;
  mutable std::vector<float> scratch_;  // A·x, reused (the adapter is single-threaded)
  mutable std::vector<float> grad_;     // nlms_step's gradient, reused
};

// A copy of an adapter's weights that the learning thread overwrites in place and request threads
// read concurrently (relaxed atomics: a reader may mix two consecutive updates, never a torn
// float). forward() is thread-safe; publish() is for the single learning thread.
class PublishedAdapter {
 public:
  explicit PublishedAdapter(const LowRankAdapter& a);
  void publish(const LowRankAdapter& a) noexcept;
  void forward(std::span<const float> x, std::span<float> y) const noexcept;

 private:
  std::size_t in_, out_, rank_;
  float scale_;
  std::size_t size_;
  std::unique_ptr<std::atomic<float>[]> w_;
};

}  // namespace augur::sona
