// Hand-written JSON walk for scan_request(): strict enough to reject what is not JSON (the mock
// answers 400 then, as OpenAI does), lenient about numbers, and bounded in nesting depth so hostile
// input cannot blow the stack.
#include "loadtest/mock/request_scan.hpp"

#include <charconv>
#include <string>

#include "loadtest/mock/nvext_check.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace augur::mock {
namespace {

constexpr int kMaxDepth = 128;

class Cursor {
 public:
  explicit Cursor(std::string_view text) : s_(text) {}

  bool at_end() {
    skip_ws();
    return i_ == s_.size();
  }

  // Raw contents of a string (escapes kept), cursor after the closing quote.
  bool string(std::string_view& raw) {
    skip_ws();
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    const std::size_t start = ++i_;
    while (i_ < s_.size()) {
      skip_plain();
      if (i_ >= s_.size()) break;
      const char c = s_[i_];
      if (c == '"') {
        raw = s_.substr(start, i_ - start);
        ++i_;
        return true;
      }
      if (c == '\\') {
        i_ += 2;
        continue;
      }
      if (static_cast<unsigned char>(c) < 0x20) return false;
      ++i_;
    }
    return false;
  }

  // Any value; `raw` is its text (for a string: with the quotes).
  bool value(std::string_view& raw, int depth) {
    skip_ws();
    if (i_ >= s_.size() || depth > kMaxDepth) return false;
    const std::size_t start = i_;
    bool ok = false;
    switch (s_[i_]) {
      case '"': {
        std::string_view ignored;
        ok = string(ignored);
        break;
      }
      case '{':
        ok = object([](std::string_view, std::string_view) {}, depth + 1);
        break;
      case '[':
        ok = array(depth + 1);
        break;
      case 't':
        ok = literal("true");
        break;
      case 'f':
        ok = literal("false");
        break;
      case 'n':
        ok = literal("null");
        break;
      default:
        ok = number();
    }
    if (ok) raw = s_.substr(start, i_ - start);
    return ok;
  }

  // Calls on_member(raw_key, raw_value) for each member, in order.
  template <class OnMember>
  bool object(OnMember&& on_member, int depth) {
    if (!eat('{')) return false;
    if (eat('}')) return true;
    for (;;) {
      std::string_view key, val;
      if (!string(key) || !eat(':') || !value(val, depth)) return false;
      on_member(key, val);
      if (eat(',')) continue;
      return eat('}');
    }
  }

 private:
  // Past string bytes that need no look (not '"', '\\' or a control byte), 16 at a time: most
  // of a request body is message text, and the proxies under test add more.
  void skip_plain() {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20), high = _mm_set1_epi8(char(0x80));
    while (i_ + 16 <= s_.size()) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s_.data() + i_));
      // Unsigned "below 0x20" as a signed compare with the top bit flipped (UTF-8 passes).
      const __m128i control = _mm_cmplt_epi8(_mm_xor_si128(v, high), _mm_xor_si128(space, high));
      const __m128i stop = _mm_or_si128(
          control, _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
      const int mask = _mm_movemask_epi8(stop);
      if (mask != 0) {
        i_ += static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
        return;
      }
      i_ += 16;
    }
#endif
  }

  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
      ++i_;
  }

  bool eat(char c) {
    skip_ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  bool array(int depth) {
    if (!eat('[')) return false;
    if (eat(']')) return true;
    for (;;) {
      std::string_view ignored;
      if (!value(ignored, depth)) return false;
      if (eat(',')) continue;
      return eat(']');
    }
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  bool number() {
    const std::size_t start = i_;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
        ++i_;
      } else {
        break;
      }
    }
    return i_ > start;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

// Whether a raw key (escapes kept) spells "nvext". Escaped spellings are rare, so they take a slow
// path: serde reads the key unescaped, and the mock should see the member Dynamo sees. Five
// characters take at most 30 bytes escaped, so longer keys are not it.
bool is_nvext_key(std::string_view raw) {
  if (raw == "nvext") return true;
  if (raw.find('\\') == std::string_view::npos || raw.size() > 30) return false;
  std::string decoded;
  // The key's view is followed by its closing quote in the body.
  return decode_json_string({raw.data(), raw.size() + 1}, decoded) && decoded == "nvext";
}

std::optional<std::int64_t> to_count(std::string_view raw) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
  if (ec != std::errc{} || end != raw.data() + raw.size() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

RequestFields scan_request(std::string_view body) {
  RequestFields f;
  std::optional<std::int64_t> max_tokens, max_completion_tokens;
  Cursor cur(body);
  const bool ok = cur.object(
      [&](std::string_view key, std::string_view val) {
        if (key == "model") {
          f.model = val.size() >= 2 && val.front() == '"' ? val.substr(1, val.size() - 2)
                                                          : std::string_view{};
        } else if (key == "stream") {
          f.stream = val == "true";
        } else if (key == "max_tokens") {
          max_tokens = to_count(val);
        } else if (key == "max_completion_tokens") {
          max_completion_tokens = to_count(val);
        } else if (is_nvext_key(key)) {
          if (f.nvext.data() == nullptr) {
            f.nvext = val;
          } else if (f.nvext_repeat_key.data() == nullptr) {
            f.nvext_repeat_key = key;
          }
        } else if (key == "stream_options") {
          Cursor inner(val);
          f.include_usage = false;
          inner.object(
              [&](std::string_view k, std::string_view v) {
                if (k == "include_usage") f.include_usage = v == "true";
              },
              1);
        }
      },
      0);
  f.is_object = ok && cur.at_end();
  f.max_tokens = max_tokens ? max_tokens : max_completion_tokens;
  return f;
}

}  // namespace augur::mock
