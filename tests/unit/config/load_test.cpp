// The YAML loader as a user meets it: defaults, the shipped example, every key landing in its
// field, and each kind of mistake reported with the right line and dotted key.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <string>

#include "config/config.hpp"

using namespace augur::config;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

// The error loading `yaml` raises; fails the test if it loads.
ConfigError error_of(const std::string& yaml) {
  try {
    load_string(yaml, "test.yaml");
  } catch (const ConfigError& e) {
    return e;
  }
  FAIL("config loaded but should not have:\n" << yaml);
  return ConfigError("", 0, "", "");
}

// A file in the temp dir, removed at scope exit.
struct TempFile {
  std::filesystem::path path;
  explicit TempFile(const std::string& text) {
    static int n = 0;
    path =
        std::filesystem::temp_directory_path() /
        ("augur_config_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + ".yaml");
    std::ofstream(path) << text;
  }
  ~TempFile() { std::filesystem::remove(path); }
};

}  // namespace

TEST_CASE("defaults: every key at its default, no upstreams") {
  const Config c = defaults();
  CHECK(c.source == "<embedded default>");
  CHECK(c.upstreams.empty());
  CHECK(c.routes.empty());
  CHECK(c.listen == Endpoint{"127.0.0.1", 8080});
  CHECK(c.admin.listen == Endpoint{"127.0.0.1", 9464});
  CHECK(c.admin.token.empty());
  CHECK(c.threads == 0);
  CHECK(c.limits.max_header_bytes == 64 * 1024);
  CHECK(c.limits.max_body_bytes == 32 * 1024 * 1024);
  CHECK(c.context.run_idle_timeout == seconds(30));
  CHECK_FALSE(c.context.trust_client_hints);
  CHECK(c.prediction.fallback.total_requests == 10);
  CHECK(c.prediction.fallback.osl == 512);
  CHECK(c.prediction.fallback.iat_ms == 250);
  CHECK(c.prediction.fallback.latency_sensitivity == 2);
  CHECK(c.learning.enabled);
  CHECK(c.learning.rebuild_interval == seconds(60));
  CHECK(c.learning.half_life == std::chrono::minutes(2));
  CHECK(c.learning.max_paths == 1000);
  CHECK(c.learning.max_call_indices == 32);
  CHECK(c.learning.min_path_samples == 3);
  CHECK(c.learning.max_new_paths_per_run == 16);
  CHECK(c.learning.max_trie_bytes == 16 * 1024 * 1024);
  CHECK(c.learning.max_state_bytes == 64 * 1024 * 1024);
  CHECK(c.store.kind == "memory");
  CHECK(c.store.url == "redis://127.0.0.1:6379");
  CHECK(c.store.ns == "default");
  CHECK(c.store.key_prefix == "augur:");
  CHECK(c.sona.enabled);
  CHECK(c.access_log.target == "off");
  CHECK(c.shutdown_timeout == seconds(30));
}

TEST_CASE("an empty file, or one with only comments, is the defaults") {
  Config c = load_string("", "empty.yaml");
  CHECK(c.source == "empty.yaml");
  c.source = defaults().source;
  CHECK(c == defaults());

  c = load_string("# nothing here\n", "comments.yaml");
  c.source = defaults().source;
  CHECK(c == defaults());
}

TEST_CASE("the example config/augur.yaml loads and documents the defaults") {
  const std::string path = AUGUR_SOURCE_DIR "/config/augur.yaml";
  const Config c = load_file(path);
  CHECK(c.source == path);
  REQUIRE(c.upstreams.size() == 1);
  const Upstream& u = c.upstreams[0];
  CHECK(u.name == "dynamo");
  CHECK(u.url == "http://127.0.0.1:8000");
  CHECK_FALSE(u.https);
  CHECK(u.host == "127.0.0.1");
  CHECK(u.port == 8000);
  CHECK(u.base_path == "");
  CHECK(u.hints == std::vector<HintFormat>{HintFormat::nat_headers, HintFormat::nvext,
                                           HintFormat::dynamo_headers});
  REQUIRE(c.routes.size() == 1);
  CHECK(c.routes[0].path_prefix == "/v1/");
  CHECK(c.routes[0].upstreams == std::vector<std::string>{"dynamo"});

  // Everything else in the example is written at its default, so the example cannot drift from
  // the code's defaults unnoticed.
  const Upstream fresh;
  CHECK(u.timeouts == fresh.timeouts);
  CHECK(u.pool == fresh.pool);
  CHECK(u.tls == fresh.tls);
  Config rest = c;
  rest.source = defaults().source;
  rest.upstreams.clear();
  rest.routes.clear();
  CHECK(rest == defaults());
}

