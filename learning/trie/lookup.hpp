// Trie lookup with NAT's semantics (PredictionTrieLookup.find): walk the function path from the
// root while children match and return the deepest prediction found, exact call index first, the
// node's any-index aggregate second. This is on the request path: it never allocates and never
// writes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "learning/trie/prediction.hpp"
#include "learning/trie/trie.hpp"

namespace augur::trie {

struct LookupResult {
  // Points into the trie that was searched: valid as long as that trie (snapshot) is alive.
  const Prediction* prediction = nullptr;
  // exact:     from the node the whole path names, at the requested call index;
  // any_index: from the node the whole path names, its any-index aggregate;
  // ancestor:  from a node above it, not the root (the rest of the path is unknown to the trie
  //            or has no prediction): the prediction is NAT's, only the label is finer;
  // root:      from the root (whatever the path was).
  Source source = Source::root;
  std::uint32_t depth = 0;          // depth of the node that answered; 0 = root
  std::uint32_t matched_depth = 0;  // path names matched; < path.size() when the walk stopped early
};

// NAT lookup. `path` is the function path below the root (e.g. {"react_workflow", "react_agent"});
// `call_index` is 1-based (0 matches no exact entry). Returns nullopt only when no node on the
// walked chain has a prediction for the index or an any-index one (e.g. an empty trie).
// Thread-safe: reads only; no allocation, no exceptions.
std::optional<LookupResult> lookup(const Node& root, std::span<const std::string_view> path,
                                   std::uint32_t call_index) noexcept;

inline std::optional<LookupResult> lookup(const Trie& trie, std::span<const std::string_view> path,
                                          std::uint32_t call_index) noexcept {
  return lookup(trie.root, path, call_index);
}

}  // namespace augur::trie
