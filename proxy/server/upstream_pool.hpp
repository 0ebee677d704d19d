// Upstream targets and per-thread connection pools. A target (one configured upstream) is part of
// the immutable routing snapshot; its health counters are shared atomics so every io thread sees
// the same outstanding-request counts for least-outstanding balancing. A ConnectionPool belongs to
// one io thread and is never touched from another, so it needs no locks.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "proxy/net/deadline.hpp"
#include "proxy/net/io.hpp"

namespace augur::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// Live counters of one upstream, shared by every thread and kept across config reloads while the
// upstream's name and URL stay the same.
struct UpstreamHealth {
  std::atomic<std::int64_t> outstanding{0};
  std::atomic<std::int64_t> down_until_ns{0};  // steady-clock ns; refused connections set it
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> failures{0};

  bool is_down(Clock::time_point now) const {
    return now.time_since_epoch().count() < down_until_ns.load(std::memory_order_relaxed);
  }
};

// Why a pooled upstream connection was closed instead of reused. A connection is reused only
// when nothing is left to read on it: bytes past a response belong to no request, and handing
// them to the next exchange would answer one client with another's (or an injected) response.
enum class Discard : std::uint8_t {
  unread_bytes,  // bytes beyond the response had already been read
  idle_bytes,    // the upstream sent bytes while the connection sat in the pool
  idle_closed,   // the upstream closed the connection while it sat in the pool
};
inline constexpr std::size_t kDiscardReasons = 3;
std::string_view to_string(Discard d);
// Per io thread, bumped by its pools only; read relaxed by /metrics.
using DiscardCounters = std::array<std::atomic<std::uint64_t>, kDiscardReasons>;

// One configured upstream, resolved for use: immutable once built.
struct UpstreamTarget {
  config::Upstream cfg;
  std::string key;          // name + url: identifies pools and health across reloads
  std::string host_header;  // what the Host header says upstream
  std::shared_ptr<asio::ssl::context> tls;  // null for http://
  std::shared_ptr<UpstreamHealth> health;
};

// Builds the TLS context for an https upstream (system store or ca_file, verification on unless
// configured off). Throws std::runtime_error naming the upstream on a bad CA file.
std::shared_ptr<asio::ssl::context> make_tls_context(const config::Upstream& u);

// A connection to an upstream, plain or TLS, with the bytes already read from it. Heap-allocated
// and never moved (the deadline refers to the socket).
class UpstreamConn {
 public:
  using Plain = Socket;
  using Tls = asio::ssl::stream<Socket>;

  UpstreamConn(IoExecutor ex, const UpstreamTarget& target);
  ~UpstreamConn();
  UpstreamConn(const UpstreamConn&) = delete;
  UpstreamConn& operator=(const UpstreamConn&) = delete;

  Socket& socket();
  Tls* tls_stream() { return std::get_if<Tls>(&stream_); }
  // Calls f(stream) with the concrete stream type (Plain& or Tls&).
  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit(std::forward<F>(f), stream_);
  }

 private:
  std::variant<Plain, Tls> stream_;

 public:
  Deadline deadline{socket()};
  beast::flat_buffer buffer;
  Clock::time_point created;
  Clock::time_point last_used;
  std::uint64_t uses = 0;
  bool reused() const { return uses > 0; }

  // While the connection sits in a pool, a peeking receive: an upstream that sends anything (or
  // closes) then spoils it. Shared with the receive's handler, which may run after the connection
  // is gone (`conn` is then null).
  struct IdleWatch {
    UpstreamConn* conn = nullptr;
    std::uint64_t generation = 0;  // of the current stay in the pool: older receives are stale
    bool pooled = false;
    std::optional<Discard> spoiled;
    char peeked = 0;  // the receive's one-byte buffer; peeking leaves the byte in the socket
  };
  std::shared_ptr<IdleWatch> idle_watch = std::make_shared<IdleWatch>();
};

// Idle connections to one upstream, owned by one io thread. Not thread-safe by design.
class ConnectionPool {
 public:
  // `discarded` counts the connections closed instead of reused; it outlives the pool.
  ConnectionPool(std::shared_ptr<const UpstreamTarget> target, DiscardCounters& discarded);

  // An idle connection that is still young enough and that the upstream left silent, or nullptr.
  std::unique_ptr<UpstreamConn> take_idle(Clock::time_point now);

  // Opens a new connection (resolve, connect and TLS handshake under the connect timeout).
  // On failure returns nullptr and sets ec (asio::error::timed_out for a timeout).
  Task<std::unique_ptr<UpstreamConn>> connect(boost::system::error_code& ec);

  // Returns a connection for reuse after a complete exchange. One with bytes already read past
  // the response is closed instead (counted as Discard::unread_bytes).
  void give_back(std::unique_ptr<UpstreamConn> conn, Clock::time_point now);

  // Closes idle connections past idle_timeout or max_age, or spoiled while idle.
  void sweep(Clock::time_point now);

  std::size_t idle_count() const { return idle_.size(); }
  const UpstreamTarget& target() const { return *target_; }
  void retarget(std::shared_ptr<const UpstreamTarget> t) { target_ = std::move(t); }

 private:
  bool expired(const UpstreamConn& c, Clock::time_point now) const;
  // Whether `c` must be closed rather than reused: expired, or spoiled (counted) while idle.
  bool unusable(const UpstreamConn& c, Clock::time_point now);
  static void watch_idle(UpstreamConn& c);
  void count(Discard d);

  std::shared_ptr<const UpstreamTarget> target_;
  DiscardCounters& discarded_;
  std::vector<std::unique_ptr<UpstreamConn>> idle_;  // LIFO: the warmest connection first
  std::vector<tcp::endpoint> resolved_;
  Clock::time_point resolved_at_{};
};

}  // namespace augur::proxy
