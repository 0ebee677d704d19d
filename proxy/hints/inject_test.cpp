// Hint values (DESIGN.md "Values") and every byte augur writes: header formats, the nvext body
// splice (re-parsed with simdjson to prove the body stays valid JSON), Content-Length, stripping,
// CR/LF.
#include "proxy/hints/inject.hpp"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace http = boost::beast::http;
using namespace augur;
using namespace augur::proxy;

namespace {

trie::MetricStats metric(double mean, double p90) { return {10, mean, mean, p90, p90}; }

trie::Prediction full_prediction() {
  trie::Prediction p;
  p.remaining_calls = metric(2.6, 5);
  p.interarrival_ms = metric(149.5, 900);
  p.output_tokens = metric(120, 300.4);
  p.latency_sensitivity = 4;
  return p;
}

CallContext context(std::uint32_t calls_in_run, std::uint32_t call_index = 2) {
  CallContext c;
  c.run_id = "run-1";
  c.run_id_from_client = true;
  c.run_named_by_client = true;
  c.call_index = call_index;
  c.calls_in_run = calls_in_run;
  return c;
}

// remaining 3, iat 150, osl 300, sensitivity 4, total 7, call index 2, source exact.
Hints sample_hints() {
  trie::Prediction p = full_prediction();
  return resolve_hints(&p, trie::Source::exact, context(4), config::StaticPrediction{}, 5);
}

config::Upstream upstream(std::vector<config::HintFormat> formats) {
  config::Upstream u;
  u.name = "test";
  u.hints = std::move(formats);
  return u;
}

RequestInfo json_info() {
  RequestInfo info;
  info.json = true;
  return info;
}

std::string header(const RequestHead& h, std::string_view name) {
  const auto value = h.find(name);
  return value ? std::string(*value) : std::string("<absent>");
}

// Parses `body` and returns the element at a JSON pointer, failing the test on invalid JSON.
simdjson::dom::element at(simdjson::dom::parser& parser, const std::string& body,
                          std::string_view pointer) {
  simdjson::dom::element doc;
  REQUIRE(parser.parse(body).get(doc) == simdjson::SUCCESS);
  simdjson::dom::element e;
  REQUIRE_MESSAGE(doc.at_pointer(pointer).get(e) == simdjson::SUCCESS, pointer);
  return e;
}

constexpr std::string_view kNvext =
    R"("nvext":{"agent_hints":{"osl":300,"priority":4,"latency_sensitivity":4,"prefix_id":"run-1",)"
    R"("total_requests":7,"iat":150},"cache_control":{"type":"ephemeral","ttl":"1s"}})";

}  // namespace

TEST_CASE("resolve_hints: values from a full prediction") {
  Hints h = sample_hints();
  CHECK(h.remaining == 3);  // round(2.6)
  CHECK(h.iat_ms == 150);   // round(149.5), half away from zero
  CHECK(h.osl == 300);      // round(p90 300.4)
  CHECK(h.latency_sensitivity == 4);
  CHECK(h.total_requests == 7);  // 4 calls so far + 3 remaining
  CHECK(h.call_index == 2);
  CHECK(h.calls_in_run == 4);
  CHECK(h.prefix_id == "run-1");
  CHECK(h.source == trie::Source::exact);
  CHECK_FALSE(h.from_static.remaining);
  CHECK_FALSE(h.from_static.total_requests);
  CHECK_FALSE(h.from_static.osl);
  CHECK_FALSE(h.from_static.iat);
  CHECK_FALSE(h.from_static.latency_sensitivity);
}

TEST_CASE("resolve_hints: remaining 0 is a real answer") {
  trie::Prediction p = full_prediction();
  p.remaining_calls = metric(0.4, 1);
  Hints h = resolve_hints(&p, trie::Source::ancestor, context(5), config::StaticPrediction{}, 5);
  CHECK(h.remaining == 0);
  CHECK_FALSE(h.from_static.remaining);
  CHECK(h.total_requests == 5);
  CHECK_FALSE(h.from_static.total_requests);
  CHECK(h.source == trie::Source::ancestor);
  CHECK_FALSE(cache_ttl(h));
}

