// Comparing a parsed key or value with a string literal on the request path. The literal's length
// is a compile-time constant, so the comparison is a length check and a few inline word compares;
// `s == "role"` can end up as an out-of-line string_view::compare and a memcmp call per key.
#pragma once

#include <cstddef>
#include <string_view>

namespace augur {

template <std::size_t N>
inline bool is_literal(std::string_view s, const char (&literal)[N]) noexcept {
  return s.size() == N - 1 && __builtin_memcmp(s.data(), literal, N - 1) == 0;
}

}  // namespace augur
