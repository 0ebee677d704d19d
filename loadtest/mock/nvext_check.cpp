// Dynamo's nvext check (nvext_check.hpp) as a walk over the member's text that follows serde_json's
// Deserializer step by step: the same order of checks, the same error texts, and the same idea of
// where an error is (a byte index, turned into "line L column C" the way serde_json does). A
// generic JSON parser would answer "is this valid" but not "which error first, and where", and
// the nvext value is small, so walking it costs next to nothing on the mock's request path.
//
// The contract (Dynamo lib/llm/src/protocols/common/extensions.rs): every field Option<T> with
// serde(default) except RoutingConstraints' two (defaulted, not Option: null is refused) and
// MetadataUpload.url (required, must not be blank after trim). Derived struct visitors also accept
// a JSON array, field by field in declaration order, so that is honoured too.
#include "loadtest/mock/nvext_check.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <system_error>

#include "loadtest/mock/request_scan.hpp"

namespace augur::mock {
namespace {

// serde_json's ErrorCode texts for the syntax errors the walk can meet.
constexpr std::string_view kEofValue = "EOF while parsing a value";
constexpr std::string_view kEofList = "EOF while parsing a list";
constexpr std::string_view kEofObject = "EOF while parsing an object";
constexpr std::string_view kEofString = "EOF while parsing a string";
constexpr std::string_view kExpectedColon = "expected `:`";
constexpr std::string_view kExpectedListCommaOrEnd = "expected `,` or `]`";
constexpr std::string_view kExpectedObjectCommaOrEnd = "expected `,` or `}`";
constexpr std::string_view kExpectedIdent = "expected ident";
constexpr std::string_view kExpectedValue = "expected value";
constexpr std::string_view kInvalidEscape = "invalid escape";
constexpr std::string_view kInvalidNumber = "invalid number";
constexpr std::string_view kNumberOutOfRange = "number out of range";
constexpr std::string_view kKeyMustBeString = "key must be a string";
constexpr std::string_view kLoneSurrogate = "lone leading surrogate in hex escape";
constexpr std::string_view kTrailingComma = "trailing comma";
constexpr std::string_view kTrailingCharacters = "trailing characters";
constexpr std::string_view kEndOfHexEscape = "unexpected end of hex escape";

// The Rust types the contract uses. string_seq is Vec<String> and HashSet<String> alike (serde
// reads both from a JSON array); url is MetadataUpload.url's String with its non-blank rule.
enum class Type : std::uint8_t {
  boolean,
  u32,
  u64,
  i32,
  f32,
  f64,
  string,
  url,
  string_seq,
  u32_seq,
  f32_map,
  nvext,
  agent_hints,
  metadata_upload,
  routing_constraints,
  router,
};

// How a field may be missing: Option<T> (absent, or null), serde(default) on a plain type
// (absent only), or not at all.
enum class Presence : std::uint8_t { option, defaulted, required };

struct Field {
  std::string_view name;
  Type type;
  Presence presence;
};

struct StructType {
  std::string_view expecting;  // serde_derive's "struct Name"
  std::span<const Field> fields;
};

// Declaration order matters: serde lists the fields in it ("expected one of ...") and reads the
// array form in it.
constexpr std::array kNvExtFields{
    Field{"greed_sampling", Type::boolean, Presence::option},
    Field{"use_raw_prompt", Type::boolean, Presence::option},
    Field{"annotations", Type::string_seq, Presence::option},
    Field{"backend_instance_id", Type::u64, Presence::option},
    Field{"token_data", Type::u32_seq, Presence::option},
    Field{"max_thinking_tokens", Type::u32, Presence::option},
    Field{"cache_salt", Type::string, Presence::option},
    Field{"extra_fields", Type::string_seq, Presence::option},
    Field{"metadata_upload", Type::metadata_upload, Presence::option},
    Field{"prefill_worker_id", Type::u64, Presence::option},
    Field{"decode_worker_id", Type::u64, Presence::option},
    Field{"dp_rank", Type::u32, Presence::option},
    Field{"prefill_dp_rank", Type::u32, Presence::option},
    Field{"agent_hints", Type::agent_hints, Presence::option},
    Field{"request_timestamp_ms", Type::f64, Presence::option},
    Field{"routing_constraints", Type::routing_constraints, Presence::option},
    Field{"router", Type::router, Presence::option},
};
constexpr std::array kAgentHintsFields{
    Field{"priority", Type::i32, Presence::option},
    Field{"strict_priority", Type::u32, Presence::option},
    Field{"osl", Type::u32, Presence::option},
    Field{"speculative_prefill", Type::boolean, Presence::option},
    Field{"latency_sensitivity", Type::f64, Presence::option},
};
constexpr std::array kMetadataUploadFields{Field{"url", Type::url, Presence::required}};
constexpr std::array kRoutingConstraintsFields{
    Field{"required_taints", Type::string_seq, Presence::defaulted},
    Field{"preferred_taints", Type::f32_map, Presence::defaulted},
};
constexpr std::array kRouterFields{
    Field{"ttft_target", Type::f64, Presence::option},
    Field{"itl_target", Type::f64, Presence::option},
};
constexpr std::size_t kMaxFields = kNvExtFields.size();

const StructType* struct_type(Type t) {
  static constexpr StructType kNvExt{"struct NvExt", kNvExtFields};
  static constexpr StructType kAgentHints{"struct AgentHints", kAgentHintsFields};
  static constexpr StructType kMetadataUpload{"struct MetadataUpload", kMetadataUploadFields};
  static constexpr StructType kRoutingConstraints{"struct RoutingConstraints",
                                                  kRoutingConstraintsFields};
  static constexpr StructType kRouter{"struct RouterParams", kRouterFields};
  switch (t) {
    case Type::nvext:
      return &kNvExt;
    case Type::agent_hints:
      return &kAgentHints;
    case Type::metadata_upload:
      return &kMetadataUpload;
    case Type::routing_constraints:
      return &kRoutingConstraints;
    case Type::router:
      return &kRouter;
    default:
      return nullptr;
  }
}

// What serde's visitor for the type says it expected.
std::string_view expecting(Type t) {
  switch (t) {
    case Type::boolean:
      return "a boolean";
    case Type::u32:
      return "u32";
    case Type::u64:
      return "u64";
    case Type::i32:
      return "i32";
    case Type::f32:
      return "f32";
    case Type::f64:
      return "f64";
    case Type::string:
    case Type::url:
      return "a string";
    case Type::string_seq:
    case Type::u32_seq:
      return "a sequence";
    case Type::f32_map:
      return "a map";
    default:
      return struct_type(t)->expecting;
  }
}

// A JSON number as serde_json classifies it: an integer without '.' or exponent that fits u64
// (non-negative) or i64 (negative) stays an integer; everything else, -0 included, is an f64.
struct Number {
  enum class Kind : std::uint8_t { u64, i64, f64 } kind = Kind::u64;
  std::uint64_t u = 0;
  std::int64_t i = 0;
  double f = 0;
};

// An f64 the way serde_json prints it in errors (the ryu crate): shortest round-trip digits,
// plain notation with ".0" for magnitudes in [1e-5, 1e16), else "1e30" / "1.5e-7".
std::string rust_float(double v) {
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  std::array<char, 64> buf{};
  const auto res = std::to_chars(buf.data(), buf.data() + buf.size(), v,
                                 std::chars_format::scientific);  // shortest: "-d.ddde+XX"
  std::string_view sci(buf.data(), static_cast<std::size_t>(res.ptr - buf.data()));
  std::string out;
  if (sci.front() == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  const std::size_t e = sci.find('e');
  std::string digits;
  for (const char c : sci.substr(0, e)) {
    if (c != '.') digits += c;
  }
  int exp10 = 0;
  std::string_view exp_text = sci.substr(e + 1);
  if (!exp_text.empty() && exp_text.front() == '+') exp_text.remove_prefix(1);
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp10);
  const int length = static_cast<int>(digits.size());
  const int kk = exp10 + 1;  // 10^(kk-1) <= |v| < 10^kk
  const int k = kk - length;
  if (k >= 0 && kk <= 16) {
    out += digits;
    out.append(static_cast<std::size_t>(k), '0');
    out += ".0";
  } else if (kk > 0 && kk <= 16) {
    out += std::string_view(digits).substr(0, static_cast<std::size_t>(kk));
    out += '.';
    out += std::string_view(digits).substr(static_cast<std::size_t>(kk));
  } else if (kk > -5 && kk <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-kk), '0');
    out += digits;
  } else {
    out += digits.front();
    if (length > 1) {
      out += '.';
      out += std::string_view(digits).substr(1);
    }
    out += 'e';
    out += std::to_string(kk - 1);
  }
  return out;
}