TEST_CASE("resolve_hints: osl, iat and total_requests below 1 fall back to static") {
  trie::Prediction p = full_prediction();
  p.output_tokens = metric(0.2, 0.4);
  p.interarrival_ms = metric(0.3, 10);
  config::StaticPrediction fallback{10, 512, 250, 2};
  Hints h = resolve_hints(&p, trie::Source::root, context(4), fallback, 5);
  CHECK(h.osl == 512);
  CHECK(h.from_static.osl);
  CHECK(h.iat_ms == 250);
  CHECK(h.from_static.iat);
  CHECK(h.remaining == 3);  // the other fields stay predicted
  CHECK_FALSE(h.from_static.remaining);

  p.remaining_calls = metric(0, 0);
  CallContext hand_built = context(0);  // calls_in_run 0 + remaining 0 = 0 < 1
  Hints t = resolve_hints(&p, trie::Source::root, hand_built, fallback, 5);
  CHECK(t.remaining == 0);
  CHECK(t.total_requests == 10);
  CHECK(t.from_static.total_requests);
}

TEST_CASE("resolve_hints: missing metrics and no prediction use static values") {
  config::StaticPrediction fallback{10, 512, 250, 2};
  trie::Prediction p = full_prediction();
  p.output_tokens = {};  // sample_count 0
  p.remaining_calls = {};
  p.interarrival_ms.mean = std::numeric_limits<double>::quiet_NaN();
  Hints h = resolve_hints(&p, trie::Source::exact, context(3), fallback, 5);
  CHECK(h.osl == 512);
  CHECK(h.iat_ms == 250);
  CHECK(h.total_requests == 10);
  CHECK(h.remaining == 7);  // derived from static total_requests: 10 - 3
  CHECK(h.from_static.remaining);
  CHECK(h.from_static.total_requests);
  CHECK(h.latency_sensitivity == 4);
  CHECK(h.source == trie::Source::exact);

  Hints none = resolve_hints(nullptr, trie::Source::exact, context(12), fallback, 5);
  CHECK(none.source == trie::Source::static_fallback);
  CHECK(none.total_requests == 10);
  CHECK(none.remaining == 1);  // never 0 ("last call") when nothing is known
  CHECK(none.osl == 512);
  CHECK(none.iat_ms == 250);
  CHECK(none.latency_sensitivity == 2);
  CHECK(none.from_static.latency_sensitivity);
}

TEST_CASE("resolve_hints: latency sensitivity from the prediction only within 1..scale") {
  config::StaticPrediction fallback{10, 512, 250, 2};
  trie::Prediction p = full_prediction();
  for (auto [given, expected] : {std::pair{std::optional<int>(5), 5},
                                 {std::optional<int>(1), 1},
                                 {std::optional<int>(6), 2},
                                 {std::optional<int>(0), 2},
                                 {std::optional<int>(), 2}}) {
    p.latency_sensitivity = given;
    CHECK(resolve_hints(&p, trie::Source::exact, context(1), fallback, 5).latency_sensitivity ==
          expected);
  }
  fallback.latency_sensitivity = 9;  // a static value above the scale is clamped
  CHECK(resolve_hints(nullptr, trie::Source::exact, context(1), fallback, 5).latency_sensitivity ==
        5);
}

TEST_CASE("resolve_hints: absurd predictions are capped, not overflowed") {
  trie::Prediction p = full_prediction();
  p.remaining_calls = metric(1e300, 1e300);
  p.interarrival_ms = metric(1e300, 1e300);
  Hints h = resolve_hints(&p, trie::Source::exact, context(1), config::StaticPrediction{}, 5);
  CHECK(h.remaining == std::numeric_limits<std::int32_t>::max());
  CHECK(h.total_requests == std::int64_t{std::numeric_limits<std::int32_t>::max()} + 1);
  REQUIRE(cache_ttl(h));
  CHECK(cache_ttl(h)->back() == 's');
}

TEST_CASE("nat_headers: exact values") {
  RequestHead f;
  std::string body = "{}";
  auto r = apply_hints(f, body, sample_hints(), upstream({config::HintFormat::nat_headers}),
                       json_info());
  CHECK(r.headers_set == 8);  // the six values, samples and spread
  CHECK(header(f, "x-nat-remaining-llm-calls") == "3");
  CHECK(header(f, "x-nat-interarrival-ms") == "150");
  CHECK(header(f, "x-nat-expected-output-tokens") == "300");
  CHECK(header(f, "x-nat-latency-sensitivity") == "4");
  CHECK(header(f, "x-nat-call-index") == "2");
  CHECK(header(f, "x-nat-prediction-source") == "exact");
  CHECK(body == "{}");
  CHECK(r.body == BodyOutcome::untouched);
  CHECK(header(f, "content-length") == "<absent>");

  Hints none = resolve_hints(nullptr, trie::Source::exact, context(1), {}, 5);
  apply_hints(f, body, none, upstream({config::HintFormat::nat_headers}), json_info());
  CHECK(header(f, "x-nat-prediction-source") == "static");
}

