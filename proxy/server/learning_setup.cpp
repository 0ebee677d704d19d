#include "proxy/server/learning_setup.hpp"

#include <stdexcept>

namespace augur::proxy {

learning::LearnerOptions learner_options(const config::Config& cfg) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  learning::LearnerOptions o;
  const auto& l = cfg.learning;
  o.rebuild_interval = duration_cast<milliseconds>(l.rebuild_interval);
  o.rebuild_runs = l.rebuild_runs;
  o.queue_capacity = l.queue_capacity;
  o.limits.half_life = duration_cast<milliseconds>(l.half_life);
  o.limits.max_paths = l.max_paths;
  o.limits.max_call_indices = static_cast<std::uint32_t>(l.max_call_indices);
  o.limits.min_path_samples = static_cast<std::uint32_t>(l.min_path_samples);
  o.limits.max_new_paths_per_run = l.max_new_paths_per_run;
  o.max_trie_bytes = l.max_trie_bytes;
  o.max_state_bytes = l.max_state_bytes;
  o.sensitivity_scale = cfg.prediction.sensitivity_scale;
  o.run_idle_timeout = duration_cast<milliseconds>(cfg.context.run_idle_timeout);
  o.max_runs = cfg.context.max_runs;
  const auto& s = cfg.store;
  o.store.kind = s.kind;
  o.store.snapshot_file = s.snapshot_file;
  o.store.snapshot_interval = duration_cast<milliseconds>(s.snapshot_interval);
  o.store.url = s.url;
  o.store.ns = s.ns;
  o.store.key_prefix = s.key_prefix;
  o.store.replica = s.replica;
  return o;
}

sona::SonaConfig sona_options(const config::Sona& s) {
  std::optional<sona::SonaConfig> c = sona::preset(s.preset);
  if (!c) throw std::invalid_argument("unknown SONA preset \"" + s.preset + "\"");
  if (s.embedding_dim) c->embedding_dim = *s.embedding_dim;
  if (s.micro_lora_rank) c->micro_lora_rank = *s.micro_lora_rank;
  if (s.pattern_clusters) {
    c->pattern_clusters = *s.pattern_clusters;
    c->max_patterns = 10 * *s.pattern_clusters;
  }
  if (s.trajectory_capacity) c->trajectory_capacity = *s.trajectory_capacity;
  if (s.background_interval) c->background_interval = *s.background_interval;
  if (s.min_confidence) c->min_confidence = *s.min_confidence;
  return *c;
}

}  // namespace augur::proxy