TEST_CASE("every key lands in its field") {
  const Config c = load_string(R"(
listen: "[::1]:18080"
admin: {listen: ":19464", token: s3cret}
threads: 4
upstreams:
  - name: a
    url: https://a.example:8443/base/
    hints: [prefix_headers, dynamo_headers, nvext_nat]
    timeouts: {connect: 1s, response_headers: 2s, stream_idle: 3s, write: 4s, total: 5m}
    pool: {max_idle_per_thread: 8, idle_timeout: 1500ms, max_age: 1h}
    tls: {verify: false, ca_file: /etc/ca.pem, server_name: a.internal}
  - name: b
    url: http://[::1]:9000
routes:
  - {path_prefix: /v1/chat, model: big, upstreams: [a, b]}
  - upstream: b
limits:
  max_header_bytes: 16KiB
  max_body_bytes: 1MB
  header_timeout: 5s
  body_timeout: 6s
  idle_timeout: 7s
  write_timeout: 8s
  max_connections: 50
context: {run_idle_timeout: 45s, trust_client_hints: true, max_runs: 10}
dynamo: {priority: remaining_work, strict_priority: true, speculative_prefill: "off",
         session_final: predicted, min_samples: 3}
prediction:
  trie_file: trie.json
  static: {total_requests: 3, osl: 128.5, iat_ms: 50, latency_sensitivity: 7}
  sensitivity_scale: 10
learning: {enabled: false, rebuild_interval: 10s, rebuild_runs: 100, queue_capacity: 1024,
           half_life: 0, max_paths: 64, max_call_indices: 8, min_path_samples: 2,
           max_new_paths_per_run: 4, max_trie_bytes: 1MiB, max_state_bytes: 2MiB}
store:
  kind: redis
  snapshot_file: /var/lib/augur/state.json
  snapshot_interval: 2m
  url: redis://redis:6379
  namespace: prod
  key_prefix: "x:"
  replica: r1
sona: {enabled: false, preset: edge, embedding_dim: 64, min_confidence: 0.7, background_interval: 5m}
access_log: stdout
shutdown_timeout: 10s
)",
                               "full.yaml");
  CHECK(c.listen == Endpoint{"::1", 18080});
  CHECK(c.admin.listen == Endpoint{"0.0.0.0", 19464});
  CHECK(c.admin.token == "s3cret");
  CHECK(c.threads == 4);

  REQUIRE(c.upstreams.size() == 2);
  const Upstream& a = c.upstreams[0];
  CHECK(a.name == "a");
  CHECK(a.https);
  CHECK(a.host == "a.example");
  CHECK(a.port == 8443);
  CHECK(a.base_path == "/base");
  CHECK(a.hints == std::vector<HintFormat>{HintFormat::prefix_headers, HintFormat::dynamo_headers,
                                           HintFormat::nvext_nat});
  CHECK(c.dynamo.priority == Dynamo::Priority::remaining_work);
  CHECK(c.dynamo.strict_priority);
  CHECK(c.dynamo.speculative_prefill == Dynamo::SpeculativePrefill::off);
  CHECK(c.dynamo.session_final == Dynamo::SessionFinal::predicted);
  CHECK(c.dynamo.min_samples == 3);
  CHECK(a.timeouts.connect == seconds(1));
  CHECK(a.timeouts.response_headers == seconds(2));
  CHECK(a.timeouts.stream_idle == seconds(3));
  CHECK(a.timeouts.write == seconds(4));
  CHECK(a.timeouts.total == std::chrono::minutes(5));
  CHECK(a.pool.max_idle_per_thread == 8);
  CHECK(a.pool.idle_timeout == milliseconds(1500));
  CHECK(a.pool.max_age == std::chrono::hours(1));
  CHECK_FALSE(a.tls.verify);
  CHECK(a.tls.ca_file == "/etc/ca.pem");
  CHECK(a.tls.server_name == "a.internal");
  const Upstream& b = c.upstreams[1];
  CHECK(b.host == "::1");
  CHECK(b.port == 9000);
  CHECK(b.hints.empty());
  CHECK(b.timeouts == UpstreamTimeouts{});

  REQUIRE(c.routes.size() == 2);
  CHECK(c.routes[0].path_prefix == "/v1/chat");
  CHECK(c.routes[0].model == "big");
  CHECK(c.routes[0].upstreams == std::vector<std::string>{"a", "b"});
  CHECK(c.routes[1].path_prefix.empty());
  CHECK(c.routes[1].upstreams == std::vector<std::string>{"b"});

  CHECK(c.limits.max_header_bytes == 16 * 1024);
  CHECK(c.limits.max_body_bytes == 1000000);
  CHECK(c.limits.header_timeout == seconds(5));
  CHECK(c.limits.body_timeout == seconds(6));
  CHECK(c.limits.idle_timeout == seconds(7));
  CHECK(c.limits.write_timeout == seconds(8));
  CHECK(c.limits.max_connections == 50);
  CHECK(c.context.run_idle_timeout == seconds(45));
  CHECK(c.context.trust_client_hints);
  CHECK(c.context.max_runs == 10);
  CHECK(c.prediction.trie_file == "trie.json");
  CHECK(c.prediction.fallback.total_requests == 3);
  CHECK(c.prediction.fallback.osl == 128.5);
  CHECK(c.prediction.fallback.iat_ms == 50);
  CHECK(c.prediction.fallback.latency_sensitivity == 7);
  CHECK(c.prediction.sensitivity_scale == 10);
  CHECK_FALSE(c.learning.enabled);
  CHECK(c.learning.rebuild_interval == seconds(10));
  CHECK(c.learning.rebuild_runs == 100);
  CHECK(c.learning.queue_capacity == 1024);
  CHECK(c.learning.half_life.count() == 0);
  CHECK(c.learning.max_paths == 64);
  CHECK(c.learning.max_call_indices == 8);
  CHECK(c.learning.min_path_samples == 2);
  CHECK(c.learning.max_new_paths_per_run == 4);
  CHECK(c.learning.max_trie_bytes == 1024 * 1024);
  CHECK(c.learning.max_state_bytes == 2 * 1024 * 1024);
  CHECK(c.store.kind == "redis");
  CHECK(c.store.snapshot_file == "/var/lib/augur/state.json");
  CHECK(c.store.snapshot_interval == std::chrono::minutes(2));
  CHECK(c.store.url == "redis://redis:6379");
  CHECK(c.store.ns == "prod");
  CHECK(c.store.key_prefix == "x:");
  CHECK(c.store.replica == "r1");
  CHECK_FALSE(c.sona.enabled);
  CHECK(c.sona.preset == "edge");
  CHECK(c.sona.embedding_dim == 64u);
  CHECK(c.sona.min_confidence == 0.7);
  CHECK(c.sona.background_interval == std::chrono::minutes(5));
  CHECK_FALSE(c.sona.pattern_clusters);
  CHECK(c.access_log.target == "stdout");
  CHECK(c.shutdown_timeout == seconds(10));
}