TEST_CASE("prefix_headers: exact values and LOW/MEDIUM/HIGH buckets") {
  RequestHead f;
  std::string body;
  apply_hints(f, body, sample_hints(), upstream({config::HintFormat::prefix_headers}), {});
  CHECK(header(f, "x-prefix-id") == "run-1");
  CHECK(header(f, "x-prefix-total-requests") == "7");
  CHECK(header(f, "x-prefix-osl") == "MEDIUM");
  CHECK(header(f, "x-prefix-iat") == "MEDIUM");
  CHECK(header(f, "x-prefix-latency-sensitivity") == "4");

  CHECK(osl_bucket(1) == "LOW");
  CHECK(osl_bucket(255) == "LOW");
  CHECK(osl_bucket(256) == "MEDIUM");
  CHECK(osl_bucket(1023) == "MEDIUM");
  CHECK(osl_bucket(1024) == "HIGH");
  CHECK(iat_bucket(99) == "LOW");
  CHECK(iat_bucket(100) == "MEDIUM");
  CHECK(iat_bucket(499) == "MEDIUM");
  CHECK(iat_bucket(500) == "HIGH");
}

TEST_CASE("dynamo_headers: priority, session, parent and final as Dynamo reads them") {
  RequestHead f;
  std::string body;
  config::Upstream u = upstream({config::HintFormat::dynamo_headers});
  Hints h = sample_hints();
  h.parent_id = "parent-7";
  decide_dynamo(h, config::Dynamo{});
  apply_hints(f, body, h, u, {});
  CHECK(header(f, "x-dynamo-request-priority") == "4");  // the sensitivity, by default
  CHECK(header(f, "x-dynamo-request-strict-priority") == "<absent>");
  CHECK(header(f, "x-dynamo-session-id") == "run-1");
  CHECK(header(f, "x-dynamo-parent-session-id") == "parent-7");
  CHECK(header(f, "x-dynamo-session-final") == "<absent>");

  // The client's last call; strict priority asked for; the client's own values replaced.
  f.set("x-dynamo-session-id", "client");
  f.set("x-dynamo-session-final", "false");
  h.client_final = true;
  config::Dynamo d;
  d.strict_priority = true;
  decide_dynamo(h, d);
  apply_hints(f, body, h, u, {});
  CHECK(header(f, "x-dynamo-session-final") == "true");
  CHECK(header(f, "x-dynamo-request-strict-priority") == "4");
  CHECK(f.count("x-dynamo-session-id") == 1);
  CHECK(header(f, "x-dynamo-session-id") == "run-1");

  // No priority with dynamo.priority off; a generated run id is no session.
  RequestHead g;
  d.priority = config::Dynamo::Priority::off;
  h.session_known = false;
  decide_dynamo(h, d);
  apply_hints(g, body, h, u, {});
  CHECK(header(g, "x-dynamo-request-priority") == "<absent>");
  CHECK(header(g, "x-dynamo-session-id") == "<absent>");
  CHECK(header(g, "x-dynamo-session-final") == "<absent>");
}

TEST_CASE("remaining_work priority: fewer predicted tokens still to come, higher priority") {
  CHECK(remaining_work_priority(0, 100) == 10);   // W = 100
  CHECK(remaining_work_priority(0, 255) == 10);   // W = 255
  CHECK(remaining_work_priority(0, 256) == 9);    // W = 256: one doubling
  CHECK(remaining_work_priority(1, 384) == 8);    // W = 768: log2(4) = 2
  CHECK(remaining_work_priority(9, 512) == 6);    // W = 5120: log2(21) = 4.4
  CHECK(remaining_work_priority(99, 4096) == 1);  // W = 409600: past the last level
  CHECK(remaining_work_priority(-3, 0) == 10);    // nonsense in, a valid priority out
  // Monotone: more remaining calls or longer answers never raise the priority.
  for (std::int64_t r = 0; r < 50; ++r) {
    for (std::int64_t osl : {1, 64, 512, 4096}) {
      CHECK(remaining_work_priority(r + 1, osl) <= remaining_work_priority(r, osl));
      CHECK(remaining_work_priority(r, osl * 2) <= remaining_work_priority(r, osl));
    }
  }
}

