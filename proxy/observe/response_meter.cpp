#include "proxy/observe/response_meter.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "common/literal.hpp"
#include "common/text_hash.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace augur::proxy {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

constexpr std::uint8_t overflowed = 0xff;  // token_len_ when the string is not a key we want

// The first '"' (or, when kBackslash, '"' or '\\') at or after p, or end: the bytes the lexer
// stops at, found 16 at a time instead of one per trip through the state switch. Most JSON
// strings and gaps are a few bytes long, where a memchr call costs more than the whole scan. Each
// call looks at every byte before its answer once and the caller moves past the answer, so the
// work stays linear however many escapes a string holds.
template <bool kBackslash>
const char* find_stop(const char* p, const char* const end) noexcept {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  for (; end - p >= 16; p += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i hit = _mm_cmpeq_epi8(v, quote);
    if constexpr (kBackslash) hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, backslash));
    if (const int mask = _mm_movemask_epi8(hit); mask != 0)
      return p + std::countr_zero(static_cast<unsigned>(mask));
  }
#endif
  for (; p < end; ++p) {
    if (*p == '"' || (kBackslash && *p == '\\')) return p;
  }
  return end;
}

}  // namespace

ResponseMeter::Key ResponseMeter::key_of(std::string_view s) noexcept {
  if (is_literal(s, "content")) return Key::content;
  if (is_literal(s, "text")) return Key::text;
  if (is_literal(s, "delta")) return Key::delta;
  if (is_literal(s, "completion_tokens")) return Key::completion_tokens;
  if (is_literal(s, "output_tokens")) return Key::output_tokens;
  if (is_literal(s, "id")) return Key::id;
  if (is_literal(s, "arguments")) return Key::arguments;
  if (is_literal(s, "partial_json")) return Key::partial_json;
  if (is_literal(s, "input")) return Key::input;
  return Key::none;
}

namespace {

constexpr std::string_view kCompletionTokens = "\"completion_tokens\"";
constexpr std::string_view kOutputTokens = "\"output_tokens\"";
constexpr std::string_view kToolCalls = "\"tool_calls\"";
constexpr std::string_view kToolUse = "\"tool_use\"";

// Where a JSON body's tool calls begin (chat's "tool_calls" key, Messages' "tool_use" type), or
// end.
const char* find_tool_calls(const char* p, const char* end) noexcept;

std::string_view usage_key(bool output_tokens) {
  return output_tokens ? kOutputTokens : kCompletionTokens;
}

// Where kUsageKey next occurs in [p, end), or end. Quotes are too common to anchor on alone
// (string_view::find stops at each one): 16 positions at a time are tested on the key's first two
// and last two bytes at once, and only those candidates are compared whole.
template <const std::string_view& kUsageKey>
const char* find_key(const char* p, const char* const end) noexcept {
  constexpr std::size_t n = kUsageKey.size();
#if defined(__SSE2__)
  const __m128i first = _mm_set1_epi8(kUsageKey[0]), second = _mm_set1_epi8(kUsageKey[1]);
  const __m128i penult = _mm_set1_epi8(kUsageKey[n - 2]), last = _mm_set1_epi8(kUsageKey[n - 1]);
  const auto at = [](const char* q) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  };
  for (; end - p >= static_cast<std::ptrdiff_t>(n + 15); p += 16) {
    const __m128i hit = _mm_and_si128(
        _mm_and_si128(_mm_cmpeq_epi8(at(p), first), _mm_cmpeq_epi8(at(p + 1), second)),
        _mm_and_si128(_mm_cmpeq_epi8(at(p + n - 2), penult), _mm_cmpeq_epi8(at(p + n - 1), last)));
    for (auto mask = static_cast<unsigned>(_mm_movemask_epi8(hit)); mask != 0; mask &= mask - 1) {
      const char* const q = p + std::countr_zero(mask);
      if (std::memcmp(q + 2, kUsageKey.data() + 2, n - 4) == 0) return q;
    }
  }
#endif
  for (; end - p >= static_cast<std::ptrdiff_t>(n); ++p) {
    if (*p == kUsageKey[0] && std::memcmp(p, kUsageKey.data(), n) == 0) return p;
  }
  return end;
}

}  // namespace

