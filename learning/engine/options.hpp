// What the learning thread is told at start: its own settings, independent of how augur's config
// file spells them (the proxy's server maps config::Config to these), so learning depends on no
// other component's types.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "learning/trie/builder.hpp"

namespace augur::learning {

struct StoreOptions {
  std::string kind = "memory";  // memory | redis
  std::string snapshot_file;    // memory: state saved here and loaded at start; empty: none
  std::chrono::milliseconds snapshot_interval{std::chrono::seconds(60)};
  std::string url = "redis://127.0.0.1:6379";
  std::string ns = "default";
  std::string key_prefix = "augur:";
  std::string replica;  // empty: hostname-pid
};

struct LearnerOptions {
  std::chrono::milliseconds rebuild_interval{std::chrono::seconds(60)};
  std::size_t rebuild_runs = 0;  // also rebuild after this many closed runs; 0 = interval only
  std::size_t queue_capacity = 65536;
  trie::BuilderLimits limits = trie::default_limits();
  std::size_t max_trie_bytes = 16 * 1024 * 1024;
  std::size_t max_state_bytes = 64 * 1024 * 1024;
  int sensitivity_scale = 5;
  std::chrono::milliseconds run_idle_timeout{std::chrono::seconds(30)};
  std::size_t max_runs = 100000;  // open runs at once
  StoreOptions store;
};

}  // namespace augur::learning
