#include "proxy/server/server.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <limits>
#include <optional>
#include <stdexcept>
#include <thread>

#include "learning/engine/learner.hpp"
#include "learning/engine/sona_feedback.hpp"
#include "learning/sona/engine.hpp"
#include "learning/trie/nat_json.hpp"
#include "proxy/http/http_errors.hpp"
#include "proxy/observe/access_log.hpp"
#include "proxy/observe/metrics.hpp"
#include "proxy/server/admin.hpp"
#include "proxy/server/learning_setup.hpp"
#include "proxy/server/session.hpp"
#include "proxy/server/worker.hpp"

namespace augur::proxy {

namespace http = beast::http;

std::string endpoint_string(const tcp::endpoint& ep) {
  const auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

tcp::endpoint resolve_listen(const config::Endpoint& ep) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(ep.host, ec);
  if (ec) {
    asio::io_context tmp;
    tcp::resolver resolver(tmp);
    auto results = resolver.resolve(ep.host, std::to_string(ep.port), ec);
    if (ec || results.empty()) {
      throw std::runtime_error("cannot resolve listen address \"" + ep.to_string() + "\"");
    }
    return results.begin()->endpoint();
  }
  return {address, ep.port};
}

[[noreturn]] void cannot_listen(const tcp::endpoint& ep, const char* what,
                                const boost::system::error_code& ec) {
  std::string message =
      std::string("cannot listen on ") + endpoint_string(ep) + " (" + what + "): " + ec.message();
  if (ec == asio::error::address_in_use) message += ": another process holds this port";
  throw std::runtime_error(message);
}

// An open, bound socket for `ep`, or the error. `reuse_port` lets augur's other io threads bind
// the same port (the kernel spreads connections over them).
boost::system::error_code bind_socket(tcp::acceptor& acc, const tcp::endpoint& ep,
                                      bool reuse_port) {
  boost::system::error_code ec;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && reuse_port) {
    const int one = 1;
    if (::setsockopt(acc.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ec = boost::system::error_code(errno, boost::system::system_category());
    }
  }
  if (!ec) acc.bind(ep, ec);
  return ec;
}

// One listening acceptor per io_context, all on `ep` (port 0: one ephemeral port for all).
// SO_REUSEPORT would also let another process that sets it join the port and silently take part
// of the traffic, so the port is first bound without it: a port anyone else holds fails here.
// That probe stays bound (not listening) until augur's own sockets listen, which SO_REUSEADDR
// allows. Throws std::runtime_error naming the address.
std::vector<std::unique_ptr<tcp::acceptor>> open_listeners(
    const std::vector<asio::io_context*>& iocs, tcp::endpoint ep, const char* what) {
  std::vector<std::unique_ptr<tcp::acceptor>> out;
  const bool shared = iocs.size() > 1;
  std::optional<tcp::acceptor> probe;
  if (shared) {
    probe.emplace(*iocs.front());
    if (const auto ec = bind_socket(*probe, ep, false)) cannot_listen(ep, what, ec);
    ep = probe->local_endpoint();
  }
  for (auto* ioc : iocs) {
    auto acc = std::make_unique<tcp::acceptor>(*ioc);
    auto ec = bind_socket(*acc, ep, shared);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) cannot_listen(ep, what, ec);
    ep = acc->local_endpoint();
    out.push_back(std::move(acc));
  }
  return out;
}

// Raises the soft limit on open files to the hard one (each proxied request holds a client and
// an upstream descriptor); returns the limit now in effect.
std::uint64_t raise_fd_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  return lim.rlim_cur == RLIM_INFINITY ? std::numeric_limits<std::uint64_t>::max() : lim.rlim_cur;
}

}  // namespace