TEST_CASE("access_log as a scalar or a mapping; off stays the word off") {
  CHECK(load_string("access_log: off\n", "t").access_log.target == "off");
  CHECK(load_string("access_log: /var/log/augur.log\n", "t").access_log.target ==
        "/var/log/augur.log");
  CHECK(load_string("access_log: {target: stdout}\n", "t").access_log.target == "stdout");
}

TEST_CASE("a config without upstreams is valid (augur starts its mock upstream)") {
  const Config c = load_string("listen: 127.0.0.1:0\n", "t");
  CHECK(c.upstreams.empty());
  CHECK(c.listen.port == 0);
}

TEST_CASE("what() is FILE:LINE: KEY: MESSAGE") {
  const ConfigError e("augur.yaml", 12, "limits.body_timeout", "bad duration");
  CHECK(std::string(e.what()) == "augur.yaml:12: limits.body_timeout: bad duration");
  CHECK(e.file() == "augur.yaml");
  CHECK(e.line() == 12);
  CHECK(e.key() == "limits.body_timeout");
  CHECK(e.message() == "bad duration");
}

TEST_CASE("unknown keys are errors at every level, with a suggestion") {
  auto e = error_of(R"(upstreams:
  - name: a
    url: http://127.0.0.1:8000
    timeouts:
      conect: 5s
)");
  CHECK(e.line() == 5);
  CHECK(e.key() == "upstreams[0].timeouts.conect");
  CHECK(e.message() == R"(unknown key "conect" (did you mean "connect"?))");
  CHECK(
      std::string(e.what()) ==
      R"(test.yaml:5: upstreams[0].timeouts.conect: unknown key "conect" (did you mean "connect"?))");

  e = error_of("listen: 127.0.0.1:8080\nthread: 4\n");
  CHECK(e.line() == 2);
  CHECK(e.key() == "thread");
  CHECK(e.message().find(R"(did you mean "threads"?)") != std::string::npos);

  e = error_of("sona:\n  enabled: true\n  bogus_key: 1\n");
  CHECK(e.line() == 3);
  CHECK(e.key() == "sona.bogus_key");
  CHECK(e.message() == R"(unknown key "bogus_key")");
}

