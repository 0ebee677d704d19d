#include "proxy/server/upstream_pool.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/host_name.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "proxy/net/resolve.hpp"

namespace augur::proxy {

namespace {
constexpr auto resolve_ttl = std::chrono::seconds(30);

// Beast reads as much as the buffer has room for: room for a whole small response in one read.
constexpr std::size_t initial_read_buffer = 16 * 1024;

Socket& socket_of(UpstreamConn::Plain& s) { return s; }
Socket& socket_of(UpstreamConn::Tls& s) { return s.next_layer(); }
}  // namespace

std::string_view to_string(Discard d) {
  switch (d) {
    case Discard::unread_bytes:
      return "unread_bytes";
    case Discard::idle_bytes:
      return "idle_bytes";
    case Discard::idle_closed:
      return "idle_closed";
  }
  return "unknown";
}

std::shared_ptr<asio::ssl::context> make_tls_context(const config::Upstream& u) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (!u.tls.ca_file.empty()) {
    ctx->load_verify_file(u.tls.ca_file, ec);
    if (ec) {
      throw std::runtime_error("upstream \"" + u.name + "\": cannot load tls.ca_file \"" +
                               u.tls.ca_file + "\": " + ec.message());
    }
  } else {
    ctx->set_default_verify_paths(ec);
  }
  ctx->set_verify_mode(u.tls.verify ? asio::ssl::verify_peer : asio::ssl::verify_none);
  return ctx;
}

UpstreamConn::UpstreamConn(IoExecutor ex, const UpstreamTarget& target)
    : stream_(target.tls ? std::variant<Plain, Tls>(std::in_place_type<Tls>, ex, *target.tls)
                         : std::variant<Plain, Tls>(std::in_place_type<Plain>, ex)),
      created(Clock::now()),
      last_used(created) {
  buffer.reserve(initial_read_buffer);
  // A response head (the relay parser's 64 KiB header limit) and one read beyond it: body bytes
  // go to the relay buffer as they are parsed; chunk lines and trailers are bounded by the parser.
  buffer.max_size(128 * 1024);
}

UpstreamConn::~UpstreamConn() { idle_watch->conn = nullptr; }

Socket& UpstreamConn::socket() {
  return std::visit([](auto& s) -> Socket& { return socket_of(s); }, stream_);
}

ConnectionPool::ConnectionPool(std::shared_ptr<const UpstreamTarget> target,
                               DiscardCounters& discarded)
    : target_(std::move(target)), discarded_(discarded) {}

void ConnectionPool::count(Discard d) {
  auto& n = discarded_[static_cast<std::size_t>(d)];
  n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

bool ConnectionPool::unusable(const UpstreamConn& c, Clock::time_point now) {
  if (c.idle_watch->spoiled) {
    count(*c.idle_watch->spoiled);
    return true;
  }
  return expired(c, now);
}

// A pooled connection must stay silent: any byte or close the upstream sends before the next
// request goes out is not an answer to it. The watch is a one-byte receive with MSG_PEEK rather
// than a wait for readability: Asio re-arms the epoll registration (an epoll_ctl call) for every
// new wait, while a receive on a socket whose last read drained it is queued without a system
// call. Peeking leaves whatever arrived for the exchange that reads it, should a receive complete
// after its connection was taken.
void ConnectionPool::watch_idle(UpstreamConn& c) {
  auto& w = *c.idle_watch;
  w.conn = &c;
  w.pooled = true;
  const auto generation = ++w.generation;
  c.socket().async_receive(
      asio::buffer(&w.peeked, 1), Socket::message_peek,
      [watch = c.idle_watch, generation](const boost::system::error_code& ec, std::size_t) {
        if (ec == asio::error::operation_aborted) return;  // taken from the pool
        if (!watch->pooled || !watch->conn || watch->generation != generation) return;
        watch->spoiled = ec ? Discard::idle_closed : Discard::idle_bytes;
        boost::system::error_code ignored;
        watch->conn->socket().close(ignored);  // the fd goes now; the pool drops the entry later
      });
}

bool ConnectionPool::expired(const UpstreamConn& c, Clock::time_point now) const {
  const auto& pool = target_->cfg.pool;
  return now - c.last_used >= pool.idle_timeout || now - c.created >= pool.max_age;
}

std::unique_ptr<UpstreamConn> ConnectionPool::take_idle(Clock::time_point now) {
  while (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    conn->idle_watch->pooled = false;
    boost::system::error_code ignored;
    // Drops the queued peek (no system call), so the response read does not queue behind it.
    conn->socket().cancel(ignored);
    if (!unusable(*conn, now)) return conn;
    conn->socket().close(ignored);
  }
  return nullptr;
}

void ConnectionPool::give_back(std::unique_ptr<UpstreamConn> conn, Clock::time_point now) {
  conn->last_used = now;
  ++conn->uses;
  if (conn->buffer.size() != 0) {
    count(Discard::unread_bytes);
    return;
  }
  if (idle_.size() >= target_->cfg.pool.max_idle_per_thread || expired(*conn, now)) return;
  conn->deadline.disarm();
  watch_idle(*conn);
  idle_.push_back(std::move(conn));
}

void ConnectionPool::sweep(Clock::time_point now) {
  std::erase_if(idle_, [&](const std::unique_ptr<UpstreamConn>& c) { return unusable(*c, now); });
}

Task<std::unique_ptr<UpstreamConn>> ConnectionPool::connect(boost::system::error_code& ec) {
  const auto target = target_;  // keep alive across suspension (a reload may retarget)
  const auto& cfg = target->cfg;
  auto ex = co_await asio::this_coro::executor;
  const auto now = Clock::now();

  if (resolved_.empty() || now - resolved_at_ > resolve_ttl) {
    Resolved r = co_await resolve(cfg.host, cfg.port);
    if (r.ec) {
      ec = r.ec;
      co_return nullptr;
    }
    resolved_ = std::move(r.endpoints);
    resolved_at_ = now;
  }

  auto conn = std::make_unique<UpstreamConn>(ex, *target);
  auto& socket = conn->socket();
  conn->deadline.arm(cfg.timeouts.connect);
  auto [cec, endpoint] = co_await asio::async_connect(socket, resolved_, task_tuple);
  if (cec) {
    ec = conn->deadline.timed_out(cec) ? asio::error::timed_out : cec;
    resolved_.clear();  // the address may have moved
    co_return nullptr;
  }
  socket.set_option(tcp::no_delay(true), ec);
  socket.non_blocking(true, ec);  // the session's write_now sends without waiting
  ec = {};

  if (auto* tls = conn->tls_stream()) {
    const std::string& name = cfg.tls.server_name.empty() ? cfg.host : cfg.tls.server_name;
    // SNI, so virtual-hosted upstreams present the right certificate.
    if (!SSL_set_tlsext_host_name(tls->native_handle(), name.c_str())) {
      ec = asio::error::invalid_argument;
      co_return nullptr;
    }
    if (cfg.tls.verify) tls->set_verify_callback(asio::ssl::host_name_verification(name));
    auto [hec] = co_await tls->async_handshake(asio::ssl::stream_base::client, task_tuple);
    if (hec) {
      ec = conn->deadline.timed_out(hec) ? asio::error::timed_out : hec;
      co_return nullptr;
    }
  }
  conn->deadline.disarm();
  co_return conn;
}

}  // namespace augur::proxy
