// augur's config file, translated into what the learning thread and SONA are told at start:
// learning and SONA take their own option types, so they depend on no config type (the server
// is the one component that knows both).
#pragma once

#include "config/config.hpp"
#include "learning/engine/options.hpp"
#include "learning/sona/sona_config.hpp"

namespace augur::proxy {

// The learning thread's settings: learning.*, store.*, context.run_idle_timeout and max_runs,
// prediction.sensitivity_scale. Thread-safe (pure).
learning::LearnerOptions learner_options(const config::Config& cfg);

// The SONA preset named in `sona.preset` with the section's overrides applied. Throws
// std::invalid_argument for an unknown preset (the config loader already rejects those, naming
// file and line). Thread-safe (pure).
sona::SonaConfig sona_options(const config::Sona& s);

}  // namespace augur::proxy