TEST_CASE("decide_dynamo: speculative prefill and predicted final need evidence") {
  config::Dynamo d;
  Hints h = sample_hints();  // remaining 3 from 10 samples
  decide_dynamo(h, d);
  CHECK(h.speculative_prefill);
  CHECK_FALSE(h.session_final);
  d.speculative_prefill = config::Dynamo::SpeculativePrefill::off;
  decide_dynamo(h, d);
  CHECK_FALSE(h.speculative_prefill);
  d = {};
  d.min_samples = 11;  // more than the prediction has
  decide_dynamo(h, d);
  CHECK_FALSE(h.speculative_prefill);

  // Static fallbacks never qualify.
  Hints s = resolve_hints(nullptr, trie::Source::static_fallback, context(1), {}, 5);
  decide_dynamo(s, {});
  CHECK(s.remaining >= 1);
  CHECK_FALSE(s.speculative_prefill);

  // The predicted last call: no prefill; final only when asked for and nine in ten agree.
  trie::Prediction last = full_prediction();
  last.remaining_calls = {20, 0.05, 0, 0, 1};  // mean 0.05, p90 0
  Hints l = resolve_hints(&last, trie::Source::exact, context(5), {}, 5);
  decide_dynamo(l, {});
  CHECK(l.remaining == 0);
  CHECK_FALSE(l.speculative_prefill);
  CHECK_FALSE(l.session_final);  // session_final: client by default
  d = {};
  d.session_final = config::Dynamo::SessionFinal::predicted;
  decide_dynamo(l, d);
  CHECK(l.session_final);
  CHECK(l.final_predicted);
  last.remaining_calls = {20, 0.4, 0, 1, 1};  // mean rounds to 0, but p90 says often not last
  Hints unsure = resolve_hints(&last, trie::Source::exact, context(5), {}, 5);
  decide_dynamo(unsure, d);
  CHECK(unsure.remaining == 0);
  CHECK_FALSE(unsure.session_final);
}

TEST_CASE("nat_headers carry the evidence: samples and spread per value") {
  RequestHead f;
  std::string body;
  apply_hints(f, body, sample_hints(), upstream({config::HintFormat::nat_headers}), {});
  CHECK(header(f, "x-nat-prediction-samples") == "remaining=10, osl=10, iat=10");
  // metric(mean, p90) has p50 = mean: spread = p90 - p50.
  CHECK(header(f, "x-nat-prediction-spread") == "remaining=2, osl=180, iat=751");
  RequestHead g;
  apply_hints(g, body, resolve_hints(nullptr, trie::Source::exact, context(1), {}, 5),
              upstream({config::HintFormat::nat_headers}), {});
  CHECK(header(g, "x-nat-prediction-samples") == "remaining=0, osl=0, iat=0");
}

TEST_CASE("nvext for Dynamo 1.3+: only osl, priority, speculative_prefill, strict_priority") {
  RequestHead f;
  auto rules = upstream({config::HintFormat::nvext});
  Hints h = sample_hints();
  decide_dynamo(h, {});
  std::string body = R"({"model":"m"})";
  auto r = apply_hints(f, body, h, rules, json_info());
  CHECK(r.body == BodyOutcome::nvext_written);
  CHECK_FALSE(r.cache_control);
  CHECK(
      body ==
      R"({"model":"m","nvext":{"agent_hints":{"osl":300,"priority":4,"speculative_prefill":true}}})");

  // The client's own nvext keys are kept as they are; augur's replace same-named ones.
  config::Dynamo d;
  d.strict_priority = true;
  d.priority = config::Dynamo::Priority::remaining_work;
  h.remaining = 0;
  decide_dynamo(h, d);
  body = R"({"nvext":{"greed_sampling":true,"agent_hints":{"osl":1,"latency_sensitivity":2.5}}})";
  apply_hints(f, body, h, rules, json_info());
  CHECK(body == R"({"nvext":{"greed_sampling":true,"agent_hints":{"osl":300,)"
                R"("latency_sensitivity":2.5,"priority":9,"strict_priority":9}}})");

  // dynamo.priority off: osl alone.
  d.priority = config::Dynamo::Priority::off;
  decide_dynamo(h, d);
  body = "{}";
  apply_hints(f, body, h, rules, json_info());
  CHECK(body == R"({"nvext":{"agent_hints":{"osl":300}}})");
}

