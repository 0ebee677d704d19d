// augur's config mapped to learning's and SONA's options: every SONA preset name the config loader
// accepts resolves to a preset, overrides apply, and learning gets the learning and store keys.
#include "proxy/server/learning_setup.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace augur;

TEST_CASE("every seed preset loads from the sona: section") {
  CHECK(sona::preset_names().size() == 7);
  for (std::string_view name : sona::preset_names()) {
    CAPTURE(name);
    const config::Config c =
        config::load_string("sona: {enabled: true, preset: " + std::string(name) + "}\n", "t.yaml");
    const sona::SonaConfig s = proxy::sona_options(c.sona);
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
  const sona::SonaConfig s = proxy::sona_options(c.sona);
  CHECK(s.embedding_dim == 64);
  CHECK(s.micro_lora_rank == 2);
  CHECK(s.pattern_clusters == 20);
  CHECK(s.max_patterns == 200);
  CHECK(s.background_interval == std::chrono::seconds(30));
  CHECK(s.min_confidence == doctest::Approx(0.8));
  CHECK(s.trajectory_capacity == 1000);
  CHECK(s.base_lora_rank == edge.base_lora_rank);  // not overridden
}

TEST_CASE("learning is told the learning, store and context keys it runs with") {
  const config::Config c = config::load_string(
      "learning: {rebuild_interval: 7s, rebuild_runs: 3, half_life: 90s, max_paths: 12}\n"
      "store: {kind: redis, namespace: ns1, replica: r7}\n"
      "context: {run_idle_timeout: 4s, max_runs: 99}\n",
      "t.yaml");
  const learning::LearnerOptions o = proxy::learner_options(c);
  CHECK(o.rebuild_interval == std::chrono::seconds(7));
  CHECK(o.rebuild_runs == 3);
  CHECK(o.limits.half_life == std::chrono::seconds(90));
  CHECK(o.limits.max_paths == 12);
  CHECK(o.store.kind == "redis");
  CHECK(o.store.ns == "ns1");
  CHECK(o.store.replica == "r7");
  CHECK(o.run_idle_timeout == std::chrono::seconds(4));
  CHECK(o.max_runs == 99);
  // The config's learning defaults are learning's own.
  const learning::LearnerOptions d = proxy::learner_options(config::defaults());
  CHECK(d.limits == learning::LearnerOptions{}.limits);
  CHECK(d.max_trie_bytes == learning::LearnerOptions{}.max_trie_bytes);
}
