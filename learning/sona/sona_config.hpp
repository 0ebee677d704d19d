// SONA's tuning knobs: the seed's named presets (default, max_throughput, max_quality, edge, batch,
// ephemeral, coordinator) and the handful of overrides augur's `sona:` config section exposes.
// Plain data; the Engine copies it at construction.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace augur::sona {

struct SonaConfig {
  std::size_t embedding_dim = 256;
  std::size_t micro_lora_rank = 2;  // 1..2
  std::size_t base_lora_rank = 8;
  // Learning rates are normalised step sizes: one MicroLoRA update removes about `micro_lora_lr`
  // of the error on the trajectory's own context. The seed's rates (0.0005..0.002) were raw
  // gradient-ascent steps of a different objective; the presets keep their ratios, scaled x50.
  double micro_lora_lr = 0.1;
  double base_lora_lr = 0.005;
  double ewc_lambda = 2000;
  std::size_t pattern_clusters = 100;  // k of each background cycle's k-means++
  std::size_t trajectory_capacity = 10000;
  std::chrono::milliseconds background_interval{std::chrono::hours(1)};
  double quality_threshold = 0.15;  // trajectories below this quality do not shape patterns
  // Suggestions below this confidence are withheld (suggest() returns nullopt). 0.2, not 0.5:
  // on the replayed workload (loadtest/README.md, "SONA in the proxy"), patterns that confident
  // already beat the trie's own answers, and 0.5 left most calls to the trie.
  double min_confidence = 0.2;
  std::size_t max_patterns = 1000;    // ReasoningBank capacity (lowest confidence evicted)
  std::size_t min_trajectories = 10;  // a background cycle needs at least this many
  std::uint64_t seed = 0x5eed5011a;   // every RNG (LoRA init, k-means++) derives from it
  // Instant loop: also move the nearest pattern's statistics (an EMA with this weight) when the
  // trajectory is within `instant_pattern_similarity` of it. 0 disables (MicroLoRA only).
  double instant_pattern_rate = 0.1;
  double instant_pattern_similarity = 0.97;
  // suggest_call() reuses a thread's answer for the same call context for this long, while no
  // background cycle has published new patterns (0: always asks afresh). Learning reaches the
  // request path that much later; it saves the embedding and the pattern scan per request.
  std::chrono::milliseconds suggest_reuse{50};
};

// The preset names, in the order the seed lists them.
std::span<const std::string_view> preset_names() noexcept;

// The named preset; nullopt for an unknown name. Thread-safe.
std::optional<SonaConfig> preset(std::string_view name);

}  // namespace augur::sona
