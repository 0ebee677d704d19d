// The prediction for one call: the trie snapshot's answer (NAT lookup) turned into hint values,
// refined by SONA where its patterns are confident — always when the trie's answer is weak (from
// an ancestor, the root, static, or few samples), at a lower confidence bar then. Pure apart from
// SONA's own counters and its per-thread reuse of suggestions; thread-safe.
#pragma once

#include <cstddef>

#include "learning/trie/trie.hpp"
#include "proxy/context/call_context.hpp"
#include "proxy/context/request_info.hpp"
#include "proxy/hints/inject.hpp"

namespace augur::sona {
class Engine;
}

namespace augur::proxy {

// A trie answer with fewer output-token samples than this counts as weak.
inline constexpr std::uint64_t kWeakSamples = 5;

// `trie` may be null (none yet: static fallbacks); `sona` may be null (sona.enabled false): then
// exactly the trie-only hints. `cfg` gives the static fallbacks, the sensitivity scale and the
// dynamo: section. `now` dates SONA's per-thread reuse of its suggestions.
Hints predict(const config::Config& cfg, const trie::Trie* trie, const CallContext& ctx,
              const RequestInfo& info, std::size_t body_bytes, const sona::Engine* sona,
              Clock::time_point now);

}  // namespace augur::proxy
