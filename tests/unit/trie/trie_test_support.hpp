// Helpers shared by the trie unit tests: fixture files and small trie builders.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include "learning/trie/nat_json.hpp"

namespace augur::trie::test {

inline std::string data_path(const std::string& name) {
  return std::string(AUGUR_TRIE_TEST_DATA) + "/" + name;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline constexpr const char* kNatGenerated = "nat_generated_prediction_trie.json";
inline constexpr const char* kNemoFlowGolden = "nemo_flow_nat_golden_prediction_trie.json";

inline Trie load_fixture(const char* name) { return load_trie_file(data_path(name)); }

}  // namespace augur::trie::test
