// augur's bundled OpenAI-compatible mock upstream: chat/completions, the OpenAI Responses and
// Anthropic Messages dialects (JSON and SSE, tool-call rounds included), models, healthz, with
// per-request control headers for latency, length, status and connection faults, and an echo of
// what it received so tests can see exactly what a proxy forwarded. It is the upstream in proxy
// benchmarks and tests, and augur runs it in-process when no real upstream is configured.
//
// The library runs on an io_context it is given: it owns no threads and no signal handlers.
// Request/response contract (control headers, echo, stream layout): loadtest/mock/README.md.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace augur::mock {

using Millis = std::chrono::milliseconds;

// How one response behaves. Precedence: options → behaviour model (if any) → x-mock-* request
// headers → the request's max_tokens (a cap; finish_reason becomes "length").
struct Behaviour {
  std::int64_t tokens = 16;     // completion tokens generated
  Millis latency{0};            // after the request is read, before the response headers
  Millis first_token_delay{0};  // streaming: after the headers, before the first token event
  Millis chunk_delay{0};        // streaming: between two token events
};

// Read-only view of a request handed to a BehaviourModel; valid only during the call.
class RequestView {
 public:
  std::string_view method;
  std::string_view target;
  std::string_view body;
  std::string_view model;  // as written in the body (JSON escapes kept); empty when absent
  bool stream = false;
  std::uint64_t connection_id = 0;
  std::uint64_t request_on_connection = 0;  // 1-based

  // The value of a request header (case-insensitive name; the first one if repeated), "" if absent.
  std::string_view header(std::string_view name) const;

  const void* request_ = nullptr;  // the parsed request; an implementation detail
};

// Maps a request to its behaviour, starting from the defaults the options give. Called on the
// connection's strand; with threads > 1 it must be thread-safe.
using BehaviourModel = std::function<Behaviour(const RequestView&, Behaviour defaults)>;

// When a stream ends with a usage chunk (choices: [], usage: {...}) before `data: [DONE]`.
enum class StreamUsage {
  requested,  // only with "stream_options": {"include_usage": true}, as OpenAI and vLLM do
  always,
  never,
};

// What the completion endpoints do with a request body's `nvext` member.
enum class NvextCheck {
  // As NVIDIA Dynamo's frontend (v1.3.0 and later) does: a member it would not deserialize gets
  // its HTTP 400 and no completion (nvext_check.hpp; loadtest/mock/README.md).
  dynamo,
  // Anything goes: an upstream that ignores nvext, for tests that need one.
  lenient,
};

struct MockOptions {
  std::string model = "mock-model";  // /v1/models, and the echo when a request names none
  std::int64_t tokens = 16;
  Millis latency{0};
  Millis first_token_delay{0};
  Millis chunk_delay{0};
  // 0: every response has exactly `tokens` tokens. s > 0: a length drawn in tokens·[1-s, 1+s]
  // from a hash of (seed, request body), so the same request always gets the same length.
  double tokens_spread = 0;
  std::uint64_t seed = 1;  // drives the words and the spread
  StreamUsage stream_usage = StreamUsage::requested;
  // x-mock-request-headers on every response and the "mock" member in JSON bodies. Off only for
  // benchmarks that want a lean upstream.
  bool echo = true;
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_body_bytes = 32 * 1024 * 1024;
  Millis idle_timeout{std::chrono::seconds(60)};   // keep-alive wait for the next request
  Millis read_timeout{std::chrono::seconds(30)};   // rest of a request once it has started; TLS
                                                   // handshake
  Millis write_timeout{std::chrono::seconds(30)};  // any single write
  // Serialise each connection on its own strand. Needed only when several threads run the
  // io_context; with one thread (or one io_context per thread) false saves the strand's work.
  bool strand_per_connection = true;
  // Both set: serve HTTPS (PEM files; the certificate file may hold a chain).
  std::string tls_cert_file;
  std::string tls_key_file;
  BehaviourModel behaviour;  // optional hook, e.g. lengths by x-nat-function-path and call index
  NvextCheck nvext_check = NvextCheck::dynamo;
};

struct MockStats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_open = 0;
  std::uint64_t requests = 0;
  std::uint64_t nvext_rejected = 0;  // completion requests answered 400 for their nvext
};

class MockUpstream {
 public:
  // Throws std::exception (boost::system::system_error) when the TLS files cannot be loaded.
  MockUpstream(boost::asio::io_context& ioc, MockOptions options);
  // Calls stop(). Connections still running keep their own reference to the shared state, so the
  // object may go before the io_context has finished closing them.
  ~MockUpstream();
  MockUpstream(const MockUpstream&) = delete;
  MockUpstream& operator=(const MockUpstream&) = delete;

  // Opens, binds and listens; port 0 picks an ephemeral port. Returns the bound port. Throws
  // boost::system::system_error on failure (bad address, port in use). Call once, before start().
  std::uint16_t bind(const std::string& host, std::uint16_t port);

  // Spawns the accept loop on the io_context (one coroutine per connection after that).
  void start();

  // Stops accepting and closes every open connection (pending waits are cancelled), so the
  // io_context runs out of mock work. Thread-safe; idempotent.
  void stop();

  bool tls() const;
  MockStats stats() const;  // thread-safe

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace augur::mock