Server::Server(config::Config cfg, std::string config_path) : config_path_(std::move(config_path)) {
  unsigned threads = cfg.threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());

  runs_ = std::make_unique<RunTable>(cfg.context.max_runs, cfg.context.run_idle_timeout);
  conversations_ = std::make_unique<ConversationTable>(cfg.context.max_conversations);
  if (cfg.access_log.target != "off") {
    access_log_ = std::make_unique<AccessLog>(cfg.access_log.target);
  }
  // The runtime must exist before workers copy it.
  auto trie = load_prediction_trie(cfg);
  publish(std::make_shared<const config::Config>(cfg), trie);
  for (unsigned i = 0; i < threads; ++i)
    workers_.push_back(std::make_unique<Worker>(*this, i, threads == 1));

  if (cfg.learning.enabled) {
    learner_ = std::make_unique<learning::Learner>(
        learner_options(cfg),
        [this](std::shared_ptr<const trie::Trie> t) { publish_learned(std::move(t)); });
    if (cfg.sona.enabled) {
      sona_ = std::make_unique<sona::Engine>(sona_options(cfg.sona));
      learner_->on_trajectory([engine = sona_.get()](const learning::Trajectory& t,
                                                     const learning::ClosedRun& run,
                                                     const std::vector<learning::HintErrors>& c) {
        learning::teach(*engine, t, run, c);
      });
    }
  }

  std::vector<asio::io_context*> iocs;
  for (auto& w : workers_) iocs.push_back(&w->ioc());
  acceptors_ = open_listeners(iocs, resolve_listen(cfg.listen), "listen");
  proxy_endpoint_ = acceptors_.front()->local_endpoint();
  auto admin = open_listeners({iocs.front()}, resolve_listen(cfg.admin.listen), "admin.listen");
  admin_acceptor_ = std::move(admin.front());
  admin_endpoint_ = admin_acceptor_->local_endpoint();

  const std::uint64_t fds = raise_fd_limit();
  // A proxied request holds two descriptors (client, upstream); keep some for everything else.
  const std::uint64_t ceiling =
      std::min<std::uint64_t>(cfg.limits.max_connections, fds > 64 ? (fds - 64) / 2 : 0);
  spdlog::info("open file limit {}: connection ceiling {} (limits.max_connections {})", fds,
               ceiling, cfg.limits.max_connections);
}

Server::~Server() {
  if (learner_) learner_->stop();
}

std::shared_ptr<const trie::Trie> load_prediction_trie(const config::Config& cfg) {
  if (cfg.prediction.trie_file.empty()) return nullptr;
  try {
    auto trie = std::make_shared<const trie::Trie>(trie::load_trie_file(cfg.prediction.trie_file));
    spdlog::info("loaded prediction trie {} ({} nodes)", cfg.prediction.trie_file,
                 trie::count_nodes(*trie));
    return trie;
  } catch (const std::exception& e) {
    // A bad trie file is a bad config (exit 2), named like the loader's own errors.
    throw config::ConfigError(cfg.source, 0, "prediction.trie_file", e.what());
  }
}

void Server::publish(std::shared_ptr<const config::Config> cfg,
                     std::shared_ptr<const trie::Trie> file_trie) {
  std::lock_guard lock(publish_mutex_);
  file_trie_ = std::move(file_trie);
  auto current = runtime();
  auto rt = std::make_shared<Runtime>();
  rt->routing = build_routing(*cfg, current ? current->routing.get() : nullptr);
  rt->trie = learned_trie_ ? learned_trie_ : file_trie_;
  for (const auto& a : cfg->context.agents) {
    rt->agent_rules.push_back({a.name, a.system_prompt_contains, a.tools});
  }
  rt->config = std::move(cfg);
  rt->generation = generation_.load() + 1;
  rt->config_generation = current ? current->config_generation + 1 : 1;
  std::atomic_store(&runtime_, std::shared_ptr<const Runtime>(std::move(rt)));
  generation_.fetch_add(1, std::memory_order_release);
}

void Server::publish_learned(std::shared_ptr<const trie::Trie> trie) {
  std::lock_guard lock(publish_mutex_);
  learned_trie_ = std::move(trie);
  const auto current = runtime();
  auto rt = std::make_shared<Runtime>(*current);
  rt->trie = learned_trie_ ? learned_trie_ : file_trie_;
  rt->generation = generation_.load() + 1;
  std::atomic_store(&runtime_, std::shared_ptr<const Runtime>(std::move(rt)));
  generation_.fetch_add(1, std::memory_order_release);
}

bool Server::reload() {
  if (config_path_.empty()) {
    spdlog::warn("SIGHUP: running on the embedded default config, nothing to reload");
    return false;
  }
  try {
    auto fresh = config::load_file(config_path_);
    const auto current = runtime();
    if (fresh.listen.to_string() != current->config->listen.to_string() ||
        fresh.admin.listen.to_string() != current->config->admin.listen.to_string() ||
        fresh.threads != current->config->threads ||
        fresh.access_log.target != current->config->access_log.target) {
      spdlog::warn(
          "SIGHUP: listen, admin.listen, threads and access_log take effect only on restart");
    }
    config::require_upstream(fresh);
    // The trie follows the file named in the new config; a bad one rejects the whole reload.
    auto trie = load_prediction_trie(fresh);
    publish(std::make_shared<const config::Config>(std::move(fresh)), std::move(trie));
    spdlog::info("SIGHUP: reloaded {} (generation {})", config_path_, generation());
    return true;
  } catch (const std::exception& e) {
    spdlog::error("SIGHUP: keeping the running config; new one rejected: {}", e.what());
    return false;
  }
}

