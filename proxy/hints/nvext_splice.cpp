#include "proxy/hints/nvext_splice.hpp"

#include <charconv>
#include <cstring>
#include <vector>

namespace augur::proxy {
namespace {

// ---------------------------------------------------------------------------------------------
// Scanner over a body that simdjson has already validated. It still checks every bound and returns
// npos on anything unexpected, so a body/RequestInfo mismatch cannot make it read out of range.

constexpr std::size_t npos = std::string_view::npos;

std::size_t skip_ws(std::string_view s, std::size_t p) {
  while (p < s.size() && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r')) ++p;
  return p;
}

// p at the opening quote; returns the index after the closing quote.
std::size_t skip_string(std::string_view s, std::size_t p) {
  std::size_t i = p + 1;
  while (i < s.size()) {
    const void* q = std::memchr(s.data() + i, '"', s.size() - i);
    if (q == nullptr) return npos;
    std::size_t j = static_cast<std::size_t>(static_cast<const char*>(q) - s.data());
    // The quote is escaped iff an odd number of backslashes precede it. Each backslash run is
    // walked once (runs between quotes are disjoint), so this stays linear.
    std::size_t backslashes = 0;
    while (j - backslashes > p + 1 && s[j - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return j + 1;
    i = j + 1;
  }
  return npos;
}

// p at the first byte of a value; returns the index after it. Iterative, so nesting depth costs
// nothing but the counter.
std::size_t skip_value(std::string_view s, std::size_t p) {
  if (p >= s.size()) return npos;
  char c = s[p];
  if (c == '"') return skip_string(s, p);
  if (c == '{' || c == '[') {
    std::size_t depth = 0;
    std::size_t i = p;
    while (i < s.size()) {
      c = s[i];
      if (c == '"') {
        i = skip_string(s, i);
        if (i == npos) return npos;
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    return npos;
  }
  std::size_t i = p;
  while (i < s.size() && std::strchr(",}] \t\r\n", s[i]) == nullptr) ++i;
  return i == p ? npos : i;
}

// Compares a raw (still escaped) JSON key with an ASCII name. Escapes are decoded because
// "nv\u0065xt" is the same key to every JSON parser upstream.
bool key_equals(std::string_view raw, std::string_view name) {
  if (raw.find('\\') == npos) return raw == name;
  std::size_t n = 0;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\\') {
      if (++i >= raw.size()) return false;
      switch (raw[i]) {
        case '"':
          c = '"';
          break;
        case '\\':
          c = '\\';
          break;
        case '/':
          c = '/';
          break;
        case 'b':
          c = '\b';
          break;
        case 'f':
          c = '\f';
          break;
        case 'n':
          c = '\n';
          break;
        case 'r':
          c = '\r';
          break;
        case 't':
          c = '\t';
          break;
        case 'u': {
          if (raw.size() - i < 5) return false;  // needs four hex digits after the 'u'
          unsigned v = 0;
          auto [end, ec] = std::from_chars(raw.data() + i + 1, raw.data() + i + 5, v, 16);
          if (ec != std::errc() || end != raw.data() + i + 5) return false;
          i += 4;
          if (v >= 0x80) return false;  // our names are ASCII
          c = static_cast<char>(v);
          break;
        }
        default:
          return false;
      }
    }
    if (n >= name.size() || name[n] != c) return false;
    ++n;
  }
  return n == name.size();
}

// Members are rendered in two passes: their exact size, then the bytes through a raw pointer into
// one resize of the output (a std::string append per brace and comma cost more than the copies).
std::size_t rendered_size(std::span<const Member> members);

std::size_t rendered_size(const Member& m) {
  return m.key.size() + 3 + (m.is_object ? rendered_size(m.object) : m.leaf.size());
}

std::size_t rendered_size(std::span<const Member> members) {
  std::size_t n = 2 + (members.empty() ? 0 : members.size() - 1);
  for (const Member& m : members) n += rendered_size(m);
  return n;
}

char* put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* render_object(std::span<const Member> members, char* p);

char* render_value(const Member& m, char* p) {
  return m.is_object ? render_object(m.object, p) : put(p, m.leaf);
}

// '"' key '":' value; our own keys are plain ASCII, nothing to escape.
char* render_member(const Member& m, char* p) {
  *p++ = '"';
  p = put(p, m.key);
  *p++ = '"';
  *p++ = ':';
  return render_value(m, p);
}

char* render_object(std::span<const Member> members, char* p) {
  *p++ = '{';
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i > 0) *p++ = ',';
    p = render_member(members[i], p);
  }
  *p++ = '}';
  return p;
}

// Appends `m`'s value (or, with `with_key`, the whole member), preceded by a comma if `comma`.
void append_rendered(const Member& m, bool with_key, bool comma, std::string& out) {
  const std::size_t at = out.size();
  const std::size_t size =
      comma + (with_key ? rendered_size(m) : rendered_size(m) - m.key.size() - 3);
  out.resize(at + size);
  char* p = out.data() + at;
  if (comma) *p++ = ',';
  with_key ? render_member(m, p) : render_value(m, p);
}

// Collects non-overlapping, ascending edits (replace [begin, end) with text) and applies them in a
// single copy.
class Splice {
 public:
  // The edit list, replacement text and output buffer are per-thread scratch reused across
  // requests: splicing a few dozen bytes should not cost three allocations.
  explicit Splice(std::string_view in) : in_(in), edits_(scratch().edits), text_(scratch().text) {
    edits_.clear();
    text_.clear();
  }

  // Merges `members` into the object whose '{' is at `open`; returns the index after its '}', or
  // npos when the text is not an object as expected.
  std::size_t merge_object(std::size_t open, std::span<const Member> members) {
    constexpr std::size_t kMaxMembers = 8;
    bool seen[kMaxMembers] = {};
    if (members.size() > kMaxMembers || open >= in_.size() || in_[open] != '{') return npos;
    std::size_t p = skip_ws(in_, open + 1);
    bool has_members = false;
    std::size_t close = npos;
    if (p < in_.size() && in_[p] == '}') close = p;
    while (close == npos) {
      if (p >= in_.size() || in_[p] != '"') return npos;
      std::size_t key_end = skip_string(in_, p);
      if (key_end == npos) return npos;
      std::string_view key = in_.substr(p + 1, key_end - p - 2);
      p = skip_ws(in_, key_end);
      if (p >= in_.size() || in_[p] != ':') return npos;
      std::size_t value = skip_ws(in_, p + 1);
      std::size_t value_end = npos;
      has_members = true;

      const Member* match = nullptr;
      for (std::size_t i = 0; i < members.size(); ++i) {
        if (key_equals(key, members[i].key)) {
          match = &members[i];
          seen[i] = true;  // a duplicate key gets the same value at each occurrence
          break;
        }
      }
      if (match != nullptr && match->is_object && value < in_.size() && in_[value] == '{') {
        value_end = merge_object(value, match->object);
      } else {
        value_end = skip_value(in_, value);
        if (match != nullptr && value_end != npos) {
          std::size_t at = text_.size();
          append_rendered(*match, false, false, text_);
          edits_.push_back({value, value_end, at, text_.size() - at});
        }
      }
      if (value_end == npos) return npos;
      p = skip_ws(in_, value_end);
      if (p >= in_.size()) return npos;
      if (in_[p] == ',') {
        p = skip_ws(in_, p + 1);
      } else if (in_[p] == '}') {
        close = p;
      } else {
        return npos;
      }
    }
    std::size_t at = text_.size();
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (seen[i]) continue;
      append_rendered(members[i], true, has_members || text_.size() > at, text_);
    }
    if (text_.size() > at) edits_.push_back({close, close, at, text_.size() - at});
    return close + 1;
  }

  void apply(std::string& body) const {
    std::size_t size = in_.size();
    for (const Edit& e : edits_) size = size - (e.end - e.begin) + e.len;
    // The old body's buffer becomes the next splice's output buffer (unless it is huge).
    std::string& out = scratch().out;
    out.clear();
    out.reserve(size);
    std::size_t prev = 0;
    for (const Edit& e : edits_) {
      out.append(in_.substr(prev, e.begin - prev));
      out.append(text_, e.at, e.len);
      prev = e.end;
    }
    out.append(in_.substr(prev));
    body.swap(out);
    if (out.capacity() > kKeptScratchBytes) std::string().swap(out);
  }

 private:
  struct Edit {
    std::size_t begin, end;  // replaced range of the input
    std::size_t at, len;     // replacement, in text_
  };
  struct Scratch {
    std::vector<Edit> edits;
    std::string text;
    std::string out;
  };
  static constexpr std::size_t kKeptScratchBytes = 64 * 1024;
  static Scratch& scratch() {
    thread_local Scratch s;
    return s;
  }

  std::string_view in_;
  std::vector<Edit>& edits_;
  std::string& text_;
};

// With no nvext key in the body (the parser saw every key), the hints go before the closing brace,
// where the merge would put them, without scanning the conversation: in place, the body's tail
// after that brace is only whitespace. False when the body is not so framed.
bool append_member(std::string& body, std::size_t open, const Member& member) {
  if (open >= body.size() || body[open] != '{') return false;
  const std::size_t close = body.find_last_not_of(" \t\r\n");
  if (close == npos || close <= open || body[close] != '}') return false;
  thread_local std::string text;
  text.clear();
  append_rendered(member, true, skip_ws(body, open + 1) != close, text);
  body.insert(close, text);
  if (text.capacity() > 64 * 1024) std::string().swap(text);
  return true;
}

}  // namespace

bool merge_member(std::string& body, const Member& member, bool key_absent) {
  // A UTF-8 byte order mark is not JSON whitespace, but some clients send one.
  const std::size_t bom = std::string_view(body).starts_with("\xEF\xBB\xBF") ? 3 : 0;
  const std::size_t open = skip_ws(body, bom);
  if (key_absent) return append_member(body, open, member);
  Splice splice(body);
  if (splice.merge_object(open, std::span(&member, 1)) == npos) return false;
  splice.apply(body);
  return true;
}

}  // namespace augur::proxy
