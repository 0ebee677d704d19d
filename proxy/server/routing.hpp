// The routing snapshot: which upstreams a request may go to, chosen by path prefix and/or model
// (first matching route wins; no match: the first upstream), then least outstanding requests among
// those not marked down. Built once per config load, immutable afterwards, read by every thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "learning/trie/trie.hpp"
#include "proxy/context/request_info.hpp"
#include "proxy/server/upstream_pool.hpp"

namespace augur::proxy {

struct Routing {
  struct Route {
    std::string path_prefix;
    std::string model;
    std::vector<std::uint32_t> members;  // indices into upstreams
  };

  std::vector<std::shared_ptr<const UpstreamTarget>> upstreams;
  std::vector<Route> routes;
  std::vector<std::uint32_t> fallback;  // the first upstream, or empty when none

  // The candidate upstreams for a request. Thread-safe (const).
  std::span<const std::uint32_t> candidates(std::string_view target, std::string_view model) const;

  // Among candidates, the upstream with the fewest outstanding requests that is not down (it
  // refused a connection within the cool-down) and not in `exclude` (a bit per candidate
  // position, for failover). -1 when none is left.
  int pick(std::span<const std::uint32_t> candidates, std::uint64_t exclude,
           Clock::time_point now) const;
};

// Builds the snapshot for cfg. Upstreams whose name and URL are unchanged keep their health
// counters from `previous`. Throws std::runtime_error on a bad TLS setting.
std::shared_ptr<const Routing> build_routing(const config::Config& cfg, const Routing* previous);

// Everything a request needs that a SIGHUP may replace, swapped as one immutable value.
struct Runtime {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const Routing> routing;
  std::shared_ptr<const trie::Trie> trie;  // null: no trie yet (static fallbacks)
  std::uint64_t generation = 0;            // every publish: io threads refresh when it moves
  std::uint64_t config_generation = 0;     // configs loaded: 1 at start, +1 per accepted reload
  std::vector<AgentRule> agent_rules;      // context.agents, as the body reader takes them
};

}  // namespace augur::proxy
