// Hint values and hint writing: the values from a prediction, what Dynamo is told, and the bytes
// each format writes (headers here, the body's nvext object through proxy/hints/nvext_splice).
#include "proxy/hints/inject.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>
#include <vector>

#include "common/json_string.hpp"
#include "common/printable.hpp"
#include "proxy/hints/nvext_splice.hpp"

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

// Merges `h` into the body's nvext object in the format asked for (nvext or nvext_nat).
BodyOutcome write_nvext(std::string& body, const Hints& h, config::HintFormat format,
                        const RequestInfo& info, const config::Upstream::NvextDialects& dialects,
                        bool& cache_control) {
  cache_control = false;
  if (!info.json) return BodyOutcome::skipped_not_json;
  // nvext is an extension of OpenAI's chat completions and completions bodies (Dynamo, vLLM);
  // Responses and Messages servers reject members they do not know, so by default those get
  // headers only (upstreams[].nvext_dialects).
  const bool accepted = info.dialect == Dialect::responses     ? dialects.responses
                        : info.dialect == Dialect::messages    ? dialects.messages
                        : info.dialect == Dialect::completions ? dialects.completions
                                                               : dialects.chat_completions;
  if (!accepted) return BodyOutcome::skipped_dialect;
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

  if (!merge_member(body, top, info.no_nvext_key)) return BodyOutcome::skipped_malformed;
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
  h.session_known = ctx.run_named_by_client;
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

// Appends hint headers to a request head, counting them. Every hint header name is unknown to
// Beast (inject_test checks), so no lookup is needed.
class HeaderWriter {
 public:
  HeaderWriter(RequestHead& headers, InjectResult& result) : headers_(headers), result_(result) {}

  void put(std::string_view name, std::string_view value) {
    headers_.insert(http::field::unknown, name, value);
    ++result_.headers_set;
  }

  void put_int(std::string_view name, std::int64_t v) {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
    put(name, {digits, static_cast<std::size_t>(end - digits)});
  }

  // "remaining=A, osl=B, iat=C" (an RFC 8941 dictionary of integers).
  void put_triple(std::string_view name, std::int64_t a, std::int64_t b, std::int64_t c) {
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
  }

  // Hints built by hand may carry anything; a header value must never carry CR/LF.
  std::string_view safe_id(const std::string& id) {
    if (!has_unsafe_byte(id)) return id;
    sanitized_ = sanitize_token(id, kMaxRunIdBytes);
    return sanitized_;
  }

 private:
  RequestHead& headers_;
  InjectResult& result_;
  std::string sanitized_;
};

std::int64_t samples(const Hints::Evidence& e) {
  return static_cast<std::int64_t>(std::min<std::uint64_t>(e.samples, INT64_MAX));
}

void write_nat_headers(HeaderWriter& out, const Hints& h) {
  out.put_int(kNatHeaders[0], h.remaining);
  out.put_int(kNatHeaders[1], h.iat_ms);
  out.put_int(kNatHeaders[2], h.osl);
  out.put_int(kNatHeaders[3], h.latency_sensitivity);
  out.put_int(kNatHeaders[4], h.call_index);
  out.put(kNatHeaders[5], trie::to_string(h.source));
  out.put_triple(kEvidenceHeaders[0], samples(h.remaining_evidence), samples(h.osl_evidence),
                 samples(h.iat_evidence));
  out.put_triple(kEvidenceHeaders[1], h.remaining_evidence.spread, h.osl_evidence.spread,
                 h.iat_evidence.spread);
}

void write_prefix_headers(HeaderWriter& out, const Hints& h) {
  out.put(kPrefixHeaders[0], out.safe_id(h.prefix_id));
  out.put_int(kPrefixHeaders[1], h.total_requests);
  out.put(kPrefixHeaders[2], osl_bucket(h.osl));
  out.put(kPrefixHeaders[3], iat_bucket(h.iat_ms));
  out.put_int(kPrefixHeaders[4], h.latency_sensitivity);
}

void write_dynamo_headers(HeaderWriter& out, const Hints& h) {
  if (h.priority) {
    out.put_int(kDynamoHeaders[0], *h.priority);
    if (h.strict_priority) out.put_int(kDynamoHeaders[1], std::max(*h.priority, 0));
  }
  // Only a run the client named is a session Dynamo can follow (a generated id would open a
  // session per call that nothing ever ends).
  if (h.session_known) {
    out.put(kDynamoHeaders[2], out.safe_id(h.prefix_id));
    if (!h.parent_id.empty()) out.put(kDynamoHeaders[3], out.safe_id(h.parent_id));
    if (h.session_final) out.put(kDynamoHeaders[4], "true");
  }
}

// The nvext members in the body, and a Content-Length that matches the new body.
void write_nvext_body(RequestHead& headers, std::string& body, const Hints& h,
                      config::HintFormat format, const RequestInfo& info,
                      const config::Upstream::NvextDialects& dialects, InjectResult& result) {
  result.body = write_nvext(body, h, format, info, dialects, result.cache_control);
  if (result.body != BodyOutcome::nvext_written) return;
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, body.size());
  headers.erase_if([](http::field id, std::string_view) {
    return id == http::field::content_length || id == http::field::transfer_encoding;
  });
  headers.insert(http::field::content_length, {digits, static_cast<std::size_t>(end - digits)});
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
  HeaderWriter out(headers, result);
  for (config::HintFormat format : rules.hints) {
    if (!(formats & format_bit(format))) continue;
    formats &= ~format_bit(format);
    switch (format) {
      case config::HintFormat::nat_headers:
        write_nat_headers(out, h);
        break;
      case config::HintFormat::prefix_headers:
        write_prefix_headers(out, h);
        break;
      case config::HintFormat::dynamo_headers:
        write_dynamo_headers(out, h);
        break;
      case config::HintFormat::nvext:
      case config::HintFormat::nvext_nat:
        write_nvext_body(headers, body, h, format, info, rules.nvext_dialects, result);
        break;
    }
  }
  return result;
}

}  // namespace augur::proxy
