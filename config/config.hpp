// augur's configuration: the plain data every component reads, and the loader that builds it from
// YAML. The loader validates everything up front (unknown keys, bad durations, bad URLs) so the
// rest of augur can trust a Config it is handed. No yaml-cpp type appears in this header.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace augur::config {

using Duration = std::chrono::milliseconds;

// "host:port"; host may be a name, an IPv4 address or a bracketed IPv6 address. `host` is stored
// without the brackets (ready for a resolver); to_string() puts them back.
struct Endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string to_string() const;
  bool operator==(const Endpoint&) const = default;
};

// The hint formats an upstream can be sent (README "Request context and hints"): nvext for Dynamo
// 1.3+ (only keys it accepts), nvext_nat for NAT's own router and Dynamo < 1.3.
enum class HintFormat { nat_headers, prefix_headers, nvext, nvext_nat, dynamo_headers };

struct UpstreamTimeouts {
  Duration connect{std::chrono::seconds(5)};
  Duration response_headers{std::chrono::seconds(300)};  // request sent -> response header
  Duration stream_idle{std::chrono::seconds(300)};       // between two response body reads
  Duration write{std::chrono::seconds(60)};              // sending the request upstream
  Duration total{0};  // 0 = none: long generations must not be cut

  bool operator==(const UpstreamTimeouts&) const = default;
};

struct UpstreamPool {
  std::size_t max_idle_per_thread = 64;
  Duration idle_timeout{std::chrono::seconds(4)};  // below vLLM/uvicorn's 5 s keep-alive
  Duration max_age{std::chrono::seconds(300)};

  bool operator==(const UpstreamPool&) const = default;
};

struct Tls {
  bool verify = true;
  std::string ca_file;      // empty: the system store
  std::string server_name;  // SNI and certificate name; empty: the URL's host

  bool operator==(const Tls&) const = default;
};

struct Upstream {
  std::string name;
  std::string url;  // as written
  // Parsed from url:
  bool https = false;
  std::string host;        // IPv6 without brackets, as for Endpoint
  std::uint16_t port = 0;  // the URL's, else 80 / 443
  std::string base_path;   // "" or "/prefix" (no trailing slash), prepended to the request target
  std::vector<HintFormat> hints;
  // The APIs whose bodies get nvext / nvext_nat members (upstreams.nvext_dialects). Responses and
  // Messages servers usually reject members they do not know; a server that takes them can say so.
  struct NvextDialects {
    bool chat_completions = true;
    bool completions = true;
    bool responses = false;
    bool messages = false;
    bool operator==(const NvextDialects&) const = default;
  } nvext_dialects;
  UpstreamTimeouts timeouts;
  UpstreamPool pool;
  Tls tls;

  bool operator==(const Upstream&) const = default;
};

// First matching route wins; a route with neither prefix nor model matches everything. Requests no
// route matches go to the first upstream.
struct Route {
  std::string path_prefix;             // empty: any path
  std::string model;                   // empty: any model
  std::vector<std::string> upstreams;  // names; load-balanced by least outstanding requests

  bool operator==(const Route&) const = default;
};

struct Limits {
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_body_bytes = 32 * 1024 * 1024;
  Duration header_timeout{std::chrono::seconds(30)};  // whole request header (slowloris bound)
  Duration body_timeout{std::chrono::seconds(60)};    // whole request body
  Duration idle_timeout{std::chrono::seconds(120)};   // keep-alive wait for the next request
  Duration write_timeout{std::chrono::seconds(60)};   // any single write to the client
  std::size_t max_connections = 100000;

  bool operator==(const Limits&) const = default;
};

struct Admin {
  Endpoint listen{"127.0.0.1", 9464};
  std::string token;  // empty: no auth

  bool operator==(const Admin&) const = default;
};

// A name for agents augur infers (context.agents): matches when the system prompt contains
// `system_prompt_contains` (when set) and the request's tools include all of `tools`.
struct AgentName {
  std::string name;
  std::string system_prompt_contains;
  std::vector<std::string> tools;

  bool operator==(const AgentName&) const = default;
};

struct Context {
  Duration run_idle_timeout{std::chrono::seconds(30)};
  bool trust_client_hints = false;
  std::size_t max_runs = 100000;           // bound on the live run table
  bool infer = true;                       // infer runs of calls that name none
  std::size_t max_conversations = 100000;  // inferred-context memory bound (LRU)
  std::vector<AgentName> agents;           // first match names an inferred agent

  bool operator==(const Context&) const = default;
};

// What augur tells Dynamo beyond the hint values (the `dynamo:` section): which priority, whether
// to ask for speculative prefill, when to say a session is final.
struct Dynamo {
  // latency_sensitivity: the call's sensitivity (1..scale). remaining_work: shortest remaining
  // work first across runs, from predicted remaining calls x output tokens. off: no priority.
  enum class Priority {
    latency_sensitivity,
    remaining_work,
    off
  } priority = Priority::latency_sensitivity;
  bool strict_priority = false;  // also send the priority as strict_priority (a queue tier)
  enum class SpeculativePrefill {
    predicted,
    off
  } speculative_prefill = SpeculativePrefill::predicted;
  // client: final only when the client marked the run's last call. predicted: also when the
  // prediction says this is the last call with high confidence.
  enum class SessionFinal { client, predicted } session_final = SessionFinal::client;
  std::uint64_t min_samples = 5;  // samples a prediction needs to ask for prefill or say final

  bool operator==(const Dynamo&) const = default;
};

struct StaticPrediction {
  double total_requests = 10;
  double osl = 512;
  double iat_ms = 250;
  int latency_sensitivity = 2;

