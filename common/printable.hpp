// Whether a short string can be written as it is: every byte printable ASCII (0x20..0x7E), and
// for a JSON string body also no '"' or '\\'. Run ids and path names are checked this way on every
// request (sanitising, hint values, nvext), so the check runs 16 bytes at a time where SSE2 is
// available.
#pragma once

#include <cstddef>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace augur {

inline bool printable_ascii(std::string_view s, bool json_plain = false) {
  const char* p = s.data();
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7F);
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
  for (; i + 16 <= s.size(); i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    // Signed: bytes from 0x80 up are negative, so "less than 0x20" catches them with the controls.
    __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, del));
    if (json_plain) {
      bad = _mm_or_si128(bad, _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    }
    if (_mm_movemask_epi8(bad) != 0) return false;
  }
#endif
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (c < 0x20 || c > 0x7E || (json_plain && (c == '"' || c == '\\'))) return false;
  }
  return true;
}

}  // namespace augur
