#include "proxy/http/http1_parser.hpp"

#include <emmintrin.h>

#include <algorithm>
#include <array>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <cstring>
#include <limits>

#include "proxy/http/request_head.hpp"  // ascii_iequals

namespace augur::proxy {

namespace http = boost::beast::http;
using boost::beast::error_code;
using field = http::field;

namespace {

// Byte classes (RFC 9110 token, request-target and field-value characters, as Beast has them).
constexpr std::uint8_t kToken = 1, kHex = 2;

constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool token = alnum;
    for (const char x : std::string_view("!#$%&'*+-.^_`|~")) token |= c == x;
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    t[c] = static_cast<std::uint8_t>((token ? kToken : 0) | (hex ? kHex : 0));
  }
  return t;
}
constexpr auto kClass = make_classes();

bool is_token(char c) { return kClass[static_cast<unsigned char>(c)] & kToken; }
bool is_ws(char c) { return c == ' ' || c == '\t'; }

const char* skip_tokens(const char* p, const char* last) {
  while (p < last && is_token(*p)) ++p;
  return p;
}

// The end of the field name at p: 16 bytes at a time while they are letters, digits or '-' (all
// of any usual name), then byte by byte over the other token characters.
const char* scan_name(const char* p, const char* last) {
  const __m128i a = _mm_set1_epi8('a'), z = _mm_set1_epi8(25), zero = _mm_set1_epi8('0'),
                nine = _mm_set1_epi8(9), dash = _mm_set1_epi8('-'), fold = _mm_set1_epi8(0x20);
  while (last - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i l = _mm_sub_epi8(_mm_or_si128(v, fold), a);
    const __m128i d = _mm_sub_epi8(v, zero);
    const __m128i ok = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(l, z), l),
                                                 _mm_cmpeq_epi8(_mm_min_epu8(d, nine), d)),
                                    _mm_cmpeq_epi8(v, dash));
    const int stop = ~_mm_movemask_epi8(ok) & 0xffff;
    if (stop) {
      p += __builtin_ctz(static_cast<unsigned>(stop));
      break;
    }
    p += 16;
  }
  return skip_tokens(p, last);
}

// The first byte in [p, last) that may not appear in a field value or reason phrase (a control
// character other than HTAB, or DEL), or `last`.
const char* scan_value(const char* p, const char* last) {
  const __m128i ctl = _mm_set1_epi8(0x1f), tab = _mm_set1_epi8('\t'), del = _mm_set1_epi8(0x7f);
  while (last - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i low = _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v);  // v <= 0x1f
    const __m128i bad =
        _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), low), _mm_cmpeq_epi8(v, del));
    if (const int mask = _mm_movemask_epi8(bad)) return p + __builtin_ctz(mask);
    p += 16;
  }
  for (; p < last; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return p;
  }
  return last;
}

// The first byte in [p, last) that may not appear in a request target (SP, controls, DEL).
const char* scan_target(const char* p, const char* last) {
  const __m128i sp = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
  while (last - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i bad =
        _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, sp), v), _mm_cmpeq_epi8(v, del));
    if (const int mask = _mm_movemask_epi8(bad)) return p + __builtin_ctz(mask);
    p += 16;
  }
  for (; p < last; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c <= 0x20 || c == 0x7f) return p;
  }
  return last;
}

// Case-insensitive comparison with a lower-case literal of token characters (`|0x20` folds only
// letters among token characters; '-' is unchanged).

// The first "\r\n\r\n" starting at or after `from` within [from, last); returns its end.
const char* find_eom(const char* from, const char* last) {
  if (last - from < 4) return nullptr;
  for (const char* q = from + 3; q < last;) {
    q = static_cast<const char*>(std::memchr(q, '\n', static_cast<std::size_t>(last - q)));
    if (!q) return nullptr;
    if (q[-1] == '\r' && q[-2] == '\n' && q[-3] == '\r') return q + 1;
    ++q;
  }
  return nullptr;
}

// basic_parser's find_eol: past the first CRLF; bad_line_ending for a CR without LF.
const char* find_eol(const char* it, const char* last, error_code& ec) {
  it = static_cast<const char*>(std::memchr(it, '\r', static_cast<std::size_t>(last - it)));
  if (!it || it + 1 == last) return nullptr;
  if (it[1] != '\n') {
    ec = http::error::bad_line_ending;
    return nullptr;
  }
  return it + 2;
}