TEST_CASE("sona presets and overrides are validated with their key and line") {
  auto e = error_of("sona:\n  preset: max_troughput\n");
  CHECK(e.line() == 2);
  CHECK(e.key() == "sona.preset");
  CHECK(e.message().find(R"(did you mean "max_throughput"?)") != std::string::npos);

  e = error_of("sona:\n  enabled: true\n  micro_lora_rank: 3\n");
  CHECK(e.line() == 3);
  CHECK(e.key() == "sona.micro_lora_rank");
  CHECK(e.message() == "must be at most 2, got 3");

  e = error_of("sona:\n  min_confidence: 1.5\n");
  CHECK(e.key() == "sona.min_confidence");
  CHECK(e.message() == "must be at most 1, got 1.5");

  e = error_of("sona:\n  background_interval: 10ms\n");
  CHECK(e.key() == "sona.background_interval");

  const Config c = load_string("sona: {preset: coordinator, pattern_clusters: 50}\n", "t.yaml");
  CHECK(c.sona.preset == "coordinator");
  CHECK(c.sona.pattern_clusters == 50u);
  CHECK_FALSE(c.sona.embedding_dim);
}

TEST_CASE("bad durations name the key and line") {
  auto e = error_of("limits:\n  max_connections: 10\n  body_timeout: 30x\n");
  CHECK(e.line() == 3);
  CHECK(e.key() == "limits.body_timeout");
  CHECK(e.message().find("30x") != std::string::npos);

  e = error_of(
      "upstreams:\n  - name: a\n    url: http://h\n  - name: b\n    url: http://h\n"
      "    timeouts: {connect: -5s}\n");
  CHECK(e.line() == 6);
  CHECK(e.key() == "upstreams[1].timeouts.connect");
  CHECK(e.message().find("negative") != std::string::npos);

  // A key with nothing after it is blamed on its own line, not the next one.
  e = error_of("context:\n  run_idle_timeout:\n  max_runs: 5\n");
  CHECK(e.line() == 2);
  CHECK(e.key() == "context.run_idle_timeout");
}

TEST_CASE("bad upstream URLs") {
  auto e = error_of("upstreams:\n  - name: a\n    url: ftp://127.0.0.1\n");
  CHECK(e.line() == 3);
  CHECK(e.key() == "upstreams[0].url");
  CHECK(e.message().find("ftp") != std::string::npos);

  e = error_of("upstreams:\n  - name: a\n    url: http://h:8000/v1?key=1\n");
  CHECK(e.line() == 3);
  CHECK(e.message().find("query") != std::string::npos);

  e = error_of("upstreams:\n  - name: a\n    url: http://::1:8000\n");
  CHECK(e.key() == "upstreams[0].url");
  CHECK(e.message().find("brackets") != std::string::npos);
}

TEST_CASE("bad hint names") {
  auto e = error_of(
      "upstreams:\n  - name: a\n    url: http://h\n    hints:\n      - nat_headers\n"
      "      - nvxt\n");
  CHECK(e.line() == 6);
  CHECK(e.key() == "upstreams[0].hints[1]");
  CHECK(e.message().find(R"(did you mean "nvext"?)") != std::string::npos);

  e = error_of("upstreams:\n  - name: a\n    url: http://h\n    hints: [nvext, nvext]\n");
  CHECK(e.line() == 4);
  CHECK(e.key() == "upstreams[0].hints[1]");

  e = error_of("upstreams:\n  - name: a\n    url: http://h\n    hints: nvext\n");
  CHECK(e.key() == "upstreams[0].hints");
  CHECK(e.message().find("expected a list") != std::string::npos);
}

