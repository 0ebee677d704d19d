// Fuzzes the builder-state reader (BuilderState::from_string): the accumulator state a replica
// reads from Redis or a snapshot file, which another process (or a damaged disk) wrote. A bad
// state must be a TrieError, nothing else; a state that loads must write back to a fixed point,
// and merged with itself must still build a trie augur can write and read back.
#include <chrono>
#include <string>

#include "fuzz/fuzz_check.hpp"
#include "learning/trie/builder.hpp"
#include "learning/trie/nat_json.hpp"

namespace trie = augur::trie;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  trie::BuilderState state;
  try {
    state = trie::BuilderState::from_string(augur::fuzz::as_text(data, size));
  } catch (const trie::TrieError&) {
    return 0;
  }
  const std::string text = state.to_string();
  const trie::BuilderState again = trie::BuilderState::from_string(text);
  FUZZ_CHECK(again.to_string() == text);
  FUZZ_CHECK(again.node_count() == state.node_count());

  // Two replicas that saw the same runs: the leader merges their states and publishes the trie
  // built from the merge (merged states are not stored: each replica stores only its own, and a
  // merge may count past what one state may hold).
  trie::BuilderState doubled = state;
  doubled.merge(again);
  FUZZ_CHECK(doubled.node_count() == state.node_count());

  const trie::Trie built = trie::Builder::from_state(std::move(doubled))
                               .build("fuzz", std::chrono::system_clock::time_point{});
  const std::string trie_text = trie::serialize_trie(built);
  FUZZ_CHECK(trie::parse_trie(trie_text) == built);
  return 0;
}