TEST_CASE("cache ttl: remaining x iat rounded up to seconds, minutes when whole") {
  Hints h = sample_hints();
  auto ttl = [&](std::int64_t remaining, std::int64_t iat) {
    h.remaining = remaining;
    h.iat_ms = iat;
    return cache_ttl(h).value_or("<none>");
  };
  CHECK(ttl(3, 150) == "1s");
  CHECK(ttl(1, 1000) == "1s");
  CHECK(ttl(1, 1001) == "2s");
  CHECK(ttl(4, 15000) == "1m");
  CHECK(ttl(2, 30001) == "61s");
  CHECK(ttl(10, 12000) == "2m");
  CHECK(ttl(0, 5000) == "<none>");
}

TEST_CASE("nvext_nat: added to a body without nvext, Content-Length fixed") {
  RequestHead f;
  f.set(http::field::content_length, "999");
  f.set(http::field::transfer_encoding, "chunked");
  const std::string original = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
  std::string body = original;
  auto r =
      apply_hints(f, body, sample_hints(), upstream({config::HintFormat::nvext_nat}), json_info());
  CHECK(r.body == BodyOutcome::nvext_written);
  CHECK(r.cache_control);
  CHECK(r.headers_set == 0);
  CHECK(body == original.substr(0, original.size() - 1) + "," + std::string(kNvext) + "}");
  CHECK(header(f, "content-length") == std::to_string(body.size()));
  CHECK(header(f, "transfer-encoding") == "<absent>");
  simdjson::dom::parser parser;
  CHECK(std::string_view(at(parser, body, "/model")) == "m");
}

TEST_CASE("nvext_nat: empty objects and whitespace") {
  RequestHead f;
  auto rules = upstream({config::HintFormat::nvext_nat});
  std::string body = "{}";
  apply_hints(f, body, sample_hints(), rules, json_info());
  CHECK(body == "{" + std::string(kNvext) + "}");

  body = " \n{ \"a\" : 1 ,\n \"nvext\" : { } } \n";
  apply_hints(f, body, sample_hints(), rules, json_info());
  simdjson::dom::parser parser;
  CHECK(int64_t(at(parser, body, "/a")) == 1);
  CHECK(int64_t(at(parser, body, "/nvext/agent_hints/osl")) == 300);
  CHECK(std::string_view(at(parser, body, "/nvext/cache_control/ttl")) == "1s");
}

TEST_CASE("nvext_nat: merges into what the client sent, keeping other keys") {
  RequestHead f;
  auto rules = upstream({config::HintFormat::nvext_nat});
  std::string body =
      R"({"nvext":{"ignore_eos":true,"agent_hints":{"osl":1,"speculative_prefill":true},)"
      R"("cache_control":{"type":"x","extra":5},"annotations":["a"]},"model":"m"})";
  apply_hints(f, body, sample_hints(), rules, json_info());
  CHECK(body ==
        R"({"nvext":{"ignore_eos":true,"agent_hints":{"osl":300,"speculative_prefill":true,)"
        R"("priority":4,"latency_sensitivity":4,"prefix_id":"run-1","total_requests":7,"iat":150},)"
        R"("cache_control":{"type":"ephemeral","extra":5,"ttl":"1s"},"annotations":["a"]},)"
        R"("model":"m"})");
  simdjson::dom::parser parser;
  CHECK(bool(at(parser, body, "/nvext/ignore_eos")));
  CHECK(bool(at(parser, body, "/nvext/agent_hints/speculative_prefill")));
  CHECK(std::string_view(at(parser, body, "/nvext/annotations/0")) == "a");
  CHECK(header(f, "content-length") == std::to_string(body.size()));
}

