// What every fuzz target shares: a check that stays on in release builds and stops the run with a
// message libFuzzer records next to the crashing input, and the split of one input into parts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>

// Aborts (libFuzzer saves the input as crash-*) when `cond` is false. assert() would vanish under
// NDEBUG, and these checks are the point of the targets.
#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (false)

namespace augur::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits at the first `sep`: (before, after). No separator: (all, "").
inline std::pair<std::string_view, std::string_view> split_once(std::string_view s,
                                                                std::string_view sep) {
  const std::size_t at = s.find(sep);
  if (at == std::string_view::npos) return {s, {}};
  return {s.substr(0, at), s.substr(at + sep.size())};
}

}  // namespace augur::fuzz