std::string describe(const Number& n) {
  switch (n.kind) {
    case Number::Kind::u64:
      return "integer `" + std::to_string(n.u) + "`";
    case Number::Kind::i64:
      return "integer `" + std::to_string(n.i) + "`";
    case Number::Kind::f64:
      break;
  }
  return "floating point `" + rust_float(n.f) + "`";
}

// Rust's {:?} of a str, as serde's "string \"...\"" shows it: quotes, backslash escapes, and
// \u{..} for control characters and the common invisible ones Rust does not count as printable
// (no-break and other spaces, combining diacritics, zero-width, bidi and other format marks,
// private use). Everything else is copied, so a rarer one (another combining block, a plane-14
// tag) shows raw.
std::string rust_debug(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  auto hex_escape = [&](char32_t cp) {
    out += "\\u{";
    bool digits = false;
    for (int shift = 20; shift >= 0; shift -= 4) {
      const unsigned nibble = (cp >> shift) & 0xF;
      if (nibble != 0 || digits || shift == 0) {
        out += kHex[nibble];
        digits = true;
      }
    }
    out += '}';
  };
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const char* plain = nullptr;
    switch (c) {
      case '"':
        plain = "\\\"";
        break;
      case '\\':
        plain = "\\\\";
        break;
      case '\n':
        plain = "\\n";
        break;
      case '\r':
        plain = "\\r";
        break;
      case '\t':
        plain = "\\t";
        break;
      case '\0':
        plain = "\\0";
        break;
      default:
        break;
    }
    if (plain != nullptr) {
      out += plain;
      ++i;
      continue;
    }
    if (c < 0x20 || c == 0x7F) {
      hex_escape(c);
      ++i;
      continue;
    }
    // Two- and three-byte sequences may be one of the invisible code points.
    char32_t cp = 0;
    std::size_t len = 1;
    if (c >= 0xC2 && c <= 0xDF && i + 1 < s.size()) {
      cp = ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3F);
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF && i + 2 < s.size()) {
      cp = ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3F);
      len = 3;
    }
    const bool invisible =
        (cp >= 0x80 && cp <= 0xA0) || cp == 0xAD || (cp >= 0x300 && cp <= 0x36F) ||
        (cp >= 0x600 && cp <= 0x605) || cp == 0x61C || cp == 0x6DD || cp == 0x70F || cp == 0x1680 ||
        cp == 0x180E || (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) ||
        (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 || (cp >= 0xE000 && cp <= 0xF8FF) ||
        cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB);
    if (invisible) {
      hex_escape(cp);
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  out += '"';
  return out;
}