TEST_CASE("upstream names are required and unique") {
  auto e = error_of(R"(upstreams:
  - name: a
    url: http://h1
  - name: a
    url: http://h2
)");
  CHECK(e.line() == 4);
  CHECK(e.key() == "upstreams[1].name");
  CHECK(e.message().find("duplicate upstream name \"a\" (first on line 2)") != std::string::npos);

  e = error_of("upstreams:\n  - name: \"\"\n    url: http://h\n");
  CHECK(e.line() == 2);
  CHECK(e.key() == "upstreams[0].name");

  e = error_of("upstreams:\n  - name: a\n");
  CHECK(e.line() == 2);
  CHECK(e.key() == "upstreams[0]");
  CHECK(e.message() == R"(missing required key "url")");
}

TEST_CASE("routes must name existing upstreams, wherever the routes are written") {
  auto e = error_of(R"(routes:
  - path_prefix: /v1/
    upstreams: [dynamo, vllm]
upstreams:
  - name: dynamo
    url: http://h
)");
  CHECK(e.line() == 3);
  CHECK(e.key() == "routes[0].upstreams[1]");
  CHECK(e.message().find(R"(unknown upstream "vllm")") != std::string::npos);

  e = error_of(
      "upstreams:\n  - {name: dynamo, url: \"http://h\"}\nroutes:\n  - upstream: dynamoo\n");
  CHECK(e.line() == 4);
  CHECK(e.key() == "routes[0].upstream");
  CHECK(e.message().find(R"(did you mean "dynamo"?)") != std::string::npos);

  e = error_of("routes:\n  - model: m\n");
  CHECK(e.line() == 2);
  CHECK(e.key() == "routes[0]");

  e = error_of(
      "upstreams:\n  - {name: a, url: \"http://h\"}\nroutes:\n"
      "  - {upstream: a, upstreams: [a]}\n");
  CHECK(e.key() == "routes[0].upstreams");
}

TEST_CASE("wrong types are errors") {
  auto e = error_of("listen: 127.0.0.1:8080\nthreads: many\n");
  CHECK(e.line() == 2);
  CHECK(e.key() == "threads");
  CHECK(e.message().find("\"many\"") != std::string::npos);

  e = error_of("admin: 5\n");
  CHECK(e.line() == 1);
  CHECK(e.key() == "admin");
  CHECK(e.message().find("expected a mapping") != std::string::npos);

  e = error_of("learning:\n  enabled: maybe\n");
  CHECK(e.line() == 2);
  CHECK(e.key() == "learning.enabled");

  // Learning bounds: a bound of 0 would be no bound, so it is refused.
  e = error_of("learning:\n  max_paths: 0\n");
  CHECK(e.key() == "learning.max_paths");
  CHECK(e.message().find("at least 1") != std::string::npos);
  e = error_of("learning:\n  min_path_samples: 17\n");
  CHECK(e.key() == "learning.min_path_samples");
  e = error_of("learning:\n  half_life: 500ms\n");
  CHECK(e.key() == "learning.half_life");
  CHECK(e.message().find("at least 1s") != std::string::npos);
  e = error_of("learning:\n  max_trie_bytes: 1KiB\n");
  CHECK(e.key() == "learning.max_trie_bytes");

  e = error_of("upstreams:\n  name: a\n");
  CHECK(e.key() == "upstreams");
  CHECK(e.message().find("expected a list") != std::string::npos);

  e = error_of("limits:\n  max_body_bytes: [1, 2]\n");
  CHECK(e.line() == 2);
  CHECK(e.key() == "limits.max_body_bytes");

  e = error_of("threads: -1\n");
  CHECK(e.key() == "threads");
  CHECK(e.message().find("negative") != std::string::npos);

  e = error_of("- just\n- a list\n");
  CHECK(e.line() == 1);
  CHECK(e.message().find("expected a mapping") != std::string::npos);
}

