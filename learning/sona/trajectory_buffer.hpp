// SONA's buffer of completed trajectories: the shared bounded lock-free queue
// (learning/bounded_queue.hpp); a full buffer drops the newest and counts it. SONA drains it from
// the learning thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "learning/bounded_queue.hpp"
#include "learning/sona/hints.hpp"

namespace augur::sona {

// One finished call: where it was (embedding), what was injected, what then happened.
struct Trajectory {
  std::vector<float> embedding;
  HintVector injected{};  // log space
  Target target;
  float quality = 0;  // exp(−mean log error of the injected hints); 0 for a failed call
  bool failed = false;
};

template <class T>
using BoundedQueue = learning::BoundedQueue<T>;

using TrajectoryBuffer = BoundedQueue<Trajectory>;

}  // namespace augur::sona
