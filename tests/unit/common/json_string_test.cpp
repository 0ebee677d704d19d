// The JSON string writer every component shares, and the printable-ASCII check behind its fast
// path: Python's json.dumps spelling (ensure_ascii), valid output for any input bytes.
#include "common/json_string.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>

#include "common/printable.hpp"

namespace augur {
namespace {

TEST_CASE("python json string escaping (ensure_ascii)") {
  std::string s;
  append_json_string(s, "\xc3\xa9\x01\x7f\xf0\x9f\x98\x80\"\\\n/");
  // json.dumps("é\x01\x7f😀\"\\\n/")
  CHECK(s == R"("\u00e9\u0001\u007f\ud83d\ude00\"\\\n/")");
  s.clear();
  append_json_string(s, "bad\xff");
  CHECK(s == R"("bad\ufffd")");
}

TEST_CASE("plain ids are copied whole; quotes-less form for text built in pieces") {
  std::string s;
  append_json_string(s, "run-1/agent");
  CHECK(s == R"("run-1/agent")");
  s.clear();
  append_json_chars(s, "a\"b\t");
  CHECK(s == R"(a\"b\t)");
}

TEST_CASE("every byte string becomes a JSON string of ASCII bytes") {
  std::mt19937 rng(11);
  for (int n = 0; n < 5000; ++n) {
    std::string in(rng() % 40, ' ');
    for (auto& c : in) c = static_cast<char>(rng() % 256);
    std::string out;
    append_json_string(out, in);
    CAPTURE(in);
    REQUIRE(out.size() >= 2);
    CHECK(out.front() == '"');
    CHECK(out.back() == '"');
    CHECK(std::all_of(out.begin(), out.end(),
                      [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; }));
  }
}

TEST_CASE("printable_ascii agrees with a byte-by-byte check") {
  std::mt19937 rng(7);
  const auto reference = [](std::string_view s, bool json) {
    return std::all_of(s.begin(), s.end(), [&](unsigned char c) {
      return c >= 0x20 && c <= 0x7E && !(json && (c == '"' || c == '\\'));
    });
  };
  int printable = 0;
  for (int n = 0; n < 20000; ++n) {
    std::string s(rng() % 48, ' ');  // across the 16-byte blocks and the tail
    for (auto& c : s) {
      // Mostly printable, now and then any byte: both answers come up often.
      c = static_cast<char>(rng() % 48 == 0 ? rng() % 256 : 0x20 + rng() % 95);
    }
    CAPTURE(s);
    CHECK(printable_ascii(s) == reference(s, false));
    CHECK(printable_ascii(s, true) == reference(s, true));
    printable += reference(s, false);
  }
  CHECK(printable > 2000);
  CHECK(printable < 18000);
}

}  // namespace
}  // namespace augur
