// One io thread of the proxy: its io_context, its connection pools, its sessions. Everything here
// is touched only from that thread (share-nothing), apart from the atomic counters the admin
// endpoints read.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/observe/log_limiter.hpp"
#include "proxy/observe/metrics.hpp"
#include "proxy/server/routing.hpp"
#include "proxy/server/upstream_pool.hpp"

namespace augur::proxy {

class Server;
struct RequestRecord;

// What a worker needs of each client session to drain it: sessions link themselves into their
// worker's list for their whole life (no allocation), and say whether they are between requests.
class SessionLink : public boost::intrusive::list_base_hook<
                        boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  virtual ~SessionLink() = default;
  bool idle = false;
  // Set while waiting on an upstream; the worker's tick starts a client watch for exchanges
  // that have waited longer than a tick, so a client hanging up cancels the upstream request.
  std::chrono::steady_clock::time_point awaiting_since{};
  // Set when a wait for the next request began that trusts the socket to be empty (an answer
  // read, proxy/net/socket_read.hpp): a client that half-closed right after its last request would
  // not be seen. The worker's tick then looks once (check_idle) and closes such a connection.
  bool idle_unchecked = false;
  virtual void close_idle() = 0;  // cancel the wait for the next request
  virtual void check_idle() = 0;
  virtual void watch_client() = 0;
};

// Counters a worker bumps without contention; readers on other threads load them relaxed.
struct WorkerCounters {
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> inflight{0};
  std::atomic<std::uint64_t> upstream_retries{0};
  std::atomic<std::uint64_t> client_errors{0};
  std::atomic<std::uint64_t> upstream_errors{0};
  std::atomic<std::uint64_t> connections_refused{0};  // over limits.max_connections
  DiscardCounters upstream_conn_discarded{};
};

class Worker {
 public:
  // `only_thread`: no other io thread exists, so nothing posts to this one from outside and its
  // io_context runs without locks (host names go through proxy/net/resolve.hpp for that reason).
  Worker(Server& server, unsigned index, bool only_thread);
  // Destroys what is still pending on the io_context (the sessions a drain deadline cut short)
  // first, while the members their destructors use are alive. Call after the thread stopped.
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  asio::io_context& ioc() { return ioc_; }
  Server& server() { return server_; }
  unsigned index() const { return index_; }
  WorkerCounters& counters() { return counters_; }
  const WorkerCounters& counters() const { return counters_; }
  // Written only on this worker's thread (finish); read by /metrics from any thread.
  const WorkerMetrics& metrics() const { return metrics_; }

  // The current config and routing, refreshed when the server's generation moved on. The
  // reference stays valid until the next call on this thread; hold runtime_ptr() across awaits.
  const Runtime& runtime() { return *runtime_ptr(); }
  const std::shared_ptr<const Runtime>& runtime_ptr();

  // This thread's pool for an upstream (created on first use, retargeted after a reload).
  ConnectionPool& pool(const std::shared_ptr<const UpstreamTarget>& target);

  // A relay buffer for one response in flight; give it back when done. Keeps idle connections
  // from each holding a buffer.
  std::unique_ptr<char[]> take_buffer();
  void give_buffer(std::unique_ptr<char[]> buf);
  static constexpr std::size_t relay_buffer_size = 16 * 1024;

  void link(SessionLink& s) { sessions_.push_back(s); }

  // This thread's accept loop: rate limits for its failure and refusal log lines.
  LogLimiter& accept_log() { return accept_log_; }
  LogLimiter& refusal_log() { return refusal_log_; }

  // Called by a session when a request's response has ended (or failed): counts it in the
  // metrics, writes its access log line, hands the observation to learning. May move from
  // `record.call`.
  void finish(RequestRecord& record);

  // Hands the access log lines batched on this thread to the writer. Called every tick and when
  // the batch is full; the server calls it once more after the io threads stopped.
  void flush_access_log();
  static constexpr std::size_t max_log_batch = 64 * 1024;

  // Called on this worker's thread (shutdown_delay): from now on responses say Connection:
  // close. A connection whose response already said keep-alive is served one more request, so a
  // client sending it at once does not race a close; idle ones stay open until begin_drain.
  void begin_closing() { draining_ = true; }
  // Called on this worker's thread: closes idle sessions; busy ones close after their response.
  void begin_drain();
  // Responses say Connection: close (from begin_closing on).
  bool draining() const { return draining_; }
  // Connections end after their current response (from begin_drain on).
  bool drained() const { return drained_; }

  void start_maintenance();  // periodic idle-pool sweep and client watches
  void stop_maintenance();

 private:
  // io_context::~io_context destroys pending handlers and coroutine frames in its base's
  // destructor, after every member declared below is gone; ~Worker calls shutdown() (idempotent,
  // the base calls it again) to do that earlier.
  struct Context : asio::io_context {
    using asio::execution_context::shutdown;
    using asio::io_context::io_context;
  };

  Server& server_;
  unsigned index_;
  // One thread runs it, and only that thread touches its sockets: the reactor's per-descriptor
  // locks can go. The scheduler's stay when there are other io threads (a drain posts to every
  // worker from the first); with one io thread they go too.
  Context ioc_;
  WorkerCounters counters_;
  WorkerMetrics metrics_;
  std::string log_batch_;  // access log lines not yet handed to the writer
  std::shared_ptr<const Runtime> runtime_;
  std::unordered_map<std::string, std::unique_ptr<ConnectionPool>> pools_;
  std::vector<std::unique_ptr<char[]>> free_buffers_;
  boost::intrusive::list<SessionLink, boost::intrusive::constant_time_size<false>> sessions_;
  bool draining_ = false;
  bool drained_ = false;
  LogLimiter accept_log_;
  LogLimiter refusal_log_;
  asio::steady_timer sweep_timer_{ioc_};
  unsigned ticks_ = 0;
};

}  // namespace augur::proxy
