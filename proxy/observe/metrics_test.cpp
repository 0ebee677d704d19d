// The /metrics document from per-worker storage: sums across workers, series keyed by upstream
// name, errors by kind, learning families only with learning, and a scrape running while a
// worker records.
#include "proxy/observe/metrics.hpp"

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "learning/engine/stats.hpp"
#include "proxy/observe/access_log.hpp"

namespace augur::proxy {
namespace {

RequestRecord record(std::string upstream, int status, Outcome outcome = Outcome::ok) {
  RequestRecord r;
  r.upstream = std::move(upstream);
  r.upstream_index = r.upstream.empty() ? -1 : 0;
  r.llm_call = true;
  r.status = status;
  r.outcome = outcome;
  r.duration_s = 0.2;
  r.overhead_s = outcome == Outcome::ok ? 0.0002 : 0;  // failures here never wrote upstream
  r.ttfb_s = outcome == Outcome::ok ? 0.03 : -1;
  r.call.hints.source = trie::Source::exact;
  return r;
}

std::string render(const std::vector<const WorkerMetrics*>& workers,
                   const learning::LearnerStats* learner = nullptr) {
  MetricsSources src;
  src.workers = workers;
  src.inflight = 3;
  src.learner = learner;
  src.trie_nodes = 7;
  return render_metrics(src);
}

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST_CASE("requests are summed over workers per upstream name and status") {
  WorkerMetrics a, b;
  a.record(record("vllm", 200));
  a.record(record("vllm", 200));
  b.record(record("vllm", 200));
  b.record(record("dynamo", 502, Outcome::connect_failed));
  b.record(record("", 503, Outcome::no_upstream));
  const auto text = render({&a, &b});
  CHECK(has(text, R"(augur_requests_total{upstream="vllm",code="200"} 3)"));
  CHECK(has(text, R"(augur_requests_total{upstream="dynamo",code="502"} 1)"));
  CHECK(has(text, R"(augur_requests_total{upstream="",code="503"} 1)"));
  CHECK(has(text, R"(augur_upstream_errors_total{upstream="dynamo",kind="connect"} 1)"));
  CHECK(has(text, R"(augur_upstream_errors_total{upstream="",kind="no_upstream"} 1)"));
  CHECK(text.find(R"(kind="ok")") == std::string::npos);
  // 0.2 s falls in the 0.25 bucket; the TTFB histogram only has the answered requests.
  CHECK(has(text, R"(augur_request_duration_seconds_bucket{upstream="vllm",le="0.1"} 0)"));
  CHECK(has(text, R"(augur_request_duration_seconds_bucket{upstream="vllm",le="0.25"} 3)"));
  CHECK(has(text, R"(augur_request_duration_seconds_count{upstream="vllm"} 3)"));
  CHECK(has(text, R"(augur_upstream_ttfb_seconds_count{upstream="vllm"} 3)"));
  CHECK(text.find(R"(augur_upstream_ttfb_seconds_count{upstream="dynamo"})") == std::string::npos);
  // Hints count requests routed to an upstream (4 of 5), overhead those written upstream (3).
  CHECK(has(text, R"(augur_proxy_overhead_seconds_bucket{le="0.00025"} 3)"));
  CHECK(has(text, R"(augur_proxy_overhead_seconds_bucket{le="+Inf"} 3)"));
  CHECK(has(text, R"(augur_hints_total{source="exact"} 4)"));
  CHECK(has(text, "augur_inflight_requests 3"));
  CHECK(has(text, "augur_trie_nodes 7"));
}

TEST_CASE("learning families appear with learning; redis_up only with a Redis store") {
  WorkerMetrics w;
  CHECK(render({&w}).find("augur_runs_completed_total") == std::string::npos);

  learning::LearnerStats stats;
  stats.runs_completed = 5;
  stats.trie_version = 2;
  stats.error(learning::Hint::output_tokens, trie::Source::exact).observe(0.4);
  auto text = render({&w}, &stats);
  CHECK(has(text, "augur_runs_completed_total 5"));
  CHECK(has(text, "augur_trie_version 2"));
  CHECK(has(text, "augur_observations_dropped_total 0"));
  CHECK(text.find("augur_redis_up") == std::string::npos);
  CHECK(text.find("augur_sona_") == std::string::npos);
  CHECK(has(
      text,
      R"(augur_prediction_error_ratio_bucket{hint="output_tokens",source="exact",le="0.3"} 0)"));
  CHECK(has(
      text,
      R"(augur_prediction_error_ratio_bucket{hint="output_tokens",source="exact",le="0.5"} 1)"));
  CHECK(text.find(R"(hint="remaining_calls")") == std::string::npos);

  stats.redis_up = 0;
  CHECK(has(render({&w}, &stats), "augur_redis_up 0"));
}

TEST_CASE("a scrape while the worker records sees whole series and ends with every request") {
  WorkerMetrics w;
  constexpr int n = 20000;
  std::thread writer([&] {
    for (int i = 0; i < n; ++i) w.record(record(i % 2 ? "a" : "b", 200));
  });
  for (int i = 0; i < 50; ++i) CHECK(!render({&w}).empty());
  writer.join();
  const auto text = render({&w});
  CHECK(has(text, R"(augur_requests_total{upstream="a",code="200"} 10000)"));
  CHECK(has(text, R"(augur_requests_total{upstream="b",code="200"} 10000)"));
}

TEST_CASE("the access log line is one JSON object with the request's facts") {
  auto r = record("vllm", 200);
  r.method = "POST";
  r.target = "/v1/chat/completions?x=\"q\"";
  r.call.run_id = "run-1";
  r.call.path = {"agent", "search"};
  r.call.call_index = 2;
  r.call.started_at_ms = 1700000000123;
  r.call.output_tokens = 42;
  std::string line;
  AccessLog::format(r, line);
  CHECK(line ==
        R"({"time":"2023-11-14T22:13:20.123Z","upstream":"vllm","method":"POST",)"
        R"("path":"/v1/chat/completions?x=\"q\"","status":200,"outcome":"ok",)"
        R"("duration_ms":200.000,"ttfb_ms":30.000,"overhead_ms":0.200,"run_id":"run-1",)"
        R"("function_path":["agent","search"],"call_index":2,"hints":{"source":"exact",)"
        R"("remaining":0,"osl":0,"iat_ms":0,"latency_sensitivity":0,)"
        R"("samples":{"remaining":0,"osl":0,"iat":0},"spread":{"remaining":0,"osl":0,"iat":0},)"
        R"("priority":null,"speculative_prefill":false,"session_final":false},)"
        R"("output_tokens":42})");

  auto none = record("", 503, Outcome::no_upstream);
  none.method = "GET";
  none.target = "/v1/models";
  line.clear();
  AccessLog::format(none, line);
  CHECK(line.find(R"("upstream":null)") != std::string::npos);
  CHECK(line.find(R"("run_id":null,"function_path":[],"call_index":null,"hints":null)") !=
        std::string::npos);
}

}  // namespace
}  // namespace augur::proxy