bool ResponseMeter::feed(std::string_view piece) {
  // A JSON body's usage comes from the substring search alone, wherever the lexer is (a
  // malformed body can leave it inside a string), so it does not depend on how reads split it.
  if (!stream_) {
    if (!capture_id_ && !lex_json_) {
      start_lexing_json(piece);  // lexes the piece itself once the tool calls begin in it
      return false;
    }
    find_usage(piece);
    lex(piece);
    return false;
  }
  const std::uint64_t deltas_before = deltas_;
  lex(piece);
  return deltas_before == 0 && deltas_ > 0;
}

namespace {
const char* find_tool_calls(const char* p, const char* end) noexcept {
  const char* const calls = find_key<kToolCalls>(p, end);
  // A "tool_use" starting before `calls` may end past it (they can share a quote).
  const auto room = static_cast<std::size_t>(end - calls);
  return std::min(calls, find_key<kToolUse>(p, calls + std::min(room, kToolUse.size() - 1)));
}
}  // namespace

// A JSON body is searched for its usage only, until its tool calls begin (a key split between
// two pieces is found in the bytes carried over): from there the lexer reads it, for their
// arguments and the usage after them.
void ResponseMeter::start_lexing_json(std::string_view piece) {
  char carried[kCarry];
  std::size_t from_carry = 0;  // bytes of the carry from the tool key on
  if (carry_len_ > 0) {
    char window[2 * kCarry];
    const std::size_t head = std::min(piece.size(), kCarry);
    std::memcpy(window, carry_, carry_len_);
    std::memcpy(window + carry_len_, piece.data(), head);
    const char* const w_end = window + carry_len_ + head;
    const char* const k = find_tool_calls(window, w_end);
    if (k < window + carry_len_) {
      from_carry = static_cast<std::size_t>(window + carry_len_ - k);
      std::memcpy(carried, k, from_carry);
    }
  }
  find_usage(piece);
  if (from_carry > 0) {
    lex_json_ = true;
    lex({carried, from_carry});
    lex(piece);
    return;
  }
  const char* const end = piece.data() + piece.size();
  const char* const at = find_tool_calls(piece.data(), end);
  if (at == end) return;
  lex_json_ = true;
  lex(piece.substr(static_cast<std::size_t>(at - piece.data())));
}

namespace {
constexpr std::ptrdiff_t kMaxRun = 16, kMaxDigits = 19;
// The most bytes from a usage key's quote to the byte after its value (the longer key, blanks
// on both sides of the colon, the digits): a key further back in the carried bytes was read
// whole, with all the backslashes before it in view, when it first came.
constexpr std::size_t kUsageSpan = 19 + 2 * kMaxRun + 1 + kMaxDigits + 1;
}  // namespace

bool ResponseMeter::read_usage(const char* begin, const char* key, const char* end,
                               std::string_view before) {
  // What a server writes is short: a usage with more backslashes before it, blanks around its
  // colon or digits than these is not taken. The bounds keep key and value inside the bytes
  // carried between reads, so a body gives the same answer however reads split it.
  // An odd run of backslashes escapes the quote: the name is inside a string then.
  std::size_t backslashes = 0;
  for (const char* q = key; q > begin && q[-1] == '\\'; --q) ++backslashes;
  if (key - begin == static_cast<std::ptrdiff_t>(backslashes)) {
    for (auto it = before.rbegin(); it != before.rend() && *it == '\\'; ++it) ++backslashes;
  }
  if (backslashes % 2 != 0 || backslashes > kMaxRun) return true;
  const char* p = key + usage_key(output_tokens_).size();
  const auto skip_blanks = [&] {
    const char* const start = p;
    while (p < end && is_space(*p) && p - start <= kMaxRun) ++p;
    return p - start <= kMaxRun;
  };
  if (!skip_blanks()) return true;
  if (p == end) return false;
  if (*p != ':') return true;
  ++p;
  if (!skip_blanks()) return true;
  std::uint64_t number = 0;
  const char* const digits = p;
  for (; p < end && *p >= '0' && *p <= '9' && p - digits <= kMaxDigits; ++p) {
    if (number < (std::uint64_t{1} << 52)) number = number * 10 + static_cast<unsigned>(*p - '0');
  }
  if (p - digits > kMaxDigits) return true;
  if (p == end) return false;  // the number (or what precedes it) may go on in the next piece
  if (p != digits) usage_ = number;
  return true;
}

