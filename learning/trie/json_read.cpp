#include "learning/trie/json_read.hpp"

#include "learning/trie/trie.hpp"

namespace augur::trie::detail {

dom::element JsonReader::parse(dom::parser& parser, std::string_view text) {
  dom::element doc;
  if (const auto error = parser.parse(text.data(), text.size()).get(doc); error) {
    path_.fail(std::string("invalid JSON: ") + simdjson::error_message(error));
  }
  return doc;
}

std::uint32_t JsonReader::call_index_of(std::string_view key) {
  constexpr std::string_view kWhat = "call index must be a positive integer";
  if (key.empty() || key[0] == '0') path_.fail(kWhat);
  std::uint64_t v = 0;
  for (const char c : key) {
    if (c < '0' || c > '9') path_.fail(kWhat);
    if (v <= kMaxCallIndex) v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > kMaxCallIndex) path_.fail("call index is too large");
  return static_cast<std::uint32_t>(v);
}

void JsonReader::duplicate(std::string_view key) {
  path_.fail("duplicate key \"" + std::string(key) + "\"");
}

void JsonReader::missing(std::string_view key) {
  path_.fail("missing key \"" + std::string(key) + "\"");
}

}  // namespace augur::trie::detail
