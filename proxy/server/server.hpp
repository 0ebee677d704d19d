// The proxy process: io threads (one io_context each, share-nothing), the client listener (one
// SO_REUSEPORT acceptor per thread), the admin listener, signals (SIGTERM/SIGINT drain, SIGHUP
// reload) and the runtime snapshot every request reads.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "proxy/context/call_context.hpp"
#include "proxy/observe/log_limiter.hpp"
#include "proxy/server/routing.hpp"
#include "proxy/server/upstream_pool.hpp"

namespace augur::learning {
class Learner;
}
namespace augur::sona {
class Engine;
}

namespace augur::proxy {

class AccessLog;
class Worker;

// "HOST:PORT", with brackets around an IPv6 host.
std::string endpoint_string(const boost::asio::ip::tcp::endpoint& ep);

// The trie `prediction.trie_file` names, parsed and validated; null when none is configured.
// Throws config::ConfigError naming prediction.trie_file when it cannot be read or parsed (what
// both `serve` and `check-config` report).
std::shared_ptr<const trie::Trie> load_prediction_trie(const config::Config& cfg);

class Server {
 public:
  // Binds both listeners (so port 0 is resolved before run()). `config_path` is re-read on SIGHUP;
  // empty means the embedded default (nothing to reload). `cfg` names at least one upstream (the
  // demo's mock is the app's). Throws std::runtime_error when a listener cannot be bound or TLS
  // settings are unusable.
  Server(config::Config cfg, std::string config_path);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Runs until a drain completes; returns the process exit code (0 after a clean drain).
  int run();

  // Starts the staged shutdown. Thread-safe.
  void request_shutdown();

  // Re-reads the config file; a broken one is logged and the running config kept. Returns
  // whether the new config is in effect. Thread-safe.
  bool reload();

  std::shared_ptr<const Runtime> runtime() const { return std::atomic_load(&runtime_); }
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  boost::asio::ip::tcp::endpoint proxy_endpoint() const { return proxy_endpoint_; }
  boost::asio::ip::tcp::endpoint admin_endpoint() const { return admin_endpoint_; }
  bool ready() const { return ready_.load() && !draining_.load(); }
  bool draining() const { return draining_.load(); }

  // Totals over every worker, for the admin endpoints.
  struct Totals {
    std::uint64_t connections_open = 0, connections_accepted = 0, requests = 0, inflight = 0,
                  upstream_retries = 0, client_errors = 0, upstream_errors = 0,
                  connections_refused = 0;
    std::array<std::uint64_t, kDiscardReasons> upstream_conn_discarded{};
  };
  Totals totals() const;

  // Live runs (call indices per run and path), shared by every io thread.
  RunTable& runs() { return *runs_; }
  const RunTable& runs() const { return *runs_; }
  // Inferred run context (context.infer); null when off.
  ConversationTable* conversations() { return conversations_.get(); }
  const ConversationTable* conversations() const { return conversations_.get(); }

  // Online learning; null when `learning.enabled` is false.
  learning::Learner* learner() { return learner_.get(); }
  // SONA; null when `sona.enabled` or `learning.enabled` is false.
  const sona::Engine* sona() const { return sona_.get(); }
  const learning::Learner* learner() const { return learner_.get(); }

  // The access log; null when `access_log.target` is off (read at start only).
  AccessLog* access_log() { return access_log_.get(); }
  const AccessLog* access_log() const { return access_log_.get(); }

  // The io threads, for the admin endpoints' per-worker metrics.
  const std::vector<std::unique_ptr<Worker>>& workers() const { return workers_; }
  std::chrono::steady_clock::time_point started() const { return started_; }

 private:
  boost::asio::awaitable<void> accept_loop(Worker& worker, boost::asio::ip::tcp::acceptor& acc);
  boost::asio::awaitable<void> admin_loop();
  boost::asio::awaitable<void> admin_session(boost::asio::ip::tcp::socket socket);
  boost::asio::awaitable<void> signal_loop();
  boost::asio::awaitable<void> drain();
  // Swaps in a new runtime. `file_trie` is the one `prediction.trie_file` names; a trie learning
  // published takes precedence over it. Thread-safe.
  void publish(std::shared_ptr<const config::Config> cfg,
               std::shared_ptr<const trie::Trie> file_trie);
  // Learning published a new trie: same config and routing, new trie. Thread-safe.
  void publish_learned(std::shared_ptr<const trie::Trie> trie);
  boost::asio::awaitable<void> accept_backoff(LogLimiter& log, const char* what,
                                              const boost::system::error_code& ec);

  std::string config_path_;
  std::shared_ptr<const Runtime> runtime_;
  std::atomic<std::uint64_t> generation_{0};
  std::unique_ptr<AccessLog> access_log_;  // outlives the workers that write to it
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> admin_acceptor_;
  LogLimiter admin_accept_log_;  // the admin loop's (worker 0's thread)
  std::unique_ptr<boost::asio::signal_set> signals_;
  boost::asio::ip::tcp::endpoint proxy_endpoint_;
  boost::asio::ip::tcp::endpoint admin_endpoint_;
  std::unique_ptr<RunTable> runs_;
  std::unique_ptr<ConversationTable> conversations_;
  std::unique_ptr<sona::Engine> sona_;  // outlives learner_, which feeds it
  std::unique_ptr<learning::Learner> learner_;
  std::mutex publish_mutex_;  // publishers: SIGHUP reload and the learning thread
  std::shared_ptr<const trie::Trie> file_trie_;
  std::shared_ptr<const trie::Trie> learned_trie_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  std::atomic<std::uint64_t> open_connections_{0};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace augur::proxy
