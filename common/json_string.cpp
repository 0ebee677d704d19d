#include "common/json_string.hpp"

#include "common/printable.hpp"

namespace augur {

namespace {

void append_u_escape(std::string& out, unsigned code_unit) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(code_unit >> shift) & 0xF];
}

// Decodes one UTF-8 sequence at s[i]; returns the code point and advances i, or returns
// 0xFFFD and advances one byte when the sequence is invalid (overlong, surrogate, truncated).
char32_t decode_utf8(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  int len = 0;
  char32_t cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    ++i;
    return 0xFFFD;
  }
  if (i + static_cast<std::size_t>(len) > s.size()) {
    ++i;
    return 0xFFFD;
  }
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  const bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
  if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return 0xFFFD;
  }
  i += static_cast<std::size_t>(len);
  return cp;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  if (printable_ascii(s, /*json_plain=*/true)) {  // the usual id or name: one copy
    const std::size_t at = out.size();
    out.resize(at + s.size() + 2);
    out[at] = '"';
    s.copy(out.data() + at + 1, s.size());
    out.back() = '"';
    return;
  }
  out += '"';
  append_json_chars(out, s);
  out += '"';
}

void append_json_chars(std::string& out, std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      // Copy the longest run of plain ASCII in one go.
      std::size_t j = i + 1;
      while (j < s.size()) {
        const auto d = static_cast<unsigned char>(s[j]);
        if (d < 0x20 || d >= 0x7F || d == '"' || d == '\\') break;
        ++j;
      }
      out.append(s.data() + i, j - i);
      i = j;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        ++i;
        continue;
      case '\\':
        out += "\\\\";
        ++i;
        continue;
      case '\n':
        out += "\\n";
        ++i;
        continue;
      case '\r':
        out += "\\r";
        ++i;
        continue;
      case '\t':
        out += "\\t";
        ++i;
        continue;
      case '\b':
        out += "\\b";
        ++i;
        continue;
      case '\f':
        out += "\\f";
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x80) {  // other control characters and DEL
      append_u_escape(out, c);
      ++i;
      continue;
    }
    const char32_t cp = decode_utf8(s, i);
    if (cp >= 0x10000) {
      const char32_t v = cp - 0x10000;
      append_u_escape(out, 0xD800 + static_cast<unsigned>(v >> 10));
      append_u_escape(out, 0xDC00 + static_cast<unsigned>(v & 0x3FF));
    } else {
      append_u_escape(out, static_cast<unsigned>(cp));
    }
  }
}

}  // namespace augur
