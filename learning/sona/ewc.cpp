// EWC++ (see ewc.hpp).
#include "learning/sona/ewc.hpp"

#include <algorithm>
#include <cmath>

namespace augur::sona {

Ewc::Ewc(const EwcConfig& c)
    : c_(c),
      lambda_(std::clamp(c.lambda, c.min_lambda, c.max_lambda)),
      fisher_(c.param_count, 0.0),
      mean_(c.param_count, 0.0),
      m2_(c.param_count, 0.0) {}

bool Ewc::observe(std::span<const float> grad) {
  if (grad.size() != c_.param_count || c_.param_count == 0) return false;
  // Boundary test before the statistics absorb this gradient: how far is it, in standard
  // deviations, from the gradients of the task so far?
  bool boundary = false;
  if (samples_ >= c_.min_samples) {
    double z = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < grad.size(); ++i) {
      const double var = m2_[i] / static_cast<double>(samples_ - 1);
      if (var <= 1e-12) continue;
      z += std::fabs(grad[i] - mean_[i]) / std::sqrt(var);
      ++n;
    }
    boundary = n > 0 && z / static_cast<double>(n) > c_.boundary_z;
  }
  ++samples_;
  const double d = c_.fisher_decay;
  for (std::size_t i = 0; i < grad.size(); ++i) {
    const double g = grad[i];
    fisher_[i] = d * fisher_[i] + (1 - d) * g * g;
    const double delta = g - mean_[i];
    mean_[i] += delta / static_cast<double>(samples_);
    m2_[i] += delta * (g - mean_[i]);
  }
  return boundary;
}

std::vector<float> Ewc::fisher() const {
  // The EMA starts at 0, so early on it underestimates by (1 − decay^n): undo that.
  const double correction = 1 - std::pow(c_.fisher_decay, static_cast<double>(samples_));
  std::vector<float> f(fisher_.size());
  for (std::size_t i = 0; i < f.size(); ++i)
    f[i] = correction > 0 ? static_cast<float>(fisher_[i] / correction) : 0.0f;
  return f;
}

void Ewc::start_task(std::span<const float> weights) {
  if (weights.size() != c_.param_count) return;
  if (samples_ > 0) {
    tasks_.push_back({fisher(), std::vector<float>(weights.begin(), weights.end())});
    while (tasks_.size() > c_.max_tasks) tasks_.pop_front();
    lambda_ = std::clamp(c_.lambda * (1 + 0.1 * static_cast<double>(tasks_.size())), c_.min_lambda,
                         c_.max_lambda);
  }
  std::fill(fisher_.begin(), fisher_.end(), 0.0);
  std::fill(mean_.begin(), mean_.end(), 0.0);
  std::fill(m2_.begin(), m2_.end(), 0.0);
  samples_ = 0;
}

bool Ewc::step(std::span<float> weights, std::span<const float> grad, double lr) const {
  if (weights.size() != c_.param_count || grad.size() != c_.param_count) return false;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    // Minimises lr·g·w + ½·Σ_t λF_t·(w − w*_t)² + ½·(w − w0)² in closed form.
    double stiffness = 0, anchor = 0;
    for (const Task& t : tasks_) {
      const double k = lr * lambda_ * t.fisher[i];
      stiffness += k;
      anchor += k * t.weights[i];
    }
    const double w = (weights[i] - lr * grad[i] + anchor) / (1 + stiffness);
    if (std::isfinite(w)) weights[i] = static_cast<float>(w);
  }
  return true;
}

double Ewc::penalty(std::span<const float> weights) const {
  if (weights.size() != c_.param_count) return 0;
  double sum = 0;
  for (const Task& t : tasks_)
    for (std::size_t i = 0; i < weights.size(); ++i) {
      const double d = weights[i] - t.weights[i];
      sum += t.fisher[i] * d * d;
    }
  return 0.5 * lambda_ * sum;
}

}  // namespace augur::sona
