// Fuzzes the run-record reader (parse_run_record and the JSON Lines reader) and feeds what parses
// to the trie builder. A bad record must be a TrieError, nothing else; a record that parses must
// survive serialize -> parse unchanged; the trie built from it must be one augur can write and
// read back (the learning thread publishes exactly that).
#include <sstream>
#include <string>
#include <vector>

#include "fuzz/fuzz_check.hpp"
#include "learning/trie/builder.hpp"
#include "learning/trie/nat_json.hpp"
#include "learning/trie/run_record.hpp"

namespace trie = augur::trie;

namespace {

void check_round_trip(const trie::RunRecord& run) {
  const std::string line = trie::serialize_run_record(run);
  FUZZ_CHECK(line.find('\n') == std::string::npos);
  FUZZ_CHECK(trie::parse_run_record(line) == run);
}

void check_build(const std::vector<trie::RunRecord>& runs) {
  trie::Builder builder;
  for (const trie::RunRecord& run : runs) {
    try {
      builder.add_run(run);
    } catch (const trie::TrieError&) {
      // Documented: a path deeper than kMaxTrieDepth is refused before anything is accumulated.
    }
  }
  const trie::Trie built = builder.build("fuzz", std::chrono::system_clock::time_point{});
  const std::string text = trie::serialize_trie(built);
  FUZZ_CHECK(trie::parse_trie(text) == built);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = augur::fuzz::as_text(data, size);
  std::vector<trie::RunRecord> runs;
  try {
    runs.push_back(trie::parse_run_record(text));
  } catch (const trie::TrieError&) {
  }
  // The same bytes as a JSON Lines file: every line before the first bad one is delivered.
  std::istringstream in{std::string(text)};
  try {
    trie::read_runs_jsonl(in, [&](trie::RunRecord&& run) { runs.push_back(std::move(run)); });
  } catch (const trie::TrieError&) {
  }
  for (const trie::RunRecord& run : runs) check_round_trip(run);
  check_build(runs);
  return 0;
}