  bool operator==(const StaticPrediction&) const = default;
};

struct Prediction {
  std::string trie_file;      // NAT prediction_trie.json loaded at start; empty: none
  StaticPrediction fallback;  // YAML key: `static`
  int sensitivity_scale = 5;

  bool operator==(const Prediction&) const = default;
};

// The bounds and decay default to trie::default_limits() (learning/trie/builder.hpp); a unit test
// checks the two agree.
struct Learning {
  bool enabled = true;
  Duration rebuild_interval{std::chrono::seconds(60)};
  std::size_t rebuild_runs = 0;  // also rebuild after this many closed runs; 0 = interval only
  std::size_t queue_capacity = 65536;
  Duration half_life{std::chrono::minutes(2)};  // samples' weight halves per half-life; 0: never
  std::size_t max_paths = 1000;                 // trie nodes below the root
  std::size_t max_call_indices = 32;            // per node; later calls: any-index only
  std::size_t min_path_samples = 3;             // sightings before a new path becomes a node
  std::size_t max_new_paths_per_run = 16;
  std::size_t max_trie_bytes = 16 * 1024 * 1024;   // the published trie's NAT JSON
  std::size_t max_state_bytes = 64 * 1024 * 1024;  // one replica's stored accumulator state

  bool operator==(const Learning&) const = default;
};

struct Store {
  std::string kind = "memory";  // memory | redis
  std::string snapshot_file;
  Duration snapshot_interval{std::chrono::seconds(60)};
  std::string url = "redis://127.0.0.1:6379";
  std::string ns = "default";  // YAML key: `namespace`
  std::string key_prefix = "augur:";
  std::string replica;  // empty: hostname-pid

  bool operator==(const Store&) const = default;
};

// SONA: a preset (learning/sona/sona_config.hpp names them) and the overrides that matter most;
// an unset override keeps the preset's value.
struct Sona {
  bool enabled = true;
  std::string preset = "default";
  std::optional<std::size_t> embedding_dim;        // 16..4096
  std::optional<std::size_t> micro_lora_rank;      // 1..2
  std::optional<std::size_t> pattern_clusters;     // 1..10000
  std::optional<std::size_t> trajectory_capacity;  // 16..10000000
  std::optional<Duration> background_interval;     // >= 1s
  std::optional<double> min_confidence;            // 0..1

  bool operator==(const Sona&) const = default;
};

struct AccessLog {
  std::string target = "off";  // off | stdout | a file path

  bool operator==(const AccessLog&) const = default;
};

struct Config {
  std::string source;  // file the config came from ("<embedded default>" when none)
  Endpoint listen{"127.0.0.1", 8080};
  Admin admin;
  unsigned threads = 0;  // 0 = one per core
  std::vector<Upstream> upstreams;
  std::vector<Route> routes;
  Limits limits;
  Context context;
  Dynamo dynamo;
  Prediction prediction;
  Learning learning;
  Store store;
  Sona sona;
  AccessLog access_log;
  Duration shutdown_timeout{std::chrono::seconds(30)};  // drain deadline on SIGTERM/SIGINT
  // On SIGTERM/SIGINT, keep accepting (and serving) this long while /readyz says 503, before the
  // drain starts: a load balancer that polls readiness stops routing here first. 0 = drain at once.
  Duration shutdown_delay{0};

  bool operator==(const Config&) const = default;
};

// A bad config: where (file, 1-based line, dotted key path) and what. what() is the whole message,
// "FILE:LINE: KEY: MESSAGE", ready to print; ":LINE" is left out when the line is unknown (0: the
// file could not be read) and "KEY: " when no key is to blame (YAML syntax). List items are counted
// from 0 in key paths: `upstreams[1].timeouts.connect` is the second upstream's.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, int line, std::string key, std::string message);
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  const std::string& key() const { return key_; }
  const std::string& message() const { return message_; }

 private:
  std::string file_;
  int line_;
  std::string key_;
  std::string message_;
};

// Loads and validates a YAML config file. Relative file paths in it (prediction.trie_file,
// store.snapshot_file, access_log.target, upstreams[].tls.ca_file) are resolved against the
// config file's folder. Throws ConfigError (also for an unreadable file or invalid YAML).
// Thread-safe (no shared state).
Config load_file(const std::string& path);

// What serving a config file needs beyond a valid file: at least one upstream (the bundled mock
// is only for the demo). Throws ConfigError naming `upstreams`.
void require_upstream(const Config& c);

// Same, from text; `source` names it in errors.
Config load_string(const std::string& yaml, const std::string& source);

// The embedded default: every key at its default, no upstreams (augur then starts its bundled
// mock upstream).
Config defaults();

// Parses "30s", "250ms", "2m", "1h", "1500us" (also a bare number = milliseconds). Fractions
// ("1.5s") and sums ("1m30s") are accepted. Sub-millisecond parts round up to a whole millisecond,
// so a non-zero time never turns into 0 ("none"). nullopt if bad, negative or over ten years.
std::optional<Duration> parse_duration(const std::string& text);

// Parses "host:port" / "[v6]:port" / ":port" (host 0.0.0.0). nullopt if bad.
std::optional<Endpoint> parse_endpoint(const std::string& text);

// Parses a byte size: "65536", "64KiB", "64K" (K, M, G = KiB, MiB, GiB), "1MB" (KB, MB, GB = powers
// of 1000), "512B"; case-insensitive units. nullopt if bad or too large.
std::optional<std::size_t> parse_size(const std::string& text);

// The format's config name ("nvext"), for logs and the stats endpoint.
const char* to_string(HintFormat format);

}  // namespace augur::config