void ResponseMeter::find_usage(std::string_view piece) {
  static_assert(kCarry >= kUsageSpan + kMaxRun + 1, "a re-read key must see its backslashes");
  const auto find = output_tokens_ ? find_key<kOutputTokens> : find_key<kCompletionTokens>;
  const std::string_view carried(carry_, carry_len_);
  // Keys that start in the last kUsageSpan carried bytes (split from their value, or from their
  // own end, by the read): searched in carried bytes + the piece's first bytes.
  if (carry_len_ > 0) {
    char window[2 * kCarry];
    const std::size_t head = std::min(piece.size(), kCarry);
    std::memcpy(window, carry_, carry_len_);
    std::memcpy(window + carry_len_, piece.data(), head);
    const std::string_view w(window, carry_len_ + head);
    const char* const w_end = w.data() + w.size();
    const std::size_t from = carry_len_ > kUsageSpan ? carry_len_ - kUsageSpan : 0;
    for (const char* k = find(w.data() + from, w_end); k < w.data() + carry_len_;
         k = find(k + 1, w_end)) {
      read_usage(w.data(), k, w_end, {});
    }
  }
  const char* const end = piece.data() + piece.size();
  for (const char* k = find(piece.data(), end); k != end; k = find(k + 1, end)) {
    read_usage(piece.data(), k, end, carried);
  }
  // Keep the last kCarry bytes of carried + piece.
  if (piece.size() >= kCarry) {
    std::memcpy(carry_, piece.data() + piece.size() - kCarry, kCarry);
    carry_len_ = kCarry;
  } else {
    const std::size_t keep = std::min<std::size_t>(carry_len_, kCarry - piece.size());
    std::memmove(carry_, carry_ + carry_len_ - keep, keep);
    std::memcpy(carry_ + keep, piece.data(), piece.size());
    carry_len_ = static_cast<std::uint8_t>(keep + piece.size());
  }
}

