// EWC++ for BaseLoRA: an online Fisher estimate (EMA of squared gradients), task boundaries
// detected from a z-score of new gradients against the running gradient statistics, a FIFO of
// remembered tasks {Fisher, optimal weights}, and an adaptive lambda. Sized to exactly the
// parameters it protects (the original was sized differently from its gradients and never ran).
#pragma once

#include <cstddef>
#include <deque>
#include <span>
#include <vector>

namespace augur::sona {

struct EwcConfig {
  std::size_t param_count = 0;
  double lambda = 2000;  // initial; grows 10% per remembered task, within [min, max]
  double min_lambda = 100;
  double max_lambda = 15000;
  double fisher_decay = 0.999;
  double boundary_z = 2.0;       // mean |z| of a gradient above this starts a new task
  std::size_t min_samples = 50;  // gradients observed in a task before a boundary can be found
  std::size_t max_tasks = 10;
};

// Single-threaded (the learning thread's).
class Ewc {
 public:
  explicit Ewc(const EwcConfig& c);

  // Feeds one gradient of the protected parameters. Returns true when it looks like a new task
  // (the caller then calls start_task). Sizes other than param_count are ignored (false).
  bool observe(std::span<const float> grad);

  // Remembers the current task (its Fisher, the weights now) and starts a new one.
  void start_task(std::span<const float> weights);

  // One gradient step weights -= lr·(grad + λ·Σ_t F_t ⊙ (weights − w*_t)), solved implicitly per
  // parameter so a stiff penalty cannot overshoot. With no tasks it is plain SGD. Returns false on
  // a size mismatch (nothing changed).
  bool step(std::span<float> weights, std::span<const float> grad, double lr) const;

  // λ/2·Σ_t Σ_i F_t,i·(w_i − w*_t,i)².
  double penalty(std::span<const float> weights) const;

  std::size_t task_count() const noexcept { return tasks_.size(); }
  double lambda() const noexcept { return lambda_; }
  std::size_t samples() const noexcept { return samples_; }
  // The current task's bias-corrected Fisher estimate.
  std::vector<float> fisher() const;

 private:
  struct Task {
    std::vector<float> fisher;
    std::vector<float> weights;
  };
  EwcConfig c_;
  double lambda_;
  std::vector<double> fisher_;  // EMA of g², not bias-corrected
  std::vector<double> mean_, m2_;
  std::size_t samples_ = 0;
  std::deque<Task> tasks_;
};

}  // namespace augur::sona