bool parse_dec(std::string_view s, std::uint64_t& v) {
  if (s.empty()) return false;
  std::uint64_t tmp = 0;
  for (const char c : s) {
    if (static_cast<unsigned char>(c - '0') >= 10 ||
        tmp > std::numeric_limits<std::uint64_t>::max() / 10) {
      return false;
    }
    tmp *= 10;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (std::numeric_limits<std::uint64_t>::max() - tmp < d) return false;
    tmp += d;
  }
  v = tmp;
  return true;
}

int unhex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parse_hex(const char*& it, std::uint64_t& v) {
  int d = unhex(*it);
  if (d < 0) return false;
  std::uint64_t tmp = 0;
  do {
    if (tmp > std::numeric_limits<std::uint64_t>::max() / 16) return false;
    tmp = tmp * 16 + static_cast<std::uint64_t>(d);
  } while ((d = unhex(*++it)) >= 0);
  v = tmp;
  return true;
}

// basic_parser's parse_chunk_extensions over a line whose CR is at `cr`. Beast lets a quoted
// string run past the CR (and then rejects the chunk, or waits for more bytes forever); this
// stops at the CR and rejects at once.
bool parse_chunk_extensions(const char*& it, const char* cr) {
  for (;;) {
    if (*it != ' ' && *it != '\t' && *it != ';') return true;
    while (is_ws(*it)) ++it;
    if (*it != ';') return false;
    for (;;) {  // after ';'
      ++it;
      while (is_ws(*it)) ++it;
      if (!is_token(*it)) return false;
      it = skip_tokens(it + 1, cr + 1);
      bool bws = false;
      if (is_ws(*it)) {
        while (is_ws(*it)) ++it;
        bws = true;
      }
      if (*it == ';') continue;
      if (*it != '=') return !bws;
      break;
    }
    ++it;  // '='
    while (is_ws(*it)) ++it;
    if (*it != '"') {
      if (!is_token(*it)) return false;
      it = skip_tokens(it + 1, cr + 1);
    } else {
      // quoted-string (RFC 9110 5.6.4): qdtext and quoted-pair are HTAB, SP, VCHAR, obs-text.
      const auto text = [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u == '\t' || (u >= 0x20 && u != 0x7f);
      };
      for (;;) {
        if (++it >= cr || !text(*it)) return false;
        if (*it == '"') break;
        if (*it == '\\' && (++it >= cr || !text(*it))) return false;
      }
      ++it;
    }
  }
}

}  // namespace

field classify_field(std::string_view n) {
  switch (n.size()) {
    case 2:
      return token_equals_lower(n, "te") ? field::te : field::unknown;
    case 4:
      return token_equals_lower(n, "host") ? field::host : field::unknown;
    case 6:
      return token_equals_lower(n, "expect") ? field::expect : field::unknown;
    case 7:
      if (token_equals_lower(n, "upgrade")) return field::upgrade;
      return token_equals_lower(n, "trailer") ? field::trailer : field::unknown;
    case 10:
      if (token_equals_lower(n, "connection")) return field::connection;
      return token_equals_lower(n, "keep-alive") ? field::keep_alive : field::unknown;
    case 12:
      return token_equals_lower(n, "content-type") ? field::content_type : field::unknown;
    case 14:
      return token_equals_lower(n, "content-length") ? field::content_length : field::unknown;
    case 16:
      return token_equals_lower(n, "proxy-connection") ? field::proxy_connection : field::unknown;
    case 17:
      return token_equals_lower(n, "transfer-encoding") ? field::transfer_encoding : field::unknown;
    default:
      return field::unknown;
  }
}

bool is_classified(field id) {
  switch (id) {
    case field::te:
    case field::host:
    case field::expect:
    case field::upgrade:
    case field::trailer:
    case field::connection:
    case field::keep_alive:
    case field::content_type:
    case field::content_length:
    case field::proxy_connection:
    case field::transfer_encoding:
    case field::unknown:
      return true;
    default:
      return false;
  }
}