Server::Totals Server::totals() const {
  Totals t;
  for (const auto& w : workers_) {
    const auto& c = w->counters();
    t.connections_open += c.connections_open.load(std::memory_order_relaxed);
    t.connections_accepted += c.connections_accepted.load(std::memory_order_relaxed);
    t.requests += c.requests.load(std::memory_order_relaxed);
    t.inflight += c.inflight.load(std::memory_order_relaxed);
    t.upstream_retries += c.upstream_retries.load(std::memory_order_relaxed);
    t.client_errors += c.client_errors.load(std::memory_order_relaxed);
    t.upstream_errors += c.upstream_errors.load(std::memory_order_relaxed);
    t.connections_refused += c.connections_refused.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < kDiscardReasons; ++i) {
      t.upstream_conn_discarded[i] += c.upstream_conn_discarded[i].load(std::memory_order_relaxed);
    }
  }
  return t;
}

int Server::run() {
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    auto& w = *workers_[i];
    asio::co_spawn(w.ioc(), accept_loop(w, *acceptors_[i]), asio::detached);
    w.start_maintenance();
  }
  auto& main_ioc = workers_.front()->ioc();
  if (learner_) learner_->start();
  asio::co_spawn(main_ioc, admin_loop(), asio::detached);
  // Registered before the listening line goes out: a signal sent as soon as a script sees the
  // line must reach the handler, not kill the process with the default action.
  signals_ = std::make_unique<asio::signal_set>(main_ioc, SIGINT, SIGTERM, SIGHUP);
  asio::co_spawn(main_ioc, signal_loop(), asio::detached);

  ready_ = true;
  // Tests and scripts read the bound ports from this line.
  std::printf("augur listening on %s admin %s\n", endpoint_string(proxy_endpoint_).c_str(),
              endpoint_string(admin_endpoint_).c_str());
  std::fflush(stdout);
  spdlog::info("augur listening on {} (admin {}), {} io thread(s), upstreams: {}",
               endpoint_string(proxy_endpoint_), endpoint_string(admin_endpoint_), workers_.size(),
               runtime()->config->upstreams.size());

  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < workers_.size(); ++i) {
    threads.emplace_back([&w = *workers_[i], i] {
      const std::string name = "augur-io-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      w.ioc().run();
    });
  }
  main_ioc.run();
  for (auto& t : threads) t.join();
  for (auto& w : workers_) w->flush_access_log();  // what the drained requests logged
  if (learner_) learner_->stop();  // processes what the drained requests left, saves the store
  spdlog::info("augur stopped");
  return 0;
}

void Server::request_shutdown() {
  asio::post(workers_.front()->ioc(), [this] {
    if (draining_.exchange(true)) return;
    asio::co_spawn(workers_.front()->ioc(), drain(), asio::detached);
  });
}

asio::awaitable<void> Server::drain() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  // Stage 0 (shutdown_delay): /readyz already says 503; keep accepting and serving, each
  // connection closing after its current response, while load balancers stop routing here.
  if (const auto delay = runtime()->config->shutdown_delay; delay.count() > 0) {
    spdlog::info("draining: /readyz reports 503; still serving new connections for {} ms",
                 delay.count());
    for (auto& w : workers_) asio::post(w->ioc(), [&w = *w] { w.begin_closing(); });
    timer.expires_after(delay);
    co_await timer.async_wait(asio::use_awaitable);
  }
  const auto deadline = std::chrono::steady_clock::now() + runtime()->config->shutdown_timeout;
  spdlog::info("draining: no new connections; waiting up to {} ms for in-flight requests",
               runtime()->config->shutdown_timeout.count());
  // Stage 1: stop accepting, close idle keep-alive connections; busy ones close after their
  // current response.
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    asio::post(workers_[i]->ioc(), [this, i] {
      boost::system::error_code ec;
      acceptors_[i]->close(ec);
      workers_[i]->begin_drain();
      workers_[i]->stop_maintenance();
    });
  }
  // Stage 2: wait for in-flight work, up to the deadline.
  for (;;) {
    const auto t = totals();
    if (t.connections_open == 0) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      spdlog::warn("drain deadline reached with {} connection(s) open: closing them",
                   t.connections_open);
      break;
    }
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(asio::use_awaitable);
  }
  // Stage 3: stop everything still running.
  boost::system::error_code ec;
  admin_acceptor_->close(ec);
  for (auto& w : workers_) w->ioc().stop();
}

asio::awaitable<void> Server::signal_loop() {
  auto& signals = *signals_;
  for (;;) {
    auto [ec, signo] = co_await signals.async_wait(tuple_awaitable);
    if (ec) co_return;
    if (signo == SIGHUP) {
      reload();
      continue;
    }
    spdlog::info("signal {}: shutting down", signo);
    request_shutdown();
    co_return;
  }
}

