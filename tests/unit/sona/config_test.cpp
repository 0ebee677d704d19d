// SONA presets: every name the config loader accepts resolves to a preset, and overrides apply.
#include "config/config.hpp"

#include <doctest/doctest.h>

#include <string>

#include "learning/sona/sona_config.hpp"

using namespace augur;

TEST_CASE("every seed preset loads from the sona: section") {
  CHECK(sona::preset_names().size() == 7);
  for (std::string_view name : sona::preset_names()) {
    CAPTURE(name);
    const config::Config c =
        config::load_string("sona: {enabled: true, preset: " + std::string(name) + "}\n", "t.yaml");
    const sona::SonaConfig s = sona::from_config(c.sona);
    CHECK(s.micro_lora_rank >= 1);
    CHECK(s.micro_lora_rank <= 2);
    CHECK(s.pattern_clusters > 0);
  }
  CHECK_FALSE(sona::preset("realtime"));
}

TEST_CASE("presets keep the seed's shape and overrides replace single values") {
  const auto edge = *sona::preset("edge");
  CHECK(edge.micro_lora_rank == 1);
  CHECK(edge.trajectory_capacity == 200);
  CHECK(edge.pattern_clusters == 50);
  const auto coordinator = *sona::preset("coordinator");
  CHECK(coordinator.pattern_clusters == 200);
  CHECK(coordinator.background_interval == std::chrono::minutes(5));

  const config::Config c = config::load_string(
      "sona: {preset: edge, embedding_dim: 64, micro_lora_rank: 2, pattern_clusters: 20,\n"
      "       background_interval: 30s, min_confidence: 0.8, trajectory_capacity: 1000}\n",
      "t.yaml");
  const sona::SonaConfig s = sona::from_config(c.sona);
  CHECK(s.embedding_dim == 64);
  CHECK(s.micro_lora_rank == 2);
  CHECK(s.pattern_clusters == 20);
  CHECK(s.max_patterns == 200);
  CHECK(s.background_interval == std::chrono::seconds(30));
  CHECK(s.min_confidence == doctest::Approx(0.8));
  CHECK(s.trajectory_capacity == 1000);
  CHECK(s.base_lora_rank == edge.base_lora_rank);  // not overridden
}