template <bool isRequest>
bool Http1Parser<isRequest>::keep_alive() const {
  if (f_ & kHttp11) {
    if (f_ & kConnectionClose) return false;
  } else if (!(f_ & kConnectionKeepAlive)) {
    return false;
  }
  return (f_ & kNeedEof) == 0;
}

// Long by design: the state machine of Beast's basic_parser::put, one switch whose states read
// in wire order; split, the hot path would pass its cursor through calls.
template <bool isRequest>
// NOLINTNEXTLINE(readability-function-size)
std::size_t Http1Parser<isRequest>::put(boost::asio::const_buffer buffer, error_code& ec) {
  if (is_done()) {
    ec = http::error::stale_parser;
    return 0;
  }
  const char* p = static_cast<const char*>(buffer.data());
  std::size_t n = buffer.size();
  const char* const p0 = p;
  const char* const p1 = p + n;
  ec = {};
  for (;;) {
    switch (state_) {
      case State::nothing_yet:
        if (n == 0) {
          ec = http::error::need_more;
          return 0;
        }
        state_ = State::start_line;
        [[fallthrough]];
      case State::start_line:
      case State::fields: {
        const std::size_t used = parse_head(p, n, ec);
        if (ec) return 0;
        p += used;
        finish_header(ec);
        if (ec) return static_cast<std::size_t>(p - p0);
        break;
      }
      case State::body0:
        on_body_init(content_length());
        state_ = State::body;
        [[fallthrough]];
      case State::body: {
        const std::size_t used =
            on_body({p, static_cast<std::size_t>(std::min<std::uint64_t>(len_, n))}, ec);
        p += used;
        len_ -= used;
        if (ec) return static_cast<std::size_t>(p - p0);
        if (len_ == 0) state_ = State::complete;
        break;
      }
      case State::body_to_eof0:
        on_body_init(content_length());
        state_ = State::body_to_eof;
        [[fallthrough]];
      case State::body_to_eof: {
        // Everything up to EOF is body. basic_parser deducted all `n` bytes from the limit even
        // when on_body took fewer (a full relay buffer), counting them again on the next put.
        if (body_limit_ && n > *body_limit_) {
          ec = http::error::body_limit;
          return static_cast<std::size_t>(p - p0);
        }
        const std::size_t used = on_body({p, n}, ec);
        if (body_limit_) *body_limit_ -= used;
        p += used;
        if (ec) return static_cast<std::size_t>(p - p0);
        break;
      }
      case State::chunk_header0:
        on_body_init(content_length());
        state_ = State::chunk_header;
        [[fallthrough]];
      case State::chunk_header:
        parse_chunk_header(p, n, ec);
        if (ec) return static_cast<std::size_t>(p - p0);
        break;
      case State::chunk_body: {
        const std::size_t used =
            on_body({p, static_cast<std::size_t>(std::min<std::uint64_t>(len_, n))}, ec);
        p += used;
        len_ -= used;
        if (len_ == 0) state_ = State::chunk_header;
        if (ec) return static_cast<std::size_t>(p - p0);
        break;
      }
      case State::complete:
        return static_cast<std::size_t>(p - p0);
    }
    if (p < p1 && !is_done() && eager()) {
      n = static_cast<std::size_t>(p1 - p);
      continue;
    }
    return static_cast<std::size_t>(p - p0);
  }
}

template <bool isRequest>
void Http1Parser<isRequest>::put_eof(error_code& ec) {
  ec = {};
  if (state_ == State::nothing_yet || state_ == State::start_line || state_ == State::fields) {
    ec = http::error::partial_message;
    return;
  }
  if (f_ & (kContentLength | kChunked)) {
    if (state_ != State::complete) ec = http::error::partial_message;
    return;
  }
  state_ = State::complete;
}