TEST_CASE("values out of range") {
  auto e = error_of("store: {kind: postgres}\n");
  CHECK(e.key() == "store.kind");
  CHECK(e.message().find("memory, redis") != std::string::npos);

  e = error_of("store:\n  url: http://redis:6379\n");
  CHECK(e.line() == 2);
  CHECK(e.key() == "store.url");

  // What the Redis store cannot use is caught here, not at start-up: no TLS in Debian's hiredis.
  e = error_of("store:\n  url: rediss://redis:6379\n");
  CHECK(e.key() == "store.url");
  CHECK(e.message().find("rediss") != std::string::npos);
  e = error_of("store:\n  url: redis://redis:99999\n");
  CHECK(e.key() == "store.url");

  e = error_of("prediction:\n  static:\n    latency_sensitivity: 4\n  sensitivity_scale: 3\n");
  CHECK(e.line() == 3);
  CHECK(e.key() == "prediction.static.latency_sensitivity");

  e = error_of("limits:\n  max_header_bytes: 12\n");
  CHECK(e.key() == "limits.max_header_bytes");

  e = error_of("listen: 127.0.0.1\n");
  CHECK(e.key() == "listen");
  CHECK(e.message().find("port") != std::string::npos);

  e = error_of("routes:\n  - path_prefix: v1\n    upstream: a\n");
  CHECK(e.key() == "routes[0].path_prefix");
}

TEST_CASE("repeated keys are errors, not a silent last-wins") {
  auto e = error_of("threads: 2\nlisten: :8080\nthreads: 4\n");
  CHECK(e.line() == 3);
  CHECK(e.key() == "threads");
  CHECK(e.message().find("line 1") != std::string::npos);
}

TEST_CASE("YAML syntax errors name the file and line") {
  auto e = error_of("listen: 127.0.0.1:8080\nupstreams: [a, b\nthreads: 2\n");
  CHECK(e.file() == "test.yaml");
  CHECK(e.line() >= 2);
  CHECK(e.line() <= 3);
  CHECK(e.key().empty());
  CHECK(e.message().find("invalid YAML") != std::string::npos);

  e = error_of("admin:\n  listen: :1\n\ttoken: x\n");
  CHECK(e.line() == 3);

  const TempFile f("threads: 2\nadmin: {listen: :1\n");
  try {
    load_file(f.path.string());
    FAIL("loaded");
  } catch (const ConfigError& err) {
    CHECK(err.file() == f.path.string());
    CHECK(err.line() > 0);
    CHECK(std::string(err.what()).rfind(f.path.string() + ":", 0) == 0);
  }

  e = error_of("threads: 2\n---\nthreads: 3\n");
  CHECK(e.line() == 2);
  CHECK(e.message().find("one YAML document") != std::string::npos);

  // yaml-cpp 0.7 alone reads this as an empty document (so: all defaults) or, asked for every
  // document, loops until memory runs out. A comment broken over two lines looks like this.
  e = error_of("# timeouts: 30s\n, 250ms\nthreads: 2\n");
  CHECK(e.line() == 2);
  CHECK(e.message().find("invalid YAML") != std::string::npos);
  e = error_of("- a\n, b\n");
  CHECK(e.line() == 2);
}

TEST_CASE("a missing or unreadable file is an error naming the file") {
  const std::string path = "/nonexistent/augur-config-test/augur.yaml";
  try {
    load_file(path);
    FAIL("loaded");
  } catch (const ConfigError& e) {
    CHECK(e.file() == path);
    CHECK(e.line() == 0);
    CHECK(std::string(e.what()).rfind(path + ": ", 0) == 0);
    CHECK(e.message().find("No such file") != std::string::npos);
  }
  try {
    load_file(std::filesystem::temp_directory_path().string());  // a directory
    FAIL("loaded");
  } catch (const ConfigError& e) {
    CHECK(e.line() == 0);
  }
}

TEST_CASE("load_file reads a real file") {
  const TempFile f("listen: \"[::]:8081\"\nupstreams:\n  - {name: v, url: \"http://10.0.0.2\"}\n");
  const Config c = load_file(f.path.string());
  CHECK(c.source == f.path.string());
  CHECK(c.listen == Endpoint{"::", 8081});
  REQUIRE(c.upstreams.size() == 1);
  CHECK(c.upstreams[0].port == 80);
}