// Long by design: a single-pass lexer whose state is its locals, run over every response byte;
// its states read in order and share them.
// NOLINTNEXTLINE(readability-function-size)
void ResponseMeter::lex(std::string_view piece) {
  const char* p = piece.data();
  const char* const end = p + piece.size();
  while (p < end) {
    const char c = *p;
    switch (state_) {
      case State::raw_object:
        p = copy_object(p, end);
        continue;
      case State::out:
        // Outside strings only a quote matters: skip to it.
        p = find_stop<false>(p, end);
        if (p == end) continue;
        ++p;
        state_ = State::in_string;
        escape_ = false;
        token_len_ = 0;
        continue;
      case State::in_string: {
        if (escape_) {
          escape_ = false;
          token_len_ = overflowed;  // keys we look for have no escapes
          capturing_ = false;       // nor do ids (one with an escape is not kept)
          if (args_capturing_) {    // arguments keep their escapes: tool_tasks() decodes them
            const char escaped[2] = {'\\', c};
            capture_args(escaped, 2);
          }
          ++p;
          continue;
        }
        // Plain content up to the next quote or backslash, in one step.
        const char* const stop = find_stop<true>(p, end);
        const auto n = static_cast<std::size_t>(stop - p);
        if (capturing_) capture(p, n, stop != end && *stop == '"');
        if (args_capturing_) {
          capture_args(p, n);
          if (stop != end && *stop == '"') args_capturing_ = false;
        }
        if (stop != end && *stop == '"') {
          // The string ends in this piece: a key held whole in it needs no copy.
          if (token_len_ == 0) {
            last_string_ = key_of({p, n});
          } else if (token_len_ != overflowed && token_len_ + n <= sizeof token_) {
            std::memcpy(token_ + token_len_, p, n);
            last_string_ = key_of({token_, token_len_ + n});
          } else {
            last_string_ = Key::none;
          }
          state_ = State::after_key;
          p = stop + 1;
          continue;
        }
        if (token_len_ != overflowed) {
          if (token_len_ + n <= sizeof token_) {
            std::memcpy(token_ + token_len_, p, n);
            token_len_ = static_cast<std::uint8_t>(token_len_ + n);
          } else {
            token_len_ = overflowed;
          }
        }
        p = stop;
        if (p != end) {  // a backslash
          escape_ = true;
          ++p;
        }
        continue;
      }
      case State::after_key:
        if (is_space(c)) {
          ++p;
        } else if (c == ':' && last_string_ != Key::none) {
          state_ = State::value;
          key_ = last_string_;
          value_started_ = false;
          in_number_ = false;
          number_ = 0;
          ++p;
        } else {
          state_ = State::out;  // not a key we want (or not a key): reread c outside strings
        }
        continue;
      case State::value:
        if (key_ == Key::completion_tokens || key_ == Key::output_tokens) {
          if (c >= '0' && c <= '9') {
            if (number_ < (std::uint64_t{1} << 52)) number_ = number_ * 10 + (c - '0');
            in_number_ = true;
            ++p;
          } else if (is_space(c) && !in_number_) {
            ++p;
          } else {
            // Only the dialect's own name counts (Responses' and Messages' streams never carry
            // completion_tokens, nor chat streams output_tokens, but a tool's text might).
            if (stream_ && in_number_ && (key_ == Key::output_tokens) == output_tokens_) {
              usage_ = number_;
            }
            state_ = State::out;
          }
          continue;
        }
        if (key_ == Key::input) {
          if (is_space(c)) {
            ++p;
            continue;
          }
          state_ = State::out;
          tool_call_ = tool_call_ || c == '{';
          if (c == '{' && objects_.size() < kMaxArgumentBytes) {
            state_ = State::raw_object;
            object_depth_ = 0;
            object_in_string_ = false;
            object_escape_ = false;
            continue;  // copied from its opening brace
          }
          continue;
        }
        if (key_ == Key::arguments || key_ == Key::partial_json) {
          // A tool call's arguments (or a piece of them): captured as the string is read.
          if (is_space(c)) {
            ++p;
            continue;
          }
          state_ = State::out;
          if (c == '"') {
            tool_call_ = true;
            args_capturing_ = args_.size() < kMaxArgumentBytes;
            state_ = State::in_string;
            escape_ = false;
            token_len_ = overflowed;
            ++p;
          }
          continue;
        }
        if (key_ == Key::id) {
          // The first id's string value is captured as the string is read (in_string).
          if (is_space(c)) {
            ++p;
            continue;
          }
          state_ = State::out;
          if (c == '"' && capture_id_ && !id_tried_) {
            id_tried_ = true;  // only the first id is the response's
            capturing_ = true;
            id_len_ = 0;
            state_ = State::in_string;
            escape_ = false;
            token_len_ = overflowed;
            ++p;
          }
          continue;
        }
        // The dialect's content keys: a non-empty string value is one delta.
        if (!value_started_) {
          if ((delta_keys_ & key_bit(key_)) == 0) {
            state_ = State::out;  // reread c outside strings
            continue;
          }
          if (is_space(c)) {
            ++p;
          } else if (c == '"') {
            value_started_ = true;
            ++p;
          } else {
            state_ = State::out;  // null, a number, an array...
          }
          continue;
        }
        if (c == '"') {
          state_ = State::out;  // ""
          ++p;
          continue;
        }
        if (stream_) ++deltas_;
        state_ = State::in_string;  // skip the rest of the value as an ordinary string
        escape_ = false;
        token_len_ = overflowed;
        continue;  // reread c inside the string (it may be a backslash)
    }
  }
}