TEST_CASE("nvext_nat: nvext present without agent_hints, and non-object values replaced") {
  RequestHead f;
  auto rules = upstream({config::HintFormat::nvext_nat});
  std::string body = R"({"nvext":{"ignore_eos":false}})";
  apply_hints(f, body, sample_hints(), rules, json_info());
  CHECK(body == R"({"nvext":{"ignore_eos":false,"agent_hints":{"osl":300,"priority":4,)"
                R"("latency_sensitivity":4,"prefix_id":"run-1","total_requests":7,"iat":150},)"
                R"("cache_control":{"type":"ephemeral","ttl":"1s"}}})");

  body = R"({"nvext":null,"x":[1,{"y":"}"}]})";
  apply_hints(f, body, sample_hints(), rules, json_info());
  CHECK(body == "{" + std::string(kNvext) + R"(,"x":[1,{"y":"}"}]})");

  body = R"({"nvext":{"agent_hints":"bogus"}})";
  apply_hints(f, body, sample_hints(), rules, json_info());
  simdjson::dom::parser parser;
  CHECK(int64_t(at(parser, body, "/nvext/agent_hints/iat")) == 150);
}

TEST_CASE("nvext_nat: the configured priority; no cache_control when remaining is 0") {
  RequestHead f;
  auto rules = upstream({config::HintFormat::nvext_nat});
  Hints h = sample_hints();
  h.remaining = 0;
  config::Dynamo d;
  d.priority = config::Dynamo::Priority::remaining_work;
  decide_dynamo(h, d);
  std::string body = R"({"nvext":{"cache_control":{"type":"ephemeral","ttl":"5m"}}})";
  auto r = apply_hints(f, body, h, rules, json_info());
  CHECK_FALSE(r.cache_control);
  simdjson::dom::parser parser;
  CHECK(int64_t(at(parser, body, "/nvext/agent_hints/priority")) == 9);           // (0 + 1) x 300
  CHECK(std::string_view(at(parser, body, "/nvext/cache_control/ttl")) == "5m");  // client's kept
}

TEST_CASE("nvext_nat: tricky but valid JSON stays valid and is found by key, not by bytes") {
  RequestHead f;
  auto rules = upstream({config::HintFormat::nvext_nat});
  simdjson::dom::parser parser;
  // Braces and "nvext" inside strings, escaped quotes and backslashes, an escaped key.
  std::string body =
      R"({"messages":[{"content":"}{\"nvext\":{ \\\""}],"x":"\\\\","nv\u0065xt":{"k":"\\"}})";
  RequestInfo info = parse_request_body(body);
  REQUIRE(info.json);
  CHECK(info.has_nvext);  // keys compare decoded, in RequestInfo as in the splice
  apply_hints(f, body, sample_hints(), rules, info);
  CHECK(std::string_view(at(parser, body, "/messages/0/content")) == "}{\"nvext\":{ \\\"");
  CHECK(std::string_view(at(parser, body, "/nvext/k")) == "\\");
  CHECK(int64_t(at(parser, body, "/nvext/agent_hints/osl")) == 300);
  CHECK(body.find("\"nvext\"") == std::string::npos);  // merged into the escaped key, not added

  // A prefix id that needs JSON escaping.
  Hints h = sample_hints();
  h.prefix_id = "a\"b\\c";
  body = "{}";
  apply_hints(f, body, h, rules, json_info());
  CHECK(std::string_view(at(parser, body, "/nvext/agent_hints/prefix_id")) == "a\"b\\c");
}

TEST_CASE("nvext_nat: a long prompt is spliced, the original bytes kept verbatim") {
  std::string body = R"({"model":"m","messages":[)";
  for (int i = 0; i < 6000; ++i) {
    body += R"({"role":"user","content":"lorem ipsum \"quoted\" {braces} [brackets] \\ )" +
            std::to_string(i) + "\"},";
  }
  body += R"({"role":"user","content":"end"}],"nvext":{"agent_hints":{"osl":2}},"stream":true})";
  REQUIRE(body.size() > 400000);
  const std::string original = body;
  RequestHead f;
  apply_hints(f, body, sample_hints(), upstream({config::HintFormat::nvext_nat}), json_info());
  const std::size_t cut = original.find(R"("nvext")");
  CHECK(body.compare(0, cut, original, 0, cut) == 0);
  simdjson::dom::parser parser;
  CHECK(int64_t(at(parser, body, "/nvext/agent_hints/osl")) == 300);
  CHECK(bool(at(parser, body, "/stream")));
  CHECK(simdjson::dom::array(at(parser, body, "/messages")).size() == 6001);
}