// Whether Rust's str::trim() leaves nothing: every code point has the White_Space property.
bool blank(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      if (b0 != ' ' && (b0 < 0x09 || b0 > 0x0D)) return false;
      ++i;
      continue;
    }
    char32_t cp = 0;
    std::size_t len = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      cp = b0 & 0x1F;
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      cp = b0 & 0x0F;
      len = 3;
    } else {
      return false;  // four-byte code points have no white space; invalid bytes are not blank
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
    const bool space = cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
                       cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
    if (!space) return false;
    i += len;
  }
  return true;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_digit(int c) { return c >= '0' && c <= '9'; }

// A cursor over the whole body (positions count from its start, as serde_json's do) that reads
// one value the way serde_json's Deserializer reads a given Rust type. Every method returns false
// once an error is recorded; the first error wins, as it does in serde_json, where a container's
// closing check still runs (and moves the cursor) after its contents failed.
class Walker {
 public:
  Walker(std::string_view doc, std::size_t at) : s_(doc), i_(at) {}

  // Option<T>: null is None, anything else is read as T.
  bool option_of(Type t) {
    if (skip_ws() == 'n') {
      eat();
      return ident("ull");
    }
    return value(t);
  }

  bool value(Type t) {
    switch (t) {
      case Type::boolean:
        return boolean();
      case Type::u32:
      case Type::u64:
      case Type::i32:
      case Type::f32:
      case Type::f64:
        return number(t);
      case Type::string:
        return string(t, text_);
      case Type::url:
        if (!string(t, text_)) return false;
        return !blank(text_) || data_error("metadata_upload.url must not be empty");
      case Type::string_seq:
        return sequence(Type::string);
      case Type::u32_seq:
        return sequence(Type::u32);
      case Type::f32_map:
        return f32_map();
      default:
        return structure(*struct_type(t));
    }
  }

