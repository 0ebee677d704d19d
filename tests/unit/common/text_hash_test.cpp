// The hashes run inference keys conversations by: hash_short must see every byte of a short
// string (it reads up to 16 bytes as overlapping words), and hash_words ignores spacing.
#include "common/text_hash.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

namespace augur {
namespace {

TEST_CASE("hash_short: every byte and the length of strings up to 17 bytes count") {
  std::set<std::uint64_t> seen;
  std::size_t strings = 0;
  for (std::size_t n = 0; n <= 17; ++n) {
    const std::string base(n, 'a');
    seen.insert(hash_short(base));
    ++strings;
    for (std::size_t i = 0; i < n; ++i) {  // one byte changed, at each position in turn
      std::string s = base;
      s[i] = 'b';
      seen.insert(hash_short(s));
      ++strings;
    }
  }
  CHECK(seen.size() == strings);
  // A view into a longer buffer hashes only its own bytes.
  const std::string long_text = "roleXXXXXXXX";
  CHECK(hash_short(std::string_view(long_text).substr(0, 4)) == hash_short("role"));
}

TEST_CASE("hash_words: words count, spacing does not; masked words only count as words") {
  CHECK(hash_words("find  flights\n to Lisbon", false) ==
        hash_words("find flights to Lisbon", false));
  CHECK(hash_words("find flights to Porto", false) != hash_words("find flights to Lisbon", false));
  CHECK(hash_words("Today is 2026-12-06", true) == hash_words("Today is 2027-01-02", true));
  CHECK(hash_words("Today is 2026-12-06", false) != hash_words("Today is 2027-01-02", false));
}

}  // namespace
}  // namespace augur