TEST_CASE("hint formats print as their config names") {
  CHECK(std::string(to_string(HintFormat::nat_headers)) == "nat_headers");
  CHECK(std::string(to_string(HintFormat::prefix_headers)) == "prefix_headers");
  CHECK(std::string(to_string(HintFormat::nvext)) == "nvext");
  CHECK(std::string(to_string(HintFormat::nvext_nat)) == "nvext_nat");
  CHECK(std::string(to_string(HintFormat::dynamo_headers)) == "dynamo_headers");
}

TEST_CASE("nvext and nvext_nat cannot both be asked of one upstream") {
  try {
    load_string("upstreams: [{name: a, url: 'http://h', hints: [nvext, nvext_nat]}]\n", "x.yaml");
    FAIL("accepted");
  } catch (const ConfigError& e) {
    CHECK(e.key() == "upstreams[0].hints[1]");
    CHECK(e.message().find("exclude each other") != std::string::npos);
  }
  try {
    load_string("dynamo: {priority: fastest}\n", "x.yaml");
    FAIL("accepted");
  } catch (const ConfigError& e) {
    CHECK(e.key() == "dynamo.priority");
  }
}

TEST_CASE("a damaged config is always a ConfigError, never a crash or another exception") {
  // Seeded mutations of the example stand in for a fuzzer in every test run; they found the
  // yaml-cpp stall that check_single_document guards against.
  std::ifstream in(AUGUR_SOURCE_DIR "/config/augur.yaml");
  const std::string base((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(!base.empty());
  const std::string alphabet = ":-[]{}\n \t#'\"!&*|>%@`,?0123456789abcsmhKiB.\\";
  std::mt19937 rng(20240611);
  int loaded = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string s = base;
    for (int k = 0, n = 1 + static_cast<int>(rng() % 6); k < n; ++k) {
      const std::size_t at = rng() % s.size();
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          s[at] = c;
          break;
        case 1:
          s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        default:
          s.erase(at, 1 + rng() % 8);
      }
    }
    try {
      const Config c = load_string(s, "mutant.yaml");
      // A stalled parser shows up as a config that lost its upstream (yaml-cpp read nothing).
      CHECK(c.upstreams.size() == 1);
      ++loaded;
    } catch (const ConfigError& e) {
      CHECK(e.line() >= 1);
    }
  }
  CHECK(loaded > 0);
}

