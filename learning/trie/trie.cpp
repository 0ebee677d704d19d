#include "learning/trie/trie.hpp"

#include <algorithm>
#include <utility>

namespace augur::trie {

std::size_t ChildMap::lower_bound(std::string_view name) const noexcept {
  const auto it = std::lower_bound(
      sorted_.begin(), sorted_.end(), name,
      [this](std::uint32_t index, std::string_view n) { return nodes_[index].name < n; });
  return static_cast<std::size_t>(it - sorted_.begin());
}

const Node* ChildMap::find(std::string_view name) const noexcept {
  const std::size_t pos = lower_bound(name);
  if (pos == sorted_.size()) return nullptr;
  const Node& node = nodes_[sorted_[pos]];
  return node.name == name ? &node : nullptr;
}

Node* ChildMap::find(std::string_view name) noexcept {
  return const_cast<Node*>(std::as_const(*this).find(name));
}

Node& ChildMap::get_or_add(std::string_view name) {
  const std::size_t pos = lower_bound(name);
  if (pos < sorted_.size() && nodes_[sorted_[pos]].name == name) return nodes_[sorted_[pos]];
  nodes_.push_back(Node{std::string(name), {}, {}, {}});
  sorted_.insert(sorted_.begin() + static_cast<std::ptrdiff_t>(pos),
                 static_cast<std::uint32_t>(nodes_.size() - 1));
  return nodes_.back();
}

Node* ChildMap::add(Node node) {
  const std::size_t pos = lower_bound(node.name);
  if (pos < sorted_.size() && nodes_[sorted_[pos]].name == node.name) return nullptr;
  nodes_.push_back(std::move(node));
  sorted_.insert(sorted_.begin() + static_cast<std::ptrdiff_t>(pos),
                 static_cast<std::uint32_t>(nodes_.size() - 1));
  return &nodes_.back();
}

bool ChildMap::operator==(const ChildMap& other) const {
  if (size() != other.size()) return false;
  // Both index vectors are sorted by name, so walking them in step compares name by name.
  for (std::size_t i = 0; i < sorted_.size(); ++i) {
    if (!(nodes_[sorted_[i]] == other.nodes_[other.sorted_[i]])) return false;
  }
  return true;
}

namespace {
std::size_t count_below(const Node& node) noexcept {
  std::size_t n = 1;
  for (const Node& child : node.children.nodes()) n += count_below(child);
  return n;
}
}  // namespace

std::size_t count_nodes(const Trie& trie) noexcept { return count_below(trie.root); }

}  // namespace augur::trie