// The head: the start line, then the fields; nothing is consumed until the blank line has been
// parsed, so positions are offsets from `base`. Each put parses what it can, as far as its bytes
// go (an error is found as early as basic_parser finds it); a line that wanted more bytes is
// only parsed again once its end has arrived, found by a search that resumes where the last one
// stopped, so a head sent one byte at a time costs linear time. Returns the head's length, or 0
// with ec set (need_more included).
template <bool isRequest>
std::size_t Http1Parser<isRequest>::parse_head(const char* base, std::size_t n, error_code& ec) {
  const std::size_t limit = header_limit_;
  if (line_end_ == 0) {
    const std::size_t window = std::min<std::size_t>(n, limit);
    if (retry_) {
      // Undecidable until a LF arrives (every start line error is found at or before it).
      const void* lf = scan_ < window ? std::memchr(base + scan_, '\n', window - scan_) : nullptr;
      if (!lf) {
        scan_ = window;
        ec = n >= limit ? http::error::header_limit : http::error::need_more;
        return 0;
      }
    }
    const char* p = parse_start_line(base, base + window, ec);
    if (ec) {
      if (ec == http::error::need_more) {
        if (n >= limit) ec = http::error::header_limit;
        retry_ = true;
        scan_ = 0;
      }
      return 0;
    }
    retry_ = false;
    line_end_ = next_ = static_cast<std::size_t>(p - base);
    state_ = State::fields;
  }
  // basic_parser gives the field block its own header_limit window after the start line.
  const std::size_t block = n - line_end_;
  const std::size_t window_end = line_end_ + std::min<std::size_t>(block, limit);
  if (retry_) {
    // The pending line is decidable once it is the blank line, or once a LF is followed by a byte
    // that does not fold the line (obs-fold continues a field past its CRLF).
    bool ready = window_end - next_ >= 2 && base[next_] == '\r';
    std::size_t at = std::max(scan_, next_);
    while (!ready && at < window_end) {
      const char* lf = static_cast<const char*>(std::memchr(base + at, '\n', window_end - at));
      if (!lf) {
        at = window_end;
        break;
      }
      at = static_cast<std::size_t>(lf - base);
      if (at + 1 >= window_end) break;
      ++at;
      ready = !is_ws(base[at]);
    }
    if (!ready) {
      scan_ = at;
      ec = block >= limit ? http::error::header_limit : http::error::need_more;
      return 0;
    }
  }
  const char* p = parse_fields(base + next_, base + window_end, ec);
  next_ = static_cast<std::size_t>(p - base);
  if (ec) {
    if (ec == http::error::need_more) {
      if (block >= limit) ec = http::error::header_limit;
      retry_ = true;
      scan_ = next_;
    }
    return 0;
  }
  return next_;
}

// Long by design: the request line and the status line, byte by byte as RFC 9112 3 and 4 give
// them, each rejection beside the rule it enforces.
template <bool isRequest>
// NOLINTNEXTLINE(readability-function-size)
const char* Http1Parser<isRequest>::parse_start_line(const char* p, const char* last,
                                                     error_code& ec) {
  const auto version_at = [&](const char* v, int& version) {
    if (v + 8 > last) {
      ec = http::error::need_more;
      return false;
    }
    if (std::memcmp(v, "HTTP/", 5) != 0 || static_cast<unsigned char>(v[5] - '0') >= 10 ||
        v[6] != '.' || static_cast<unsigned char>(v[7] - '0') >= 10) {
      ec = http::error::bad_version;
      return false;
    }
    if (v[5] != '1') {
      ec = http::error::bad_version;
      return false;
    }
    // RFC 9110 6.2: a higher minor version of HTTP/1 is processed as the highest one known.
    version = v[7] == '0' ? 10 : 11;
    return true;
  };
  int version = 0;
  if constexpr (isRequest) {
    const char* const method = p;
    p = skip_tokens(p, last);
    if (p >= last) {
      ec = http::error::need_more;
      return p;
    }
    if (*p != ' ' || p == method) {
      ec = http::error::bad_method;
      return p;
    }
    const std::string_view method_text(method, static_cast<std::size_t>(p - method));
    const char* const target = ++p;
    p = scan_target(p, last);
    if (p >= last) {
      ec = http::error::need_more;
      return p;
    }
    if (*p != ' ' || p == target) {
      ec = http::error::bad_target;
      return p;
    }
    const std::string_view target_text(target, static_cast<std::size_t>(p - target));
    ++p;
    if (!version_at(p, version)) return p;
    p += 8;
    if (p + 2 > last) {
      ec = http::error::need_more;
      return p;
    }
    if (p[0] != '\r' || p[1] != '\n') {
      ec = http::error::bad_version;
      return p;
    }
    p += 2;
    if (version >= 11) f_ |= kHttp11;
    verb method_verb;
    if (method_text == "POST") {
      method_verb = verb::post;
    } else if (method_text == "GET") {
      method_verb = verb::get;
    } else {
      method_verb = http::string_to_verb({method_text.data(), method_text.size()});
    }
    on_request(method_verb, method_text, target_text, version);
  } else {
    if (!version_at(p, version)) return p;
    p += 8;
    if (p + 1 > last) {
      ec = http::error::need_more;
      return p;
    }
    if (*p++ != ' ') {
      ec = http::error::bad_version;
      return p;
    }
    if (p + 4 > last) {
      ec = http::error::need_more;
      return p;
    }
    unsigned status = 0;
    for (int i = 0; i < 3; ++i) {
      if (static_cast<unsigned char>(p[i] - '0') >= 10) {
        ec = http::error::bad_status;
        return p;
      }
      status = status * 10 + static_cast<unsigned>(p[i] - '0');
    }
    if (p[3] != ' ') {
      ec = http::error::bad_status;
      return p;
    }
    p += 4;
    const char* const reason = p;
    p = scan_value(p, last);
    if (p >= last) {
      ec = http::error::need_more;
      return p;
    }
    if (*p != '\r') {
      ec = http::error::bad_reason;
      return p;
    }
    if (p + 1 >= last) {
      ec = http::error::need_more;
      return p;
    }
    if (p[1] != '\n') {
      ec = http::error::bad_line_ending;
      return p;
    }
    const std::string_view reason_text(reason, static_cast<std::size_t>(p - reason));
    p += 2;
    if (version >= 11) f_ |= kHttp11;
    status_ = static_cast<unsigned short>(status);
    on_response(static_cast<int>(status), reason_text, version);
  }
  return p;
}

