#include "learning/trie/lookup.hpp"

namespace augur::trie {

namespace {

// NAT's per-node rule: the exact call index, else the node's aggregate (which may be absent).
const Prediction* prediction_at(const Node& node, std::uint32_t call_index, bool& exact) noexcept {
  if (const auto it = node.predictions_by_call_index.find(call_index);
      it != node.predictions_by_call_index.end()) {
    exact = true;
    return &it->second;
  }
  exact = false;
  return node.predictions_any_index ? &*node.predictions_any_index : nullptr;
}

}  // namespace

std::optional<LookupResult> lookup(const Node& root, std::span<const std::string_view> path,
                                   std::uint32_t call_index) noexcept {
  bool exact = false;
  const Prediction* best = prediction_at(root, call_index, exact);
  bool best_exact = exact;
  std::uint32_t best_depth = 0;

  const Node* node = &root;
  std::uint32_t depth = 0;
  for (const std::string_view name : path) {
    const Node* child = node->children.find(name);
    if (child == nullptr) break;  // NAT: a miss freezes the answer; no skipping ahead
    node = child;
    ++depth;
    if (const Prediction* p = prediction_at(*node, call_index, exact)) {
      best = p;
      best_exact = exact;
      best_depth = depth;
    }
  }
  if (best == nullptr) return std::nullopt;

  Source source;
  if (best_depth == 0) {
    source = Source::root;
  } else if (best_depth < path.size()) {
    // The answer belongs to a node above the one asked for (the rest of the path is unknown or
    // has no prediction): weaker evidence, which SONA and operators must be able to tell apart.
    source = Source::ancestor;
  } else {
    source = best_exact ? Source::exact : Source::any_index;
  }
  return LookupResult{best, source, best_depth, depth};
}

}  // namespace augur::trie
