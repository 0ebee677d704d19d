// Hashes for run inference: fast 64-bit hashes of bytes (XXH3), a mixer to chain them, and a
// hash of text by its words, so texts that differ only in spacing (or, masked, only in words that
// carry digits: dates, ids, counts) hash alike. Header-only (xxhash inlined): no library to link.
#pragma once

#include <cstdint>
#include <string_view>

#define XXH_INLINE_ALL
#include <xxhash.h>
#undef XXH_INLINE_ALL

namespace augur {

inline std::uint64_t hash_bytes(std::string_view s, std::uint64_t seed = 0) noexcept {
  return XXH3_64bits_withSeed(s.data(), s.size(), seed);
}

// Folds `v` into `h` (order matters: mix(mix(h, a), b) != mix(mix(h, b), a)).
inline std::uint64_t mix(std::uint64_t h, std::uint64_t v) noexcept {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 31);
}

// hash_bytes for the many short strings of a JSON message (keys, roles, ids): up to 16 bytes are
// read as two (overlapping) fixed-size loads and mixed inline, with no call; longer ones go to
// XXH3. With the length mixed in, the loads determine the string. Not equal to hash_bytes.
inline std::uint64_t hash_short(std::string_view s) noexcept {
  const std::size_t n = s.size();
  const char* p = s.data();
  if (n > 16) return hash_bytes(s);
  const auto load = [](const char* at, auto word) {
    __builtin_memcpy(&word, at, sizeof word);
    return static_cast<std::uint64_t>(word);
  };
  std::uint64_t lo = 0, hi = 0;
  if (n > 8) {
    lo = load(p, std::uint64_t{});
    hi = load(p + n - 8, std::uint64_t{});
  } else if (n >= 4) {
    lo = load(p, std::uint32_t{});
    hi = load(p + n - 4, std::uint32_t{});
  } else if (n > 0) {  // 1 to 3 bytes: the first, middle and last are all of them
    lo = static_cast<unsigned char>(p[0]) | static_cast<unsigned char>(p[n / 2]) << 8 |
         static_cast<unsigned char>(p[n - 1]) << 16;
  }
  return mix(mix(n, lo), hi);
}

// Text hashed word by word (ASCII blanks separate words). With `mask_digits`, a word holding an
// ASCII digit counts only as "a word was here": "Today is 2026-12-06, account 88412" and "Today is
// 2027-01-02, account 1337" hash alike. Continue a hash across pieces by passing it back as `h`.
inline std::uint64_t hash_words(std::string_view text, bool mask_digits,
                                std::uint64_t h = 0) noexcept {
  constexpr std::uint64_t kMasked = 0x6d61736b6564ull;  // "masked"
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    while (i < n && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r')) ++i;
    const std::size_t start = i;
    bool digit = false;
    while (i < n && text[i] != ' ' && text[i] != '\n' && text[i] != '\t' && text[i] != '\r') {
      digit = digit || (text[i] >= '0' && text[i] <= '9');
      ++i;
    }
    if (i == start) break;
    h = mix(h, mask_digits && digit ? kMasked : hash_bytes(text.substr(start, i - start)));
  }
  return h;
}

}  // namespace augur