// Appends n bytes of the id being read; `closed`: its closing quote follows them.
void ResponseMeter::capture(const char* p, std::size_t n, bool closed) {
  if (id_len_ + n > kMaxIdBytes) {
    capturing_ = false;  // too long to be a response id: not kept
    return;
  }
  std::memcpy(id_ + id_len_, p, n);
  id_len_ = static_cast<std::uint8_t>(id_len_ + n);
  if (closed) {
    capturing_ = false;
    id_done_ = id_len_ > 0;
  }
}

void ResponseMeter::capture_args(const char* p, std::size_t n) {
  const std::size_t room = kMaxArgumentBytes - std::min(args_.size(), kMaxArgumentBytes);
  if (n > room) {
    n = room;
    args_capturing_ = false;
  }
  args_.append(p, n);
}

// Copies a tool_use input object byte by byte (they are short) until its closing brace.
const char* ResponseMeter::copy_object(const char* p, const char* end) {
  for (; p < end; ++p) {
    const char c = *p;
    if (objects_.size() < kMaxArgumentBytes) objects_ += c;
    if (object_in_string_) {
      if (object_escape_) {
        object_escape_ = false;
      } else if (c == '\\') {
        object_escape_ = true;
      } else if (c == '"') {
        object_in_string_ = false;
      }
    } else if (c == '"') {
      object_in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++object_depth_;
    } else if ((c == '}' || c == ']') && --object_depth_ == 0) {
      objects_ += ' ';
      state_ = State::out;
      return p + 1;
    }
  }
  return p;
}

namespace {

// Decodes one level of JSON string escapes from `s` (which holds no unescaped quote) into `out`.
// \uXXXX is kept as it is: only equality of texts matters here, and both sides went through
// this. Written through a pointer: decoding never lengthens the text (an escape's two bytes give
// one or two), and an append per byte cost more than the decoding.
void unescape(std::string_view s, std::string& out) {
  out.resize(s.size());
  char* o = out.data();
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      *o++ = s[i];
      continue;
    }
    const char e = s[++i];
    switch (e) {
      case 'n':
        *o++ = '\n';
        break;
      case 't':
        *o++ = '\t';
        break;
      case 'r':
        *o++ = '\r';
        break;
      case 'b':
      case 'f':
        *o++ = ' ';
        break;
      case 'u':
        *o++ = '\\';
        *o++ = 'u';
        break;
      default:
        *o++ = e;  // \" \\ \/
    }
  }
  out.resize(static_cast<std::size_t>(o - out.data()));
}

}  // namespace

std::vector<std::uint64_t> ResponseMeter::tool_tasks() const {
  std::vector<std::uint64_t> tasks;
  if (args_.empty() && objects_.empty()) return tasks;
  // The arguments are JSON text inside JSON strings: one decode gives that text, whose string
  // literals are the texts a tool call hands out (keys too; they are short or never match).
  // Messages' input objects are that text already.
  // Scratch kept by the thread: a tool-calling answer allocates only the list it returns.
  thread_local std::string text, literal_text;
  unescape(args_, text);
  text += objects_;
  std::size_t i = 0;
  while (tasks.size() < kMaxTasks) {
    const std::size_t open = text.find('"', i);
    if (open == std::string::npos) break;
    std::size_t close = open + 1;
    while (close < text.size() && text[close] != '"') close += text[close] == '\\' ? 2 : 1;
    if (close >= text.size()) break;
    const std::string_view literal(text.data() + open + 1, close - open - 1);
    if (literal.size() >= kMinTaskBytes) {
      unescape(literal, literal_text);
      const std::uint64_t h = hash_words(literal_text, false);
      if (std::find(tasks.begin(), tasks.end(), h) == tasks.end()) tasks.push_back(h);
    }
    i = close + 1;
  }
  return tasks;
}

std::optional<std::uint64_t> ResponseMeter::output_tokens() const {
  if (usage_) return usage_;
  if (stream_ && deltas_ > 0) return deltas_;
  return std::nullopt;
}

}  // namespace augur::proxy
