// A deterministic offline evaluation of SONA against a trie stand-in: a seeded synthetic agent
// workload (ReAct loops, a research pipeline, a coder with a variable number of tool calls), fed
// call by call to static defaults, a per-(path, call index) cumulative-mean trie that only moves at
// rebuilds, and SONA (falling back to that trie when it is not confident). Used by the
// augur_sona_eval program and by a unit test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "learning/sona/engine.hpp"

namespace augur::sona::eval {

enum class Scenario { steady, drift, novel };

struct Options {
  Scenario scenario = Scenario::steady;
  std::size_t calls = 12000;
  double calls_per_second = 20;  // simulated clock: one call every 1/rate seconds
  double rebuild_seconds = 60;   // the trie stand-in's rebuild interval (learning.rebuild_interval)
  std::size_t concurrency = 8;   // runs in flight, their calls interleaved
  double drift_factor = 4;       // drift: output tokens of two paths multiply by this mid-run
  std::uint64_t seed = 1;
  SonaConfig sona;
};

// Mean |log((pred + 1) / (actual + 1))| per hint over the calls scored.
struct HintError {
  double output_tokens = 0;
  double remaining_calls = 0;
  std::size_t calls = 0;
};

struct Result {
  HintError static_defaults;
  HintError trie;
  HintError sona;                 // SONA where it answered, else the trie stand-in
  std::size_t sona_answered = 0;  // scored calls where SONA's suggestion was used
  Stats stats;
};

// Runs one scenario. Scored calls: steady, all after the first trie rebuild; drift, calls on the
// two drifting functions after the drift point (half-way); novel, calls on renamed functions that
// the trie's last rebuild has not seen (it answers from an ancestor, the root or static).
// Deterministic for given options.
Result run(const Options& o);

const char* to_string(Scenario s);

}  // namespace augur::sona::eval