  // A string's contents after its opening quote: serde_json's parse_str (escapes checked; raw
  // control characters pass, since Dynamo retries a body after escaping them).
  bool string_contents(std::string& out) {
    out.clear();
    for (;;) {
      const std::size_t run = i_;
      while (i_ < s_.size() && s_[i_] != '"' && s_[i_] != '\\') ++i_;
      out.append(s_.substr(run, i_ - run));
      if (i_ == s_.size()) return error(kEofString);
      if (s_[i_++] == '"') return true;
      if (!escape(out)) return false;
    }
  }

  // After a repeated top-level "nvext" key: the error serde_derive raises there, positioned where
  // serde_json's closing check of the request object leaves the cursor (after white space).
  std::string repeated_nvext(std::size_t after_key) {
    i_ = after_key;
    skip_ws();
    data_error("duplicate field `nvext`");
    fix_position();
    return message();
  }

  // "<error> at line L column C": serde_json's Display, column = bytes before the index on its
  // line.
  std::string message() const {
    const std::string_view before = s_.substr(0, error_at_);
    const std::size_t line_start =
        before.rfind('\n') == std::string_view::npos ? 0 : before.rfind('\n') + 1;
    const auto line = 1 + std::count(before.begin(), before.end(), '\n');
    return error_ + " at line " + std::to_string(line) + " column " +
           std::to_string(error_at_ - line_start);
  }

 private:
  int peek() const { return i_ < s_.size() ? static_cast<unsigned char>(s_[i_]) : -1; }
  void eat() { ++i_; }
  int next() { return i_ < s_.size() ? static_cast<unsigned char>(s_[i_++]) : -1; }

