// augur-mock-upstream: the mock OpenAI upstream as a standalone process, for integration tests and
// benchmarks. Prints "listening on HOST:PORT" (then flushes) once it accepts connections, so a test
// can start it with --listen 127.0.0.1:0 and read the port; exits 0 on SIGTERM/SIGINT.
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "loadtest/mock/mock_upstream.hpp"

namespace {

// "host:port", "[v6]:port" or ":port". Returns false when it is none of those.
bool split_listen(const std::string& text, std::string& host, std::uint16_t& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  try {
    const unsigned long p = std::stoul(text.substr(colon + 1));
    if (p > 65535) return false;
    port = static_cast<std::uint16_t>(p);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"augur-mock-upstream: an OpenAI-compatible mock upstream for tests and benchmarks"};
  augur::mock::MockOptions opts;
  std::string listen = "127.0.0.1:8000";
  unsigned threads = 1;
  std::int64_t latency_ms = 0, first_token_delay_ms = 0, chunk_delay_ms = 0;
  std::int64_t idle_timeout_ms = opts.idle_timeout.count();
  std::string stream_usage = "requested";
  std::string nvext = "dynamo";
  bool no_echo = false;

  app.add_option("--listen", listen, "host:port to listen on (port 0: ephemeral)")
      ->capture_default_str();
  app.add_option("--threads", threads, "io threads")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  app.add_option("--latency-ms", latency_ms, "delay before response headers")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--tokens", opts.tokens, "completion tokens per response")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--first-token-delay-ms", first_token_delay_ms,
                 "streaming: delay between headers and the first token")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--chunk-delay-ms", chunk_delay_ms, "streaming: delay between token events")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--tokens-spread", opts.tokens_spread,
                 "vary lengths in tokens*[1-s,1+s], deterministic per (seed, request body)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--seed", opts.seed, "seed for words and length spread")->capture_default_str();
  app.add_option("--model", opts.model, "model id for /v1/models and requests naming none")
      ->capture_default_str();
  app.add_option("--stream-usage", stream_usage,
                 "when a stream ends with a usage chunk: requested (stream_options.include_usage),"
                 " always, never")
      ->capture_default_str()
      ->check(CLI::IsMember({"requested", "always", "never"}));
  app.add_option("--nvext", nvext,
                 "request nvext members: dynamo (400 for what Dynamo >= 1.3 refuses, as it does),"
                 " lenient (accept anything)")
      ->capture_default_str()
      ->check(CLI::IsMember({"dynamo", "lenient"}));
  app.add_flag(
      "--no-echo", no_echo,
      "omit x-mock-request-headers and the \"mock\" body member (lean benchmark upstream)");
  app.add_option("--idle-timeout-ms", idle_timeout_ms,
                 "close a keep-alive connection idle this long (vLLM/uvicorn: 5000)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-body-bytes", opts.max_body_bytes, "request body limit (413 above)")
      ->capture_default_str();
  app.add_option("--tls-cert", opts.tls_cert_file, "PEM certificate (chain): serve HTTPS")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", opts.tls_key_file, "PEM private key")->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);

  if (opts.tls_cert_file.empty() != opts.tls_key_file.empty()) {
    std::fprintf(stderr, "augur-mock-upstream: --tls-cert and --tls-key go together\n");
    return 2;
  }
  std::string host;
  std::uint16_t port = 0;
  if (!split_listen(listen, host, port)) {
    std::fprintf(stderr, "augur-mock-upstream: --listen: expected host:port, got '%s'\n",
                 listen.c_str());
    return 2;
  }
  opts.latency = augur::mock::Millis(latency_ms);
  opts.first_token_delay = augur::mock::Millis(first_token_delay_ms);
  opts.chunk_delay = augur::mock::Millis(chunk_delay_ms);
  opts.idle_timeout = augur::mock::Millis(idle_timeout_ms);
  opts.stream_usage = stream_usage == "always"  ? augur::mock::StreamUsage::always
                      : stream_usage == "never" ? augur::mock::StreamUsage::never
                                                : augur::mock::StreamUsage::requested;
  opts.nvext_check =
      nvext == "lenient" ? augur::mock::NvextCheck::lenient : augur::mock::NvextCheck::dynamo;
  opts.echo = !no_echo;
  opts.strand_per_connection = threads > 1;

  boost::asio::io_context ioc(static_cast<int>(threads));
  try {
    augur::mock::MockUpstream mock(ioc, opts);
    const std::uint16_t bound = mock.bind(host, port);
    mock.start();

    boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (!ec) mock.stop();
    });

    const bool v6 = host.find(':') != std::string::npos;
    std::printf("listening on %s%s%s:%u\n", v6 ? "[" : "", host.c_str(), v6 ? "]" : "",
                static_cast<unsigned>(bound));
    std::fflush(stdout);

    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "augur-mock-upstream: %s\n", e.what());
    return 1;
  }
  return 0;
}