// Fields up to and including the blank line (basic_parser's parse_fields and parse_field).
// Returns where the first unparsed field starts, or the end of the blank line. Long by design:
// one scan per field line with its RFC 9112 5 and 9110 5.5 checks inline (the hot path).
template <bool isRequest>
// NOLINTNEXTLINE(readability-function-size)
const char* Http1Parser<isRequest>::parse_fields(const char* p, const char* last, error_code& ec) {
  char fold[4096];  // an obs-folded value, joined (basic_parser's bound on it)
  for (;;) {
    if (p + 2 > last) {
      ec = http::error::need_more;
      return p;
    }
    if (p[0] == '\r') {
      if (p[1] != '\n') ec = http::error::bad_line_ending;
      return p + 2;
    }
    const char* q = p;
    const char* const name = q;
    q = scan_name(q, last);
    if (q >= last) {
      ec = http::error::need_more;
      return p;
    }
    if (*q != ':' || q == name) {
      ec = http::error::bad_field;
      return p;
    }
    const std::string_view name_text(name, static_cast<std::size_t>(q - name));
    ++q;
    // One line of the value: leading OWS skipped, trailing OWS trimmed, CRLF and one more byte
    // (does the next line fold into this one?) required.
    const char* first;
    const char* end;
    const auto segment = [&]() {
      while (q < last && is_ws(*q)) ++q;
      first = q;
      q = scan_value(q, last);
      if (q >= last) {
        ec = http::error::need_more;
        return false;
      }
      if (*q != '\r') {
        ec = http::error::bad_value;
        return false;
      }
      if (q + 1 >= last) {
        ec = http::error::need_more;
        return false;
      }
      if (q[1] != '\n') {
        ec = http::error::bad_line_ending;
        return false;
      }
      end = q;
      q += 2;
      if (q >= last) {
        ec = http::error::need_more;
        return false;
      }
      while (end != first && is_ws(end[-1])) --end;
      return true;
    };
    std::string_view value;
    for (;;) {
      if (!segment()) return p;
      if (!is_ws(*q)) {
        value = {first, static_cast<std::size_t>(end - first)};
        break;
      }
      ++q;
      if (end == first) continue;  // an empty line before the fold adds nothing
      // obs-fold: the value is its non-empty lines joined by single spaces.
      std::size_t size = static_cast<std::size_t>(end - first);
      if (size > sizeof fold) {
        ec = http::error::header_limit;
        return p;
      }
      std::memcpy(fold, first, size);
      for (;;) {
        if (!segment()) return p;
        if (end != first) {
          const auto more = static_cast<std::size_t>(end - first);
          if (sizeof fold - size < more + 1) {
            ec = http::error::header_limit;
            return p;
          }
          fold[size++] = ' ';
          std::memcpy(fold + size, first, more);
          size += more;
        }
        if (!is_ws(*q)) break;
        ++q;
      }
      value = {fold, size};
      break;
    }
    const field id = classify_field(name_text);
    if (id != field::unknown) {
      do_field(id, value, ec);
      if (ec) return p;
    }
    on_field(id, name_text, value);
    p = q;
  }
}