TEST_CASE("nvext_nat: a body that is not a JSON object is left untouched") {
  auto rules = upstream({config::HintFormat::nvext_nat, config::HintFormat::nat_headers});
  for (std::string original : {std::string("not json"), std::string("[1,2]"), std::string()}) {
    RequestHead f;
    f.set(http::field::content_length, std::to_string(original.size()));
    std::string body = original;
    RequestInfo info = parse_request_body(body);
    auto r = apply_hints(f, body, sample_hints(), rules, info);
    CHECK(r.body == BodyOutcome::skipped_not_json);
    CHECK(body == original);
    CHECK(header(f, "content-length") == std::to_string(original.size()));
    CHECK(header(f, "x-nat-call-index") == "2");  // headers are still written
  }
  // RequestInfo from another body: the scanner refuses instead of guessing.
  RequestHead f;
  std::string body = R"({"a":)";
  auto r = apply_hints(f, body, sample_hints(), rules, json_info());
  CHECK(r.body == BodyOutcome::skipped_malformed);
  CHECK(body == R"({"a":)");
}

TEST_CASE("a format listed twice is written once") {
  RequestHead f;
  std::string body = "{}";
  auto rules = upstream({config::HintFormat::nvext_nat, config::HintFormat::nvext_nat});
  apply_hints(f, body, sample_hints(), rules, json_info());
  CHECK(body == "{" + std::string(kNvext) + "}");
}

TEST_CASE("strip_client_hints removes hint headers and keeps context headers") {
  RequestHead f;
  for (std::string_view name : kHintHeaders) f.insert(name, "client");
  f.insert("X-Prefix-OSL", "HIGH");  // any case, any count
  const char* context_headers[] = {
      "x-nat-run-id",        "x-nat-function-path", "x-nat-call-index",      "x-prefix-id",
      "x-dynamo-session-id", "x-nat-run-end",       "x-dynamo-session-final"};
  for (const char* name : context_headers) f.set(name, "99");
  f.set("authorization", "Bearer k");
  strip_client_hints(f);
  for (std::string_view name : kHintHeaders) CHECK(f.count(name) == 0);
  for (const char* name : context_headers) CHECK(f.count(name) == 1);
  CHECK(f.count("authorization") == 1);

  // augur's own values replace the client's context headers it also writes.
  std::string body;
  apply_hints(f, body, sample_hints(),
              upstream({config::HintFormat::nat_headers, config::HintFormat::prefix_headers}), {});
  CHECK(f.count("x-nat-call-index") == 1);
  CHECK(header(f, "x-nat-call-index") == "2");
  CHECK(f.count("x-prefix-id") == 1);
  CHECK(header(f, "x-prefix-id") == "run-1");
}

TEST_CASE("no CR, LF or control byte ever reaches a header augur writes") {
  // From the request: a body prefix id with CR/LF goes through context extraction first.
  RequestInfo info = json_info();
  info.nvext_prefix_id = "x\r\nInjected: 1-d2";
  RunTable table(10, std::chrono::seconds(30));
  RequestHead in;
  CallContext ctx = extract_context(in, info, table, Clock::now());
  Hints from_request = resolve_hints(nullptr, trie::Source::exact, ctx, {}, 5);
  // And a hand-built Hints, bypassing extraction.
  Hints by_hand = sample_hints();
  by_hand.prefix_id = "y\r\nInjected: 2\x7f";

  auto all = upstream({config::HintFormat::nat_headers, config::HintFormat::prefix_headers,
                       config::HintFormat::dynamo_headers, config::HintFormat::nvext_nat});
  for (const Hints& h : {from_request, by_hand}) {
    RequestHead f;
    std::string body = "{}";
    apply_hints(f, body, h, all, json_info());
    f.for_each([](http::field, std::string_view name, std::string_view value) {
      CAPTURE(name);
      for (unsigned char c : value) CHECK((c >= 0x20 && c < 0x7f));
    });
    CHECK(header(f, "x-prefix-id").find("Injected") != std::string::npos);  // kept, made safe
    simdjson::dom::parser parser;
    CHECK(std::string_view(at(parser, body, "/nvext/agent_hints/prefix_id")).size() > 0);
  }
}

