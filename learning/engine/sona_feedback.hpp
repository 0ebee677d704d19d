// What SONA learns from a closed run: each call's context (embedded from the observation, as the
// proxy embedded it before forwarding), the hints augur injected, and what then happened.
#pragma once

#include "learning/engine/run_tracker.hpp"
#include "learning/engine/trajectory.hpp"
#include "learning/sona/embedding.hpp"

namespace augur::sona {
class Engine;
}

namespace augur::learning {

// The SONA features of an observed call. The returned view points into `call`.
sona::CallFeatures features_of(const CallObservation& call);

// Feeds every step of the run to SONA's instant loop, then runs a background cycle when one is due.
// Learning thread only.
void teach(sona::Engine& engine, const Trajectory& trajectory, const ClosedRun& run,
           const std::vector<HintErrors>& checks);

}  // namespace augur::learning
