// Fuzzes the NAT prediction_trie.json reader (parse_trie). A malformed file must be a TrieError,
// nothing else; a file that parses must survive serialize -> parse unchanged (augur rewrites tries
// it reads, and other replicas read what it writes), and lookups on it must work.
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.hpp"
#include "learning/trie/lookup.hpp"
#include "learning/trie/nat_json.hpp"

namespace trie = augur::trie;

namespace {

// Walks the first child at every level (the deepest path a lookup can take in this trie).
std::vector<std::string_view> first_path(const trie::Node& root) {
  std::vector<std::string_view> path;
  for (const trie::Node* n = &root; !n->children.empty(); n = &n->children.nodes()[0]) {
    path.push_back(n->children.nodes()[0].name);
  }
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  trie::Trie parsed;
  try {
    parsed = trie::parse_trie(augur::fuzz::as_text(data, size));
  } catch (const trie::TrieError&) {
    return 0;
  }
  const std::string text = trie::serialize_trie(parsed);
  const trie::Trie again = trie::parse_trie(text);
  FUZZ_CHECK(again == parsed);
  FUZZ_CHECK(trie::serialize_trie(again) == text);

  const std::vector<std::string_view> path = first_path(parsed.root);
  FUZZ_CHECK(path.size() <= trie::kMaxTrieDepth);
  for (std::uint32_t index : {0u, 1u, 2u, trie::kMaxCallIndex}) {
    if (auto hit = trie::lookup(parsed, path, index)) {
      FUZZ_CHECK(hit->depth <= hit->matched_depth && hit->matched_depth == path.size());
    }
  }
  FUZZ_CHECK(trie::count_nodes(parsed) >= path.size() + 1);
  return 0;
}