// What a field means for framing (basic_parser's do_field), fast paths for one-token values.
// Long by design: every framing field (Content-Length, Transfer-Encoding, Connection, Upgrade)
// in one place, so the rules that interact read together.
template <bool isRequest>
// NOLINTNEXTLINE(readability-function-size)
void Http1Parser<isRequest>::do_field(field id, std::string_view value, error_code& ec) {
  const auto single_token = [&] {
    return !value.empty() &&
           skip_tokens(value.data(), value.data() + value.size()) == value.data() + value.size();
  };
  const auto connection_token = [&](std::string_view s) {
    if (token_equals_lower(s, "close")) {
      f_ |= kConnectionClose;
    } else if (token_equals_lower(s, "keep-alive")) {
      f_ |= kConnectionKeepAlive;
    } else if (token_equals_lower(s, "upgrade")) {
      f_ |= kConnectionUpgrade;
    }
  };
  switch (id) {
    case field::connection:
    case field::proxy_connection: {
      if (single_token()) {
        connection_token(value);
        return;
      }
      const http::opt_token_list list{{value.data(), value.size()}};
      if (!http::validate_list(list)) {
        ec = http::error::bad_value;
        return;
      }
      for (const auto& s : list) connection_token({s.data(), s.size()});
      return;
    }
    case field::content_length: {
      if (f_ & kChunked) {
        ec = http::error::bad_content_length;
        return;
      }
      std::uint64_t v = 0;
      if (value.size() <= 19 && parse_dec(value, v)) {  // one number: no overflow in 19 digits
        if ((f_ & kContentLength) && v != len0_) {
          ec = http::error::multiple_content_length;
          return;
        }
      } else {
        // A comma-separated list of equal numbers (basic_parser's rule).
        auto unprocessed = 1 + std::count(value.begin(), value.end(), ',');
        const http::opt_token_list tokens{{value.data(), value.size()}};
        if (tokens.begin() == tokens.end() || !http::validate_list(tokens)) {
          ec = http::error::bad_content_length;
          return;
        }
        boost::optional<std::uint64_t> existing = content_length();
        for (const auto tok : tokens) {
          std::uint64_t t;
          if (!parse_dec({tok.data(), tok.size()}, t)) {
            ec = http::error::bad_content_length;
            return;
          }
          --unprocessed;
          if (existing && t != *existing) {
            ec = http::error::multiple_content_length;
            return;
          }
          existing = t;
        }
        if (unprocessed) {
          ec = http::error::bad_content_length;
          return;
        }
        v = *existing;
      }
      len_ = len0_ = v;
      f_ |= kContentLength;
      return;
    }
    case field::transfer_encoding: {
      if (f_ & (kChunked | kContentLength)) {
        ec = http::error::bad_transfer_encoding;
        return;
      }
      bool chunked_last = false;
      if (token_equals_lower(value, "chunked")) {
        chunked_last = true;
      } else {
        const http::token_list v{{value.data(), value.size()}};
        const auto it = std::find_if(v.begin(), v.end(), [](const auto& s) {
          return ascii_iequals({s.data(), s.size()}, "chunked");
        });
        chunked_last = it != v.end() && std::next(it) == v.end();
      }
      if (chunked_last) {
        len_ = 0;
        f_ |= kChunked;
      }
      return;
    }
    case field::upgrade:
      f_ |= kUpgrade;
      return;
    default:
      return;
  }
}

