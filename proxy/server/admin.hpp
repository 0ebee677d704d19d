// The admin listener's documents beyond health: Prometheus metrics, the JSON stats summary and the
// trie the proxy serves. Each is built on demand from atomics and immutable snapshots, so serving
// one never blocks the io threads.
#pragma once

#include <optional>
#include <string>

namespace augur::proxy {

class Server;

// GET /metrics: Prometheus text format 0.0.4 (content type kMetricsContentType). Thread-safe.
std::string metrics_document(const Server& server);

// GET /v1/augur/stats: uptime, config summary, upstream health, trie, proxy and learning counters
// as one JSON object (README, "Operations"). Thread-safe.
std::string stats_document(const Server& server);

// GET /v1/augur/agents: the agents inferred from conversations (fingerprint, name, tool names,
// calls, runs, first and last seen) and run counts by source.
std::string agents_document(const Server& server);

// GET /v1/augur/trie: NAT JSON of the trie the proxy serves now; nullopt when it has none.
// Thread-safe.
std::optional<std::string> trie_document(const Server& server);

}  // namespace augur::proxy