namespace {

// Sets (or, with nullptr, unsets) an environment variable for one test, restoring it after.
struct EnvVar {
  std::string name;
  std::optional<std::string> saved;
  EnvVar(std::string n, const char* value) : name(std::move(n)) {
    if (const char* old = std::getenv(name.c_str())) saved = old;
    if (value != nullptr)
      ::setenv(name.c_str(), value, 1);
    else
      ::unsetenv(name.c_str());
  }
  ~EnvVar() {
    if (saved)
      ::setenv(name.c_str(), saved->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

}  // namespace

TEST_CASE("${NAME} in any value is that environment variable, textually, before parsing") {
  const EnvVar token("AUGUR_TEST_TOKEN", "s3cr'et \"${NOT_EXPANDED}\" $x");
  const EnvVar pod("AUGUR_TEST_POD", "augur-6d5f8c7b9-x2x4q");
  const EnvVar host("AUGUR_TEST_HOST", "redis.internal");
  const EnvVar port("AUGUR_TEST_PORT", "6380");
  const EnvVar drain("AUGUR_TEST_DRAIN", "90");
  const EnvVar threads("AUGUR_TEST_THREADS", "3");
  const EnvVar empty("AUGUR_TEST_EMPTY", "");
  const Config c = load_string(R"(
admin:
  token: ${AUGUR_TEST_TOKEN}
threads: ${AUGUR_TEST_THREADS}
upstreams:
  - name: up-${AUGUR_TEST_POD}
    url: "http://${AUGUR_TEST_HOST}:${AUGUR_TEST_PORT}/v1"
store:
  kind: redis
  url: redis://${AUGUR_TEST_HOST}:${AUGUR_TEST_PORT}/2
  replica: '${AUGUR_TEST_POD}'
  namespace: 'literal-$${AUGUR_TEST_POD}-cost$5-$'
shutdown_timeout: ${AUGUR_TEST_DRAIN}s
shutdown_delay: ${AUGUR_TEST_EMPTY}250ms
)",
                               "env.yaml");
  // The variable's bytes exactly; what the value itself holds is not expanded again.
  CHECK(c.admin.token == "s3cr'et \"${NOT_EXPANDED}\" $x");
  CHECK(c.threads == 3);
  REQUIRE(c.upstreams.size() == 1);
  CHECK(c.upstreams[0].name == "up-augur-6d5f8c7b9-x2x4q");
  CHECK(c.upstreams[0].host == "redis.internal");
  CHECK(c.upstreams[0].port == 6380);
  CHECK(c.upstreams[0].base_path == "/v1");
  CHECK(c.store.url == "redis://redis.internal:6380/2");
  CHECK(c.store.replica == "augur-6d5f8c7b9-x2x4q");
  // $${ is a literal ${; a $ not followed by { stays.
  CHECK(c.store.ns == "literal-${AUGUR_TEST_POD}-cost$5-$");
  CHECK(c.shutdown_timeout == seconds(90));
  CHECK(c.shutdown_delay == milliseconds(250));
}

TEST_CASE("an unset variable or a malformed ${ is an error with file, line and key") {
  const EnvVar unset("AUGUR_TEST_UNSET", nullptr);
  const EnvVar set("AUGUR_TEST_SET", "x");
  auto e = error_of("listen: 127.0.0.1:8080\nadmin:\n  token: ${AUGUR_TEST_UNSET}\n");
  CHECK(std::string(e.what()) ==
        "test.yaml:3: admin.token: environment variable AUGUR_TEST_UNSET is not set");

  // Inside a longer value, and in a number: the same error, before any parsing.
  e = error_of("upstreams:\n  - name: a\n    url: http://h:${AUGUR_TEST_UNSET}\n");
  CHECK(e.line() == 3);
  CHECK(e.key() == "upstreams[0].url");
  CHECK(e.message() == "environment variable AUGUR_TEST_UNSET is not set");
  e = error_of("limits:\n  body_timeout: ${AUGUR_TEST_UNSET}s\n");
  CHECK(e.key() == "limits.body_timeout");
  CHECK(e.message().find("AUGUR_TEST_UNSET") != std::string::npos);

  // A value that expands to something of the wrong type fails as that type's error.
  e = error_of("threads: ${AUGUR_TEST_SET}\n");
  CHECK(e.key() == "threads");
  CHECK(e.message().find("\"x\"") != std::string::npos);

  // No closing brace, an empty name, a name with a bad character or a leading digit.
  e = error_of("admin:\n  token: ab${AUGUR_TEST_SET\n");
  CHECK(e.line() == 2);
  CHECK(e.key() == "admin.token");
  CHECK(e.message().find("unterminated ${") != std::string::npos);
  for (const char* bad : {"${}", "${AUGUR-TEST}", "${1ABC}", "${ AUGUR_TEST_SET }", "$${x}${"}) {
    CAPTURE(bad);
    e = error_of(std::string("store:\n  replica: '") + bad + "'\n");
    CHECK(e.line() == 2);
    CHECK(e.key() == "store.replica");
  }

  // load_file, as `augur check-config` and a SIGHUP reload use it, names the file.
  const TempFile f(
      "upstreams:\n  - name: a\n    url: http://h\nstore:\n  replica: ${AUGUR_TEST_UNSET}\n");
  try {
    load_file(f.path.string());
    FAIL("loaded with an unset variable");
  } catch (const ConfigError& err) {
    CHECK(std::string(err.what()) == f.path.string() +
                                         ":5: store.replica: environment variable "
                                         "AUGUR_TEST_UNSET is not set");
  }
}

TEST_CASE("an admin token no Authorization header can carry is an error") {
  // `echo TOKEN | kubectl create secret --from-file` leaves a newline at the end.
  const EnvVar echoed("AUGUR_TEST_ECHOED", "s3cret\n");
  auto e = error_of("admin:\n  token: ${AUGUR_TEST_ECHOED}\n");
  CHECK(e.line() == 2);
  CHECK(e.key() == "admin.token");
  CHECK(e.message().find("line break") != std::string::npos);
  e = error_of("admin:\n  token: \"a\\tb\"\n");
  CHECK(e.message().find("control character") != std::string::npos);
  e = error_of("admin:\n  token: \" s3cret\"\n");
  CHECK(e.message().find("blank") != std::string::npos);
  // Blanks inside, quotes and any other printable character are fine.
  CHECK(load_string("admin:\n  token: \"a b'\\\"$%\"\n", "t.yaml").admin.token == "a b'\"$%");
}