// How the body is framed (RFC 9112 6.3, as basic_parser's finish_header).
template <bool isRequest>
void Http1Parser<isRequest>::finish_header(error_code& ec) {
  if constexpr (isRequest) {
    if (f_ & kSkipBody) {
      state_ = State::complete;
    } else if (f_ & kContentLength) {
      if (body_limit_ && len_ > *body_limit_) {
        ec = http::error::body_limit;
        return;
      }
      state_ = len_ > 0 ? State::body0 : State::complete;
    } else if (f_ & kChunked) {
      state_ = State::chunk_header0;
    } else {
      len_ = len0_ = 0;
      state_ = State::complete;
    }
  } else {
    if ((f_ & kSkipBody) || status_ / 100 == 1 || status_ == 204 || status_ == 304) {
      state_ = State::complete;  // a Content-Length here describes no body
    } else if (f_ & kContentLength) {
      if (len_ > 0) {
        state_ = State::body0;
        if (body_limit_ && len_ > *body_limit_) {
          ec = http::error::body_limit;
          return;
        }
      } else {
        state_ = State::complete;
      }
    } else if (f_ & kChunked) {
      state_ = State::chunk_header0;
    } else {
      f_ |= kNeedEof;
      state_ = State::body_to_eof0;
    }
  }
}

// basic_parser's parse_chunk_header: a chunk's size line (after the previous chunk's CRLF), or
// the last chunk with its trailer fields (delivered through on_field, like the head's).
template <bool isRequest>
void Http1Parser<isRequest>::parse_chunk_header(const char*& p0, std::size_t n, error_code& ec) {
  const char* p = p0;
  const char* const pend = p0 + n;
  const char* eol;
  if (!(f_ & kFinalChunk)) {
    if (n < skip_ + 2) {
      ec = http::error::need_more;
      return;
    }
    if (f_ & kExpectCrlf) {
      if (p[0] != '\r' || p[1] != '\n') {
        ec = http::error::bad_chunk;
        return;
      }
      p += 2;
    }
    eol = find_eol(p0 + skip_, pend, ec);
    if (ec) return;
    // A chunk line (size and extensions) is bounded: its bytes wait in the read buffer.
    const auto line = static_cast<std::size_t>((eol ? eol - 2 : pend) - p);
    if (line > kMaxChunkLine) {
      ec = http::error::bad_chunk;
      return;
    }
    if (!eol) {
      ec = http::error::need_more;
      skip_ = n - 1;
      return;
    }
    skip_ = static_cast<std::size_t>(eol - 2 - p0);
    std::uint64_t size;
    if (!parse_hex(p, size)) {
      ec = http::error::bad_chunk;
      return;
    }
    if (size != 0) {
      if (body_limit_) {
        if (size > *body_limit_) {
          ec = http::error::body_limit;
          return;
        }
        *body_limit_ -= size;
      }
      if (!parse_chunk_extensions(p, eol - 2) || p != eol - 2) {
        ec = http::error::bad_chunk_extension;
        return;
      }
      len_ = size;
      skip_ = 2;
      p0 = eol;
      f_ |= kExpectCrlf;
      state_ = State::chunk_body;
      return;
    }
    f_ |= kFinalChunk;
    chunk_ext_ = static_cast<std::size_t>(p - p0);
    chunk_eol_ = static_cast<std::size_t>(eol - p0);
  } else {
    p = p0 + chunk_ext_;
    eol = p0 + chunk_eol_;
  }
  const char* const eom = find_eom(p0 + skip_, pend);
  // The trailer section is bounded like a head (header_limit): its bytes wait in the read buffer.
  if (static_cast<std::size_t>((eom ? eom : pend) - eol) > header_limit_) {
    ec = http::error::header_limit;
    return;
  }
  if (!eom) {
    skip_ = n - 3;
    ec = http::error::need_more;
    return;
  }
  if (!parse_chunk_extensions(p, eol - 2) || p != eol - 2) {
    ec = http::error::bad_chunk_extension;
    return;
  }
  const char* const end = parse_fields(eol, eom, ec);
  if (ec) return;
  p0 = end;
  state_ = State::complete;
}

template class Http1Parser<true>;
template class Http1Parser<false>;

}  // namespace augur::proxy
