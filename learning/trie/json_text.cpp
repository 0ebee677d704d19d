#include "learning/trie/json_text.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace augur::trie::json_text {

void append_double(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  // std::to_chars gives the same shortest round-trip digits as Python's repr (both pick the
  // closest of the shortest candidates); only the layout differs, so re-lay them out here.
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));  // "-1.2345e+17"

  std::size_t i = 0;
  if (sci[i] == '-') {
    out += '-';
    ++i;
  }
  const std::size_t e_pos = sci.find('e');
  char digits[32];
  int ndigits = 0;
  for (; i < e_pos; ++i) {
    if (sci[i] != '.') digits[ndigits++] = sci[i];
  }
  int exponent = 0;
  std::from_chars(sci.data() + e_pos + 1 + (sci[e_pos + 1] == '+' ? 1 : 0), sci.data() + sci.size(),
                  exponent);
  const int decpt = exponent + 1;  // digits are 0.d1d2... x 10^decpt

  // CPython float_repr_style 'short', mode 'r': exponent form when decpt <= -4 or decpt > 16.
  if (decpt <= -4 || decpt > 16) {
    out += digits[0];
    if (ndigits > 1) {
      out += '.';
      out.append(digits + 1, static_cast<std::size_t>(ndigits - 1));
    }
    out += 'e';
    const int e = decpt - 1;
    out += e < 0 ? '-' : '+';
    const int mag = std::abs(e);
    if (mag < 10) out += '0';
    append_int(out, mag);
    return;
  }
  if (decpt <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-decpt), '0');
    out.append(digits, static_cast<std::size_t>(ndigits));
  } else if (decpt >= ndigits) {
    out.append(digits, static_cast<std::size_t>(ndigits));
    out.append(static_cast<std::size_t>(decpt - ndigits), '0');
    out += ".0";
  } else {
    out.append(digits, static_cast<std::size_t>(decpt));
    out += '.';
    out.append(digits + decpt, static_cast<std::size_t>(ndigits - decpt));
  }
}

void append_int(std::string& out, long long v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void append_uint(std::string& out, unsigned long long v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void append_int_or_null(std::string& out, std::optional<long long> v) {
  if (v) {
    append_int(out, *v);
  } else {
    out += "null";
  }
}

void append_uint_or_null(std::string& out, std::optional<unsigned long long> v) {
  if (v) {
    append_uint(out, *v);
  } else {
    out += "null";
  }
}

void newline_indent(std::string& out, int level) {
  out += '\n';
  out.append(static_cast<std::size_t>(level) * 2, ' ');
}

}  // namespace augur::trie::json_text