TEST_CASE(
    "nvext splice property: any body RequestInfo calls JSON comes out valid, with the hints") {
  // Seeded random JSON-ish bodies: mostly valid objects built from tricky pieces, plus byte-level
  // mutations of them. Whenever parse_request_body accepts the body, the splice must succeed and
  // the result must parse with the hints in place; otherwise the body must not change.
  std::mt19937 rng(20240611);
  const std::vector<std::string> values = {"1",
                                           "-2.5e3",
                                           "true",
                                           "null",
                                           R"("")",
                                           R"("}{")",
                                           R"("\"\\")",
                                           R"("\u00e9\ud83d\ude00")",
                                           "[]",
                                           "{}",
                                           R"([{"a":[1,{"b":"]"}]}])",
                                           R"({"agent_hints":{"osl":3},"x":1})",
                                           R"({"agent_hints":null})",
                                           R"({"cache_control":{"ttl":"1h"}})",
                                           "\"caf\xc3\xa9\""};
  const std::vector<std::string> keys = {"model",       "nvext", "messages", "nv\\u0065xt",
                                         "agent_hints", "",      "a\\\"b",   "tools"};
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  auto ws = [&] { return std::string(rng() % 3, " \n\t"[rng() % 3]); };
  simdjson::dom::parser parser;
  auto rules = upstream({config::HintFormat::nvext_nat});
  int spliced = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string body = ws() + "{";
    const int members = static_cast<int>(rng() % 5);
    for (int m = 0; m < members; ++m) {
      if (m > 0) body += ",";
      body += ws() + "\"" + pick(keys) + "\"" + ws() + ":" + ws() + pick(values) + ws();
    }
    body += "}" + ws();
    if (rng() % 3 == 0) {  // mutate a byte: usually breaks the JSON, sometimes not
      body[rng() % body.size()] = "{}[]\",:\\ a1"[rng() % 12];
    }
    CAPTURE(body);
    const std::string original = body;
    // Every shape the hints render in: strict or not, with and without cache_control (remaining
    // 0), an id that needs escaping.
    Hints hints = sample_hints();
    rules.hints = {rng() % 2 == 0 ? config::HintFormat::nvext : config::HintFormat::nvext_nat};
    if (rng() % 2 == 0) decide_dynamo(hints, {});
    if (rng() % 3 == 0) hints.remaining = 0;
    if (rng() % 3 == 0) hints.prefix_id = "run \"7\" \\ x";
    hints.osl = 300;
    RequestInfo info = parse_request_body(body);
    RequestHead f;
    auto r = apply_hints(f, body, hints, rules, info);
    if (!info.json) {
      CHECK(r.body == BodyOutcome::skipped_not_json);
      CHECK(body == original);
      continue;
    }
    REQUIRE(r.body == BodyOutcome::nvext_written);
    ++spliced;
    // Without an nvext key the splice skips the scan; it must make exactly the merge's edit.
    RequestInfo scanned = info;
    scanned.no_nvext_key = false;
    std::string merged = original;
    RequestHead g;
    const auto m = apply_hints(g, merged, hints, rules, scanned);
    CHECK(merged == body);
    CHECK(m.cache_control == r.cache_control);
    CHECK(r.cache_control ==
          (hints.remaining > 0 && rules.hints[0] == config::HintFormat::nvext_nat));
    simdjson::dom::element doc;
    REQUIRE(parser.parse(body).get(doc) == simdjson::SUCCESS);
    // With duplicate keys simdjson finds the first occurrence; every occurrence was merged.
    int64_t osl = 0;
    REQUIRE(doc.at_pointer("/nvext/agent_hints/osl").get(osl) == simdjson::SUCCESS);
    CHECK(osl == 300);
    CHECK(header(f, "content-length") == std::to_string(body.size()));
  }
  CHECK(spliced > 1000);
}

TEST_CASE("names augur writes are unknown to Beast, so they may be set by name alone") {
  for (std::string_view name : kHintHeaders) {
    CAPTURE(name);
    CHECK(http::string_to_field(name) == http::field::unknown);
  }
  CHECK(http::string_to_field("x-nat-call-index") == http::field::unknown);
  CHECK(http::string_to_field("x-prefix-id") == http::field::unknown);
  CHECK(http::string_to_field("x-forwarded-for") == http::field::unknown);
  CHECK(http::string_to_field("x-forwarded-proto") == http::field::unknown);
}
