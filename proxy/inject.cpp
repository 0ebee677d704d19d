// Hint values and hint writing. The nvext splice uses a small scanner instead of a JSON library
// round-trip: request bodies carry whole conversations (often hundreds of KB), and rewriting a few
// dozen bytes must cost one linear scan and one copy, and must not reformat what the client sent.
#include "proxy/inject.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>
#include <vector>

#include "common/json_string.hpp"
#include "common/printable.hpp"

namespace augur::proxy {
namespace {

namespace http = boost::beast::http;

constexpr double kMaxValue = std::numeric_limits<std::int32_t>::max();

// A metric's value rounded to an integer, or nullopt when it is missing (no samples, not finite).
std::optional<std::int64_t> rounded(const trie::MetricStats& m, double v) {
  if (m.sample_count == 0 || !std::isfinite(v)) return std::nullopt;
  return std::llround(std::clamp(v, -kMaxValue, kMaxValue));
}

std::int64_t static_value(double v) {
  if (!std::isfinite(v)) return 1;
  return std::max<std::int64_t>(1, std::llround(std::clamp(v, -kMaxValue, kMaxValue)));
}

std::string int_text(std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

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

// One member augur wants in an object: a JSON leaf, or a nested object merged recursively.
struct Member {
  std::string_view key;
  std::string_view leaf;             // JSON text, when `object` is empty
  std::span<const Member> object{};  // members of a nested object
  bool is_object = false;
};

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

// Merges `h` into the body's nvext object in the format asked for (nvext or nvext_nat).
BodyOutcome write_nvext(std::string& body, const Hints& h, config::HintFormat format,
                        const RequestInfo& info, bool& cache_control) {
  cache_control = false;
  if (!info.json) return BodyOutcome::skipped_not_json;
  const bool nat = format == config::HintFormat::nvext_nat;
  // The leaf values' JSON texts, rendered into one reused buffer (no string per value); views are
  // taken once it has stopped growing.
  thread_local std::string leaves;
  leaves.clear();
  struct Range {
    std::size_t at = 0, length = 0;
  };
  const auto put_number = [&](std::int64_t v) {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
    const Range r{leaves.size(), static_cast<std::size_t>(end - digits)};
    leaves.append(digits, r.length);
    return r;
  };
  const auto put_string = [&](std::string_view text) {
    const std::size_t at = leaves.size();
    append_json_string(leaves, text);
    return Range{at, leaves.size() - at};
  };
  // NAT's router reads the sensitivity as the priority.
  const std::optional<int> priority = nat ? h.priority.value_or(h.latency_sensitivity) : h.priority;
  const Range osl_r = put_number(h.osl);
  const Range priority_r = priority ? put_number(*priority) : Range{};
  const Range strict_r = priority ? put_number(std::max(*priority, 0)) : Range{};
  Range sensitivity_r, prefix_r, total_r, iat_r, ttl_r;
  std::optional<std::string> ttl_value;
  if (nat) {
    sensitivity_r = put_number(h.latency_sensitivity);
    prefix_r = put_string(h.prefix_id);
    total_r = put_number(h.total_requests);
    iat_r = put_number(h.iat_ms);
    ttl_value = cache_ttl(h);
    if (ttl_value) ttl_r = put_string(*ttl_value);
  }
  const auto text = [&](Range r) { return std::string_view(leaves).substr(r.at, r.length); };

  Member agent_hints[6];
  std::size_t n = 0;
  agent_hints[n++] = {"osl", text(osl_r)};
  if (priority) agent_hints[n++] = {"priority", text(priority_r)};
  if (nat) {
    agent_hints[n++] = {"latency_sensitivity", text(sensitivity_r)};
    agent_hints[n++] = {"prefix_id", text(prefix_r)};
    agent_hints[n++] = {"total_requests", text(total_r)};
    agent_hints[n++] = {"iat", text(iat_r)};
  } else {
    // Only keys Dynamo 1.3+ accepts (deny_unknown_fields): anything else fails the request.
    if (h.speculative_prefill) agent_hints[n++] = {"speculative_prefill", "true"};
    if (priority && h.strict_priority) agent_hints[n++] = {"strict_priority", text(strict_r)};
  }
  const Member cache_control_members[] = {{"type", "\"ephemeral\""}, {"ttl", text(ttl_r)}};
  const Member nvext[] = {
      {"agent_hints", {}, std::span(agent_hints, n), true},
      {"cache_control", {}, cache_control_members, true},
  };
  const Member top{"nvext", {}, std::span(nvext, ttl_value ? 2 : 1), true};

  // A UTF-8 byte order mark is not JSON whitespace, but some clients send one.
  const std::size_t bom = std::string_view(body).starts_with("\xEF\xBB\xBF") ? 3 : 0;
  const std::size_t open = skip_ws(body, bom);
  if (info.no_nvext_key) {
    if (!append_member(body, open, top)) return BodyOutcome::skipped_malformed;
  } else {
    Splice splice(body);
    if (splice.merge_object(open, std::span(&top, 1)) == npos) {
      return BodyOutcome::skipped_malformed;
    }
    splice.apply(body);
  }
  cache_control = ttl_value.has_value();
  return BodyOutcome::nvext_written;
}

bool has_unsafe_byte(std::string_view s) { return !printable_ascii(s); }

}  // namespace

Hints resolve_hints(const trie::Prediction* p, trie::Source source, const CallContext& ctx,
                    const config::StaticPrediction& fallback, int scale) {
  Hints h;
  h.scale = std::max(scale, 1);
  h.prefix_id =
      has_unsafe_byte(ctx.run_id) ? sanitize_token(ctx.run_id, kMaxRunIdBytes) : ctx.run_id;
  h.parent_id = ctx.parent_id;
  h.session_known = ctx.run_id_from_client;
  h.client_final = ctx.client_final;
  h.call_index = ctx.call_index;
  h.calls_in_run = ctx.calls_in_run;
  h.source = p != nullptr ? source : trie::Source::static_fallback;
  const auto evidence = [](const trie::MetricStats& m) {
    Hints::Evidence e;
    e.samples = m.sample_count;
    if (std::isfinite(m.p90 - m.p50)) {
      e.spread = std::llround(std::clamp(m.p90 - m.p50, 0.0, kMaxValue));
    }
    return e;
  };

  const std::int64_t static_total = static_value(fallback.total_requests);
  if (p != nullptr) {
    if (auto r = rounded(p->remaining_calls, p->remaining_calls.mean); r && *r >= 0) {
      h.remaining = *r;
      h.from_static.remaining = false;
      h.remaining_evidence = evidence(p->remaining_calls);
      if (std::isfinite(p->remaining_calls.p90)) h.remaining_p90 = p->remaining_calls.p90;
    }
    if (auto v = rounded(p->output_tokens, p->output_tokens.p90); v && *v >= 1) {
      h.osl = *v;
      h.from_static.osl = false;
      h.osl_evidence = evidence(p->output_tokens);
    }
    if (auto v = rounded(p->interarrival_ms, p->interarrival_ms.mean); v && *v >= 1) {
      h.iat_ms = *v;
      h.from_static.iat = false;
      h.iat_evidence = evidence(p->interarrival_ms);
    }
    if (p->latency_sensitivity && *p->latency_sensitivity >= 1 &&
        *p->latency_sensitivity <= h.scale) {
      h.latency_sensitivity = *p->latency_sensitivity;
      h.from_static.latency_sensitivity = false;
    }
  }
  if (h.from_static.remaining) {
    h.remaining = std::max<std::int64_t>(1, static_total - ctx.calls_in_run);
    h.total_requests = static_total;
  } else {
    h.total_requests = static_cast<std::int64_t>(ctx.calls_in_run) + h.remaining;
    if (h.total_requests >= 1) {
      h.from_static.total_requests = false;
    } else {
      h.total_requests = static_total;  // only with calls_in_run 0 from a hand-built context
    }
  }
  if (h.from_static.osl) h.osl = static_value(fallback.osl);
  if (h.from_static.iat) h.iat_ms = static_value(fallback.iat_ms);
  if (h.from_static.latency_sensitivity) {
    h.latency_sensitivity = std::clamp(fallback.latency_sensitivity, 1, h.scale);
  }
  return h;
}

void strip_client_hints(RequestHead& headers) {
  // One pass over the fields (every hint header starts with "x-"), not ten erase-by-name lookups.
  headers.erase_if([](http::field, std::string_view name) {
    if (name.size() <= 2 || (name[0] != 'x' && name[0] != 'X') || name[1] != '-') return false;
    return std::any_of(std::begin(kHintHeaders), std::end(kHintHeaders),
                       [&](std::string_view h) { return token_equals_lower(name, h); });
  });
}

int remaining_work_priority(std::int64_t remaining, std::int64_t osl) {
  const double work = static_cast<double>(std::max<std::int64_t>(remaining, 0) + 1) *
                      std::max<std::int64_t>(osl, 1);
  const int levels = static_cast<int>(std::floor(std::log2(1 + work / 256)));
  return std::max(1, 10 - levels);
}

void decide_dynamo(Hints& h, const config::Dynamo& d) {
  using D = config::Dynamo;
  switch (d.priority) {
    case D::Priority::latency_sensitivity:
      h.priority = h.latency_sensitivity;
      break;
    case D::Priority::remaining_work:
      h.priority = remaining_work_priority(h.remaining, h.osl);
      break;
    case D::Priority::off:
      h.priority = std::nullopt;
      break;
  }
  h.strict_priority = d.strict_priority && h.priority.has_value();
  const bool predicted = !h.from_static.remaining && h.remaining_evidence.samples >= d.min_samples;
  h.speculative_prefill = d.speculative_prefill == D::SpeculativePrefill::predicted && predicted &&
                          h.remaining >= 1 && !h.client_final;
  h.final_predicted = !h.client_final && d.session_final == D::SessionFinal::predicted &&
                      predicted && h.remaining == 0 && h.remaining_p90 >= 0 &&
                      h.remaining_p90 < 0.5;
  h.session_final = h.session_known && (h.client_final || h.final_predicted);
}

std::string_view osl_bucket(std::int64_t osl) {
  return osl < 256 ? "LOW" : osl < 1024 ? "MEDIUM" : "HIGH";
}

std::string_view iat_bucket(std::int64_t iat_ms) {
  return iat_ms < 100 ? "LOW" : iat_ms < 500 ? "MEDIUM" : "HIGH";
}

std::optional<std::string> cache_ttl(const Hints& h) {
  if (h.remaining <= 0) return std::nullopt;
  // Both factors are capped at INT32_MAX by resolve_hints, so the product fits in 64 bits.
  const std::int64_t ms = h.remaining * std::max<std::int64_t>(h.iat_ms, 1);
  const std::int64_t seconds = (ms + 999) / 1000;
  return seconds % 60 == 0 ? int_text(seconds / 60) + "m" : int_text(seconds) + "s";
}

namespace {

// The headers each format writes, in the order written.
constexpr std::string_view kNatHeaders[] = {
    "x-nat-remaining-llm-calls", "x-nat-interarrival-ms", "x-nat-expected-output-tokens",
    "x-nat-latency-sensitivity", "x-nat-call-index",      "x-nat-prediction-source"};
constexpr std::string_view kEvidenceHeaders[] = {"x-nat-prediction-samples",
                                                 "x-nat-prediction-spread"};
constexpr std::string_view kPrefixHeaders[] = {"x-prefix-id", "x-prefix-total-requests",
                                               "x-prefix-osl", "x-prefix-iat",
                                               "x-prefix-latency-sensitivity"};
constexpr std::string_view kDynamoHeaders[] = {
    "x-dynamo-request-priority", "x-dynamo-request-strict-priority", "x-dynamo-session-id",
    "x-dynamo-parent-session-id", "x-dynamo-session-final"};

unsigned format_bit(config::HintFormat f) { return 1u << static_cast<unsigned>(f); }

// Whether `name` is a header one of `formats` writes.
bool written_by(unsigned formats, std::string_view name) {
  if (name.size() < 11 || (name[0] | 0x20) != 'x' || name[1] != '-') return false;
  const auto in = [&](std::span<const std::string_view> names) {
    return std::any_of(names.begin(), names.end(),
                       [&](std::string_view n) { return token_equals_lower(name, n); });
  };
  return ((formats & format_bit(config::HintFormat::nat_headers)) &&
          (in(kNatHeaders) || in(kEvidenceHeaders))) ||
         ((formats & format_bit(config::HintFormat::prefix_headers)) && in(kPrefixHeaders)) ||
         ((formats & format_bit(config::HintFormat::dynamo_headers)) && in(kDynamoHeaders));
}

}  // namespace

InjectResult apply_hints(RequestHead& headers, std::string& body, const Hints& h,
                         const config::Upstream& rules, const RequestInfo& info) {
  InjectResult result;
  unsigned formats = 0;  // a format listed twice is written once
  for (config::HintFormat format : rules.hints) formats |= format_bit(format);
  // Every header written replaces any earlier value (a trusted client's, or the x-nat-call-index
  // and x-prefix-id a client sends as context): one pass removes them all, then each is appended
  // (basic_fields::set per header scanned every field once per header).
  if (formats &
      ~(format_bit(config::HintFormat::nvext) | format_bit(config::HintFormat::nvext_nat))) {
    headers.erase_if([&](http::field, std::string_view name) { return written_by(formats, name); });
  }
  // Every hint header name is unknown to Beast (request_head_test checks), so no lookup is needed.
  const auto put = [&](std::string_view name, std::string_view value) {
    headers.insert(http::field::unknown, name, value);
    ++result.headers_set;
  };
  // Hints built by hand may carry anything; a header value must never carry CR/LF.
  std::string sanitized;
  const auto safe_id = [&](const std::string& id) -> std::string_view {
    if (!has_unsafe_byte(id)) return id;
    sanitized = sanitize_token(id, kMaxRunIdBytes);
    return sanitized;
  };
  const auto put_int = [&](std::string_view name, std::int64_t v) {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
    put(name, {digits, static_cast<std::size_t>(end - digits)});
  };
  // "remaining=A, osl=B, iat=C" (an RFC 8941 dictionary of integers).
  const auto put_triple = [&](std::string_view name, std::int64_t a, std::int64_t b,
                              std::int64_t c) {
    char text[96];
    char* p = text;
    const auto field = [&](std::string_view key, std::int64_t v, bool last) {
      std::memcpy(p, key.data(), key.size());
      p += key.size();
      p = std::to_chars(p, p + 20, v).ptr;
      if (!last) p = std::copy_n(", ", 2, p);
    };
    field("remaining=", a, false);
    field("osl=", b, false);
    field("iat=", c, true);
    put(name, {text, static_cast<std::size_t>(p - text)});
  };
  const auto samples = [](const Hints::Evidence& e) {
    return static_cast<std::int64_t>(std::min<std::uint64_t>(e.samples, INT64_MAX));
  };
  for (config::HintFormat format : rules.hints) {
    if (!(formats & format_bit(format))) continue;
    formats &= ~format_bit(format);
    switch (format) {
      case config::HintFormat::nat_headers:
        put_int(kNatHeaders[0], h.remaining);
        put_int(kNatHeaders[1], h.iat_ms);
        put_int(kNatHeaders[2], h.osl);
        put_int(kNatHeaders[3], h.latency_sensitivity);
        put_int(kNatHeaders[4], h.call_index);
        put(kNatHeaders[5], trie::to_string(h.source));
        put_triple(kEvidenceHeaders[0], samples(h.remaining_evidence), samples(h.osl_evidence),
                   samples(h.iat_evidence));
        put_triple(kEvidenceHeaders[1], h.remaining_evidence.spread, h.osl_evidence.spread,
                   h.iat_evidence.spread);
        break;
      case config::HintFormat::prefix_headers:
        put(kPrefixHeaders[0], safe_id(h.prefix_id));
        put_int(kPrefixHeaders[1], h.total_requests);
        put(kPrefixHeaders[2], osl_bucket(h.osl));
        put(kPrefixHeaders[3], iat_bucket(h.iat_ms));
        put_int(kPrefixHeaders[4], h.latency_sensitivity);
        break;
      case config::HintFormat::dynamo_headers:
        if (h.priority) {
          put_int(kDynamoHeaders[0], *h.priority);
          if (h.strict_priority) put_int(kDynamoHeaders[1], std::max(*h.priority, 0));
        }
        // Only a run the client named is a session Dynamo can follow (a generated id would open
        // a session per call that nothing ever ends).
        if (h.session_known) {
          put(kDynamoHeaders[2], safe_id(h.prefix_id));
          if (!h.parent_id.empty()) put(kDynamoHeaders[3], safe_id(h.parent_id));
          if (h.session_final) put(kDynamoHeaders[4], "true");
        }
        break;
      case config::HintFormat::nvext:
      case config::HintFormat::nvext_nat:
        result.body = write_nvext(body, h, format, info, result.cache_control);
        if (result.body == BodyOutcome::nvext_written) {
          char digits[24];
          const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, body.size());
          headers.erase_if([](http::field id, std::string_view) {
            return id == http::field::content_length || id == http::field::transfer_encoding;
          });
          headers.insert(http::field::content_length,
                         {digits, static_cast<std::size_t>(end - digits)});
        }
        break;
    }
  }
  return result;
}

}  // namespace augur::proxy