// After a failed accept (EMFILE and friends, which a retry at once would only repeat): log at
// most once a second, and pause before the next accept instead of spinning.
asio::awaitable<void> Server::accept_backoff(LogLimiter& log, const char* what,
                                             const boost::system::error_code& ec) {
  if (const auto n = log.due()) spdlog::warn("{}: {} accept(s) failed: {}", what, n, ec.message());
  asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
  co_await pause.async_wait(tuple_awaitable);
}

asio::awaitable<void> Server::accept_loop(Worker& worker, tcp::acceptor& acc) {
  for (;;) {
    auto [ec, socket] = co_await acc.async_accept(worker.ioc(), tuple_awaitable);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acc.is_open()) co_return;
      co_await accept_backoff(worker.accept_log(), "listen", ec);
      continue;
    }
    const auto limit = runtime()->config->limits.max_connections;
    if (totals().connections_open >= limit) {
      boost::system::error_code ignored;
      socket.close(ignored);  // over the connection limit: refuse rather than degrade everyone
      auto& refused = worker.counters().connections_refused;
      refused.fetch_add(1, std::memory_order_relaxed);
      if (const auto n = worker.refusal_log().due()) {
        spdlog::warn("refused {} connection(s): limits.max_connections ({}) are open", n, limit);
      }
      continue;
    }
    asio::co_spawn(worker.ioc(), serve_client(std::move(socket), worker),
                   [](const std::exception_ptr& e) {
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       spdlog::error("client session ended by an exception: {}", ex.what());
                     }
                   });
  }
}

asio::awaitable<void> Server::admin_loop() {
  for (;;) {
    auto [ec, socket] = co_await admin_acceptor_->async_accept(tuple_awaitable);
    if (ec) {
      if (ec == asio::error::operation_aborted || !admin_acceptor_->is_open()) co_return;
      co_await accept_backoff(admin_accept_log_, "admin.listen", ec);
      continue;
    }
    asio::co_spawn(admin_acceptor_->get_executor(), admin_session(std::move(socket)),
                   asio::detached);
  }
}

asio::awaitable<void> Server::admin_session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(64 * 1024);
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
    if (ec) break;
    const auto& req = parser.get();
    const auto rt = runtime();
    const bool keep_alive = req.keep_alive();
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));

    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "augur");
    // /healthz and /readyz say only whether augur runs and takes traffic, and Kubernetes and
    // Docker probes cannot send a header from a Secret: they answer without the token. Everything
    // else (metrics, stats, the trie, agents, unknown paths) needs it once admin.token is set.
    const bool open = path == "/healthz" || path == "/readyz";
    const auto& token = rt->config->admin.token;
    if (!open && !token.empty() && req[http::field::authorization] != "Bearer " + token) {
      res = error_response(ProxyError::unauthorized, "missing or wrong bearer token", req.version(),
                           keep_alive);
      res.set(http::field::www_authenticate, "Bearer");
    } else if (path == "/healthz") {
      res.set(http::field::content_type, "text/plain");
      res.body() = "ok\n";
    } else if (path == "/readyz") {
      res.set(http::field::content_type, "text/plain");
      if (ready()) {
        res.body() = "ready\n";
      } else {
        res.result(http::status::service_unavailable);
        res.body() = draining() ? "draining\n" : "starting\n";
      }
    } else if (path == "/metrics") {
      res.set(http::field::content_type, kMetricsContentType);
      res.body() = metrics_document(*this);
    } else if (path == "/v1/augur/stats") {
      res.set(http::field::content_type, "application/json");
      res.body() = stats_document(*this);
    } else if (path == "/v1/augur/agents") {
      res.set(http::field::content_type, "application/json");
      res.body() = agents_document(*this);
    } else if (path == "/v1/augur/trie") {
      std::optional<std::string> doc;
      try {
        doc = trie_document(*this);
      } catch (const std::exception& e) {
        // A trie with a non-finite value has no JSON form; say so rather than end the session.
        spdlog::warn("GET /v1/augur/trie: {}", e.what());
        doc = std::string();
      }
      if (doc && doc->empty()) {
        res.result(http::status::internal_server_error);
        res.set(http::field::content_type, "application/json");
        res.body() = R"({"error":{"message":"the trie cannot be written as JSON","type":)"
                     R"("server_error","param":null,"code":"trie_unserializable"}})";
      } else if (doc) {
        res.set(http::field::content_type, "application/json");
        res.body() = std::move(*doc);
      } else {
        res = error_response(ProxyError::not_found, "no prediction trie yet", req.version(),
                             keep_alive);
      }
    } else {
      res = error_response(ProxyError::not_found, "no such admin endpoint", req.version(),
                           keep_alive);
    }
    res.keep_alive(keep_alive);
    res.prepare_payload();
    stream.expires_after(std::chrono::seconds(30));
    auto [wec, wn] = co_await http::async_write(stream, res, tuple_awaitable);
    if (wec || !keep_alive) break;
  }
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace augur::proxy