  int skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
    return peek();
  }

  bool fail(std::string_view text, bool positioned, std::size_t at) {
    if (!failed_) {
      failed_ = true;
      positioned_ = positioned;
      error_ = text;
      error_at_ = at;
    }
    return false;
  }
  // A syntax error at the byte just read (serde_json's error) or the one peeked (peek_error).
  bool error(std::string_view code) { return fail(code, true, i_); }
  bool peek_error(std::string_view code) { return fail(code, true, std::min(s_.size(), i_ + 1)); }
  // A data error from a visitor: positioned later, by the innermost reader it unwinds through.
  bool data_error(std::string_view text) { return fail(text, false, 0); }
  void fix_position() {
    if (failed_ && !positioned_) {
      positioned_ = true;
      error_at_ = i_;
    }
  }

  bool ident(std::string_view rest) {
    for (const char expected : rest) {
      const int c = next();
      if (c < 0) return error(kEofValue);
      if (c != static_cast<unsigned char>(expected)) return error(kExpectedIdent);
    }
    return true;
  }

  bool hex4(unsigned& n) {
    if (i_ + 4 > s_.size()) {
      i_ = s_.size();
      return error(kEofString);
    }
    n = 0;
    for (int k = 0; k < 4; ++k) {
      const int c = next();
      unsigned v = 0;
      if (is_digit(c)) {
        v = static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v = static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v = static_cast<unsigned>(c - 'A' + 10);
      } else {
        return error(kInvalidEscape);
      }
      n = (n << 4) | v;
    }
    return true;
  }

  bool escape(std::string& out) {
    const int c = next();
    switch (c) {
      case -1:
        return error(kEofString);
      case '"':
      case '\\':
      case '/':
        out += static_cast<char>(c);
        return true;
      case 'b':
        out += '\b';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'n':
        out += '\n';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'u':
        break;
      default:
        return error(kInvalidEscape);
    }
    unsigned n1 = 0;
    if (!hex4(n1)) return false;
    if (n1 >= 0xDC00 && n1 <= 0xDFFF) return error(kLoneSurrogate);
    if (n1 < 0xD800 || n1 > 0xDBFF) {
      append_utf8(out, n1);
      return true;
    }
    for (const char expected : {'\\', 'u'}) {
      if (peek() < 0) return error(kEofString);
      if (next() != expected) return error(kEndOfHexEscape);
    }
    unsigned n2 = 0;
    if (!hex4(n2)) return false;
    if (n2 < 0xDC00 || n2 > 0xDFFF) return error(kLoneSurrogate);
    append_utf8(out, 0x10000 + ((n1 - 0xD800) << 10) + (n2 - 0xDC00));
    return true;
  }

  // serde_json's parse_integer and what follows it; `start` is where the number's text begins
  // (its '-', already consumed, or its first digit, not yet).
  bool parse_number(bool positive, std::size_t start, Number& n) {
    const int first = next();
    if (first < 0) return error(kEofValue);
    std::uint64_t significand = 0;
    bool long_integer = false;  // more digits than u64 holds: serde_json goes on as an f64
    if (first == '0') {
      if (is_digit(peek())) return peek_error(kInvalidNumber);
    } else if (first >= '1' && first <= '9') {
      significand = static_cast<std::uint64_t>(first - '0');
      while (is_digit(peek())) {
        const auto digit = static_cast<std::uint64_t>(peek() - '0');
        if (!long_integer && significand > (std::numeric_limits<std::uint64_t>::max() - digit) / 10)
          long_integer = true;
        if (!long_integer) significand = significand * 10 + digit;
        eat();
      }
    } else {
      return error(kInvalidNumber);
    }
    bool fraction_or_exponent = false;
    if (peek() == '.') {
      eat();
      if (!is_digit(peek())) return peek_error(peek() < 0 ? kEofValue : kInvalidNumber);
      while (is_digit(peek())) eat();
      fraction_or_exponent = true;
    }
    if (peek() == 'e' || peek() == 'E') {
      eat();
      if (peek() == '+' || peek() == '-') eat();
      const int d = next();
      if (d < 0) return error(kEofValue);
      if (!is_digit(d)) return error(kInvalidNumber);
      while (is_digit(peek())) eat();
      fraction_or_exponent = true;
    }
    if (!fraction_or_exponent && !long_integer) {
      if (positive) {
        n.kind = Number::Kind::u64;
        n.u = significand;
        return true;
      }
      const auto negated = static_cast<std::int64_t>(~significand + 1);  // i64 wrapping_neg
      if (negated >= 0) {                                                // -0, or below i64's range
        n.kind = Number::Kind::f64;
        n.f = -static_cast<double>(significand);
      } else {
        n.kind = Number::Kind::i64;
        n.i = negated;
      }
      return true;
    }
    n.kind = Number::Kind::f64;
    return to_f64(s_.substr(start, i_ - start), n.f) || error(kNumberOutOfRange);
  }

  // A well-formed JSON number's value; false when it is too large for an f64 (serde_json refuses
  // it, where a value too small for one becomes zero).
  static bool to_f64(std::string_view text, double& out) {
    const auto res = std::from_chars(text.data(), text.data() + text.size(), out);
    if (res.ec == std::errc{}) return !std::isinf(out);
    // Out of range either way: overflow when the first significant digit sits at 10^0 or above.
    const std::size_t e = text.find_first_of("eE");
    const std::string_view mantissa = text.substr(0, e);
    long long exponent = 0;
    if (e != std::string_view::npos) {
      std::string_view exp_text = text.substr(e + 1);
      if (!exp_text.empty() && exp_text.front() == '+') exp_text.remove_prefix(1);
      if (std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exponent).ec !=
          std::errc{}) {
        exponent = exp_text.front() == '-' ? std::numeric_limits<int>::min()
                                           : std::numeric_limits<int>::max();
      }
    }
    const std::size_t dot = std::min(mantissa.find('.'), mantissa.size());
    const std::size_t lead = mantissa.find_first_of("123456789");
    if (lead == std::string_view::npos) {
      out = 0;
      return true;
    }
    const long long magnitude =
        lead < dot ? static_cast<long long>(dot - lead) : -static_cast<long long>(lead - dot - 1);
    if (magnitude + exponent > 0) return false;
    out = text.front() == '-' ? -0.0 : 0.0;
    return true;
  }

  // serde's primitive visitors: integers range-checked, floats refused for integer types.
  bool visit(Type t, const Number& n) {
    if (t == Type::f32 || t == Type::f64) return true;
    if (n.kind == Number::Kind::f64) return invalid("invalid type: ", describe(n), t);
    bool fits = false;
    switch (t) {
      case Type::u32:
        fits = n.kind == Number::Kind::u64 && n.u <= std::numeric_limits<std::uint32_t>::max();
        break;
      case Type::u64:
        fits = n.kind == Number::Kind::u64;
        break;
      case Type::i32:
        fits = n.kind == Number::Kind::u64
                   ? n.u <= static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())
                   : n.i >= std::numeric_limits<std::int32_t>::min();
        break;
      default:
        break;
    }
    return fits || invalid("invalid value: ", describe(n), t);
  }

  bool invalid(std::string_view what, std::string_view unexpected, Type t) {
    std::string text(what);
    text += unexpected;
    text += ", expected ";
    text += expecting(t);
    return data_error(text);
  }

  // serde_json's peek_invalid_type: reads the offending value to name it.
  bool invalid_type(std::string_view expected) {
    std::string unexpected;
    const std::size_t start = i_;
    switch (peek()) {
      case 'n':
        eat();
        if (!ident("ull")) return false;
        unexpected = "null";
        break;
      case 't':
        eat();
        if (!ident("rue")) return false;
        unexpected = "boolean `true`";
        break;
      case 'f':
        eat();
        if (!ident("alse")) return false;
        unexpected = "boolean `false`";
        break;
      case '"':
        eat();
        if (!string_contents(text_)) return false;
        unexpected = "string " + rust_debug(text_);
        break;
      case '[':
        unexpected = "sequence";
        break;
      case '{':
        unexpected = "map";
        break;
      default: {
        const int c = peek();
        if (c != '-' && !is_digit(c)) return peek_error(kExpectedValue);
        if (c == '-') eat();
        Number n;
        if (!parse_number(c != '-', start, n)) return false;
        unexpected = describe(n);
      }
    }
    std::string text = "invalid type: " + unexpected + ", expected ";
    text += expected;
    data_error(text);
    fix_position();
    return false;
  }

  bool boolean() {
    const int c = skip_ws();
    if (c < 0) return peek_error(kEofValue);
    bool ok = false;
    if (c == 't' || c == 'f') {
      eat();
      ok = ident(c == 't' ? "rue" : "alse");
    } else {
      ok = invalid_type(expecting(Type::boolean));
    }
    if (!ok) fix_position();
    return ok;
  }

  bool number(Type t) {
    const int c = skip_ws();
    if (c < 0) return peek_error(kEofValue);
    bool ok = false;
    if (c == '-' || is_digit(c)) {
      const std::size_t start = i_;
      if (c == '-') eat();
      Number n;
      if (!parse_number(c != '-', start, n)) return false;
      ok = visit(t, n);
    } else {
      ok = invalid_type(expecting(t));
    }
    if (!ok) fix_position();
    return ok;
  }

  bool string(Type t, std::string& out) {
    const int c = skip_ws();
    if (c < 0) return peek_error(kEofValue);
    bool ok = false;
    if (c == '"') {
      eat();
      ok = string_contents(out);
    } else {
      ok = invalid_type(expecting(t));
    }
    if (!ok) fix_position();
    return ok;
  }

  // SeqAccess::next_element: false on a syntax error; `more` false at the closing ']'.
  bool next_element(bool& first, bool& more) {
    int c = skip_ws();
    more = false;
    if (c == ']') return true;
    if (c == ',' && !first) {
      eat();
      c = skip_ws();
    } else if (c < 0) {
      return peek_error(kEofList);
    } else if (first) {
      first = false;
    } else {
      return peek_error(kExpectedListCommaOrEnd);
    }
    if (c == ']') return peek_error(kTrailingComma);
    if (c < 0) return peek_error(kEofValue);
    more = true;
    return true;
  }

  // MapAccess::next_key up to the key's opening quote, which it consumes.
  bool next_key(bool& first, bool& more) {
    int c = skip_ws();
    more = false;
    if (c == '}') return true;
    if (c == ',' && !first) {
      eat();
      c = skip_ws();
    } else if (c < 0) {
      return peek_error(kEofObject);
    } else if (first) {
      first = false;
    } else {
      return peek_error(kExpectedObjectCommaOrEnd);
    }
    if (c == '"') {
      eat();
      more = true;
      return true;
    }
    if (c == '}') return peek_error(kTrailingComma);
    if (c < 0) return peek_error(kEofValue);
    return peek_error(kKeyMustBeString);
  }

  bool colon() {
    const int c = skip_ws();
    if (c == ':') {
      eat();
      return true;
    }
    return peek_error(c < 0 ? kEofObject : kExpectedColon);
  }

  bool end_seq() {
    const int c = skip_ws();
    if (c == ']') {
      eat();
      return true;
    }
    if (c == ',') {
      eat();
      return peek_error(skip_ws() == ']' ? kTrailingComma : kTrailingCharacters);
    }
    return peek_error(c < 0 ? kEofList : kTrailingCharacters);
  }

  bool end_map() {
    const int c = skip_ws();
    if (c == '}') {
      eat();
      return true;
    }
    return peek_error(c == ',' ? kTrailingComma : c < 0 ? kEofObject : kTrailingCharacters);
  }

  bool sequence(Type element) {
    const int c = skip_ws();
    if (c < 0) return peek_error(kEofValue);
    bool ok = true;
    if (c == '[') {
      eat();
      bool first = true, more = true;
      while (ok && (ok = next_element(first, more)) && more) ok = value(element);
      ok = end_seq() && ok;
    } else {
      ok = invalid_type(expecting(Type::string_seq));
    }
    if (!ok) fix_position();
    return ok;
  }

  bool f32_map() {
    const int c = skip_ws();
    if (c < 0) return peek_error(kEofValue);
    bool ok = true;
    if (c == '{') {
      eat();
      bool first = true, more = true;
      while (ok && (ok = next_key(first, more)) && more) {
        ok = string_contents(key_) && colon() && value(Type::f32);
      }
      ok = end_map() && ok;
    } else {
      ok = invalid_type(expecting(Type::f32_map));
    }
    if (!ok) fix_position();
    return ok;
  }

  bool structure(const StructType& st) {
    const int c = skip_ws();
    if (c < 0) return peek_error(kEofValue);
    bool ok = false;
    if (c == '[') {
      eat();
      ok = fields_from_array(st);
      ok = end_seq() && ok;
    } else if (c == '{') {
      eat();
      ok = fields_from_object(st);
      ok = end_map() && ok;
    } else {
      ok = invalid_type(st.expecting);
    }
    if (!ok) fix_position();
    return ok;
  }

  bool field_value(const Field& f) {
    return f.presence == Presence::option ? option_of(f.type) : value(f.type);
  }

  // serde_derive's visit_map with deny_unknown_fields.
  bool fields_from_object(const StructType& st) {
    std::array<bool, kMaxFields> seen{};
    bool first = true, more = true;
    for (;;) {
      if (!next_key(first, more)) return false;
      if (!more) break;
      if (!string_contents(key_)) return false;
      const auto it = std::find_if(st.fields.begin(), st.fields.end(),
                                   [&](const Field& f) { return f.name == key_; });
      if (it == st.fields.end()) return unknown_field(st);
      const auto index = static_cast<std::size_t>(it - st.fields.begin());
      if (seen[index]) return data_error("duplicate field `" + std::string(it->name) + "`");
      seen[index] = true;
      if (!colon() || !field_value(*it)) return false;
    }
    for (std::size_t k = 0; k < st.fields.size(); ++k) {
      if (st.fields[k].presence == Presence::required && !seen[k]) {
        return data_error("missing field `" + std::string(st.fields[k].name) + "`");
      }
    }
    return true;
  }

  // serde_derive's visit_seq: one element per field, in order; missing trailing elements take
  // the field's default, extra ones are left for the closing check to refuse.
  bool fields_from_array(const StructType& st) {
    bool first = true, more = true;
    for (std::size_t k = 0; k < st.fields.size(); ++k) {
      if (!next_element(first, more)) return false;
      if (!more) {
        if (st.fields[k].presence != Presence::required) continue;
        const std::size_t n = st.fields.size();
        return data_error("invalid length " + std::to_string(k) + ", expected " +
                          std::string(st.expecting) + " with " + std::to_string(n) +
                          (n == 1 ? " element" : " elements"));
      }
      if (!field_value(st.fields[k])) return false;
    }
    return true;
  }

  // serde's "unknown field `x`, expected one of `a`, `b`" (or "`a` or `b`", or "`a`").
  bool unknown_field(const StructType& st) {
    std::string text = "unknown field `" + key_ + "`, expected ";
    if (st.fields.size() > 2) text += "one of ";
    for (std::size_t k = 0; k < st.fields.size(); ++k) {
      if (k > 0) text += st.fields.size() == 2 ? " or " : ", ";
      text += '`';
      text += st.fields[k].name;
      text += '`';
    }
    return data_error(text);
  }

  std::string_view s_;
  std::size_t i_;
  bool failed_ = false, positioned_ = false;
  std::string error_;
  std::size_t error_at_ = 0;
  std::string key_, text_;  // scratch for keys and string values
};

}  // namespace

bool decode_json_string(std::string_view quoted, std::string& out) {
  return Walker(quoted, 0).string_contents(out);
}

std::optional<std::string> dynamo_nvext_error(std::string_view body, const RequestFields& fields) {
  if (fields.nvext.data() == nullptr) return std::nullopt;
  Walker walker(body, static_cast<std::size_t>(fields.nvext.data() - body.data()));
  if (!walker.option_of(Type::nvext)) return walker.message();
  const std::string_view again = fields.nvext_repeat_key;
  if (again.data() == nullptr) return std::nullopt;
  return walker.repeated_nvext(static_cast<std::size_t>(again.data() - body.data()) + again.size() +
                               1);
}

std::optional<std::string> dynamo_nvext_error(std::string_view body) {
  return dynamo_nvext_error(body, scan_request(body));
}

}  // namespace augur::mock
