// The prediction trie in memory: NAT's PredictionTrieNode tree and the prediction_trie.json
// envelope. A Trie is built once (from a file or by the Builder) and then published read-only as a
// TrieSnapshot; lookups (lookup.hpp) only ever read it, so any number of threads may share one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "learning/trie/prediction.hpp"

namespace augur::trie {

// The envelope version NAT writes (serialization.py CURRENT_VERSION) and the only major we read.
inline constexpr std::string_view kTrieFormatVersion = "1.0";

// Deepest node below the root that a trie may have; deeper files are rejected as malformed. Real
// agent stacks are a handful of functions deep; the bound keeps recursion in every reader finite.
inline constexpr std::size_t kMaxTrieDepth = 64;

// Largest call index accepted anywhere (file keys, run records); NAT's Rust port stores u32.
inline constexpr std::uint32_t kMaxCallIndex = 2'147'483'647;

// Bounds on a metric in a trie file. Readers reject values beyond them as corrupt (1e15 ms is
// 31,000 years; 2^53 is the last count a double, hence Python, holds exactly), and the builder
// clamps what it writes to them, so every trie augur publishes is one augur can read back.
inline constexpr double kMaxMetricValue = 1e15;
inline constexpr std::uint64_t kMaxSampleCount = std::uint64_t{1} << 53;

// Every reader in this component reports malformed input with this exception; the message names
// the offending field, e.g. `root.children.agent.predictions_by_call_index."x": call index must be
// a positive integer`.
class TrieError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Node;

// A node's children: name -> Node. Iterates in insertion (document) order so a file read and
// written again keeps its order; finds by name in O(log n) with a string_view (no temporary
// std::string). Const members are safe to call concurrently; mutating ones need exclusive access.
class ChildMap {
 public:
  // The child called `name`, or nullptr. Never allocates; safe to call concurrently on a shared
  // trie.
  const Node* find(std::string_view name) const noexcept;
  Node* find(std::string_view name) noexcept;

  // The child called `name`, appended (empty, named `name`) when absent. Appending invalidates
  // pointers and references to this map's other children.
  Node& get_or_add(std::string_view name);

  // Appends `node` under its own name; nullptr (and nothing added) when that name exists already.
  Node* add(Node node);

  std::size_t size() const noexcept { return sorted_.size(); }
  bool empty() const noexcept { return sorted_.empty(); }
  std::span<const Node> nodes() const noexcept;  // insertion order
  std::span<Node> nodes() noexcept;

  // Same names with equal nodes; the order of insertion does not matter (JSON objects are
  // unordered).
  bool operator==(const ChildMap& other) const;

 private:
  // Position in sorted_ of the first child whose name is not less than `name`.
  std::size_t lower_bound(std::string_view name) const noexcept;

  std::vector<Node> nodes_;            // insertion order
  std::vector<std::uint32_t> sorted_;  // indices into nodes_, ordered by name
};

// NAT's PredictionTrieNode.
struct Node {
  std::string name;
  std::map<std::uint32_t, Prediction> predictions_by_call_index;  // 1-based call index, ordered
  std::optional<Prediction> predictions_any_index;  // aggregate over all indices; null in JSON
  ChildMap children;

  bool operator==(const Node&) const = default;
};

// The prediction_trie.json envelope.
struct Trie {
  std::string version{kTrieFormatVersion};
  std::string generated_at;  // ISO-8601 UTC, e.g. "2026-03-31T12:00:00+00:00"
  std::string workflow_name;
  Node root{"root", {}, {}, {}};

  bool operator==(const Trie&) const = default;
};

// What the request path holds: an immutable trie, replaced wholesale (atomic shared_ptr swap) when
// learning publishes a new one. Nothing reachable from it is ever mutated.
using TrieSnapshot = std::shared_ptr<const Trie>;

// Number of nodes, root included (the augur_trie_nodes gauge). Thread-safe on a shared trie.
std::size_t count_nodes(const Trie& trie) noexcept;

inline std::span<const Node> ChildMap::nodes() const noexcept { return nodes_; }
inline std::span<Node> ChildMap::nodes() noexcept { return nodes_; }

}  // namespace augur::trie
