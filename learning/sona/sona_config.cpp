// The seed's presets (ruvector-sona SonaConfig::max_throughput() etc.) with augur's normalised
// learning rates, and the mapping from the `sona:` config section.
#include "learning/sona/sona_config.hpp"

#include <array>
#include <stdexcept>
#include <string>

namespace augur::sona {

namespace {

using std::chrono::hours;
using std::chrono::minutes;

// The seed's learning rates times 50 (see SonaConfig::micro_lora_lr).
constexpr double kLrScale = 50;

struct Preset {
  std::string_view name;
  std::size_t micro_rank;
  std::size_t base_rank;
  double micro_lr;  // the seed's value
  double base_lr;   // the seed's value
  double ewc_lambda;
  std::size_t clusters;
  std::size_t capacity;
  std::chrono::milliseconds interval;
  double quality_threshold;
};

constexpr std::array<Preset, 7> kPresets = {{
    {"default", 2, 8, 0.002, 0.0001, 2000, 100, 10000, hours(1), 0.15},
    {"max_throughput", 2, 4, 0.0005, 0.0001, 2000, 100, 5000, hours(2), 0.4},
    {"max_quality", 2, 16, 0.002, 0.001, 2000, 100, 20000, minutes(30), 0.2},
    {"edge", 1, 4, 0.001, 0.0001, 1000, 50, 200, hours(1), 0.5},
    {"batch", 2, 8, 0.001, 0.0001, 2000, 100, 10000, hours(1), 0.3},
    {"ephemeral", 2, 4, 0.002, 0.0001, 1000, 50, 500, minutes(1), 0.3},
    {"coordinator", 2, 16, 0.001, 0.0005, 2000, 200, 50000, minutes(5), 0.4},
}};

constexpr std::array<std::string_view, kPresets.size()> kNames = [] {
  std::array<std::string_view, kPresets.size()> names{};
  for (std::size_t i = 0; i < kPresets.size(); ++i) names[i] = kPresets[i].name;
  return names;
}();

}  // namespace

std::span<const std::string_view> preset_names() noexcept { return kNames; }

std::optional<SonaConfig> preset(std::string_view name) {
  for (const Preset& p : kPresets) {
    if (p.name != name) continue;
    SonaConfig c;
    c.micro_lora_rank = p.micro_rank;
    c.base_lora_rank = p.base_rank;
    c.micro_lora_lr = p.micro_lr * kLrScale;
    c.base_lora_lr = p.base_lr * kLrScale;
    c.ewc_lambda = p.ewc_lambda;
    c.pattern_clusters = p.clusters;
    c.trajectory_capacity = p.capacity;
    c.background_interval = p.interval;
    c.quality_threshold = p.quality_threshold;
    // The bank keeps up to ten cycles' worth of distinct patterns.
    c.max_patterns = 10 * p.clusters;
    return c;
  }
  return std::nullopt;
}

}  // namespace augur::sona
