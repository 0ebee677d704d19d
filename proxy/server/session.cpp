#include "proxy/server/session.hpp"

#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <memory>
#include <optional>

#include "proxy/context/request_info.hpp"
#include "proxy/hints/inject.hpp"
#include "proxy/hints/predict.hpp"
#include "proxy/http/http_errors.hpp"
#include "proxy/http/http_util.hpp"
#include "proxy/http/relay_parser.hpp"
#include "proxy/http/request_checks.hpp"
#include "proxy/http/request_head.hpp"
#include "proxy/net/deadline.hpp"
#include "proxy/net/socket_read.hpp"
#include "proxy/observe/request_record.hpp"
#include "proxy/observe/response_meter.hpp"
#include "proxy/server/server.hpp"
#include "proxy/server/worker.hpp"

namespace augur::proxy {

namespace http = beast::http;

namespace {

// The most a read adds to a connection's buffer (read_space's cap).
constexpr std::size_t kReadAhead = 64 * 1024;

// An upstream that refused a connection is skipped this long (Envoy's "no healthy upstream").
constexpr auto refused_cooldown = std::chrono::seconds(1);

// Runs `f` when the scope ends, however it ends (co_return from any branch included).
template <class F>
class ScopeExit {
 public:
  explicit ScopeExit(F f) : f_(std::move(f)) {}
  ~ScopeExit() { f_(); }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;

 private:
  F f_;
};

// Beast's async_read / async_read_header / async_read_some over a parser, without their composed
// operations: the bytes already buffered are parsed directly and the socket is read only when the
// parser needs more. Beast's versions post their completion even when the buffer held
// everything, a scheduler round trip per call; a request or response that arrived in one segment
// (the usual case) is parsed here with none. End-of-stream rules are Beast's.
//
// Feeds the buffered bytes to `parser` once. False when it needs more bytes (ec clear).
template <class Parser>
bool parse_buffered(Parser& parser, beast::flat_buffer& buffer, beast::error_code& ec) {
  if (buffer.size() == 0) return false;
  const std::size_t used = parser.put(buffer.data(), ec);
  buffer.consume(used);
  if (ec == http::error::need_more) {
    ec = {};
    return false;
  }
  return used > 0 || ec;
}

// Where the next read goes (Beast's read_size rule); empty when the buffer is at its maximum.
asio::mutable_buffer read_space(beast::flat_buffer& buffer) {
  const std::size_t room = std::max<std::size_t>(512, buffer.capacity() - buffer.size());
  const std::size_t size = std::min({room, kReadAhead, buffer.max_size() - buffer.size()});
  return size == 0 ? asio::mutable_buffer{} : buffer.prepare(size);
}

// Commits `n` bytes just read for `parser`, with Beast's end-of-stream rules: EOF after some of a
// message ends it (close-delimited) or makes it partial; EOF before any byte is end_of_stream.
template <class Parser>
beast::error_code after_read(Parser& parser, beast::flat_buffer& buffer, beast::error_code ec,
                             std::size_t n) {
  buffer.commit(n);
  if (ec != asio::error::eof) return ec;
  if (!parser.got_some()) return http::error::end_of_stream;
  beast::error_code eof;
  parser.put_eof(eof);
  return eof;
}

// Consumes the empty lines (CRLF) that start `buffer`; true when nothing else is left in it.
bool skip_empty_lines(beast::flat_buffer& buffer) {
  std::size_t n = 0;
  const auto* p = static_cast<const char*>(buffer.data().data());
  while (n + 2 <= buffer.size() && p[n] == '\r' && p[n + 1] == '\n') n += 2;
  if (n == 0) return false;
  buffer.consume(n);
  return buffer.size() == 0;
}

// Whether the peer of `fd` has closed (end of stream or an error) without reading it: a peek that
// finds bytes waiting (a pipelined request) or none yet says it is still there.
bool peer_closed(int fd) {
  char c;
  const auto r = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

// One read of a proxied connection, awaited in place. Plain sockets are read with
// proxy/net/socket_read.hpp (no failed recv for a read that waits for the peer's answer); TLS streams
// as Asio reads them.
template <class Stream>
auto read_some(const SocketReader& reader, Stream& stream, asio::mutable_buffer space,
               ReadStart start) {
  if constexpr (std::is_same_v<Stream, Socket>) {
    return reader.read(stream, space, start, task_tuple);
  } else {
    return stream.async_read_some(space, task_tuple);
  }
}

// Parses what is buffered until done(parser). Returns where the next read goes while more bytes
// are needed; nullopt once done, or on an error (in `ec`). The loop it drives:
//   while (auto space = next_read(parser, buffer, done, ec)) {
//     auto [rec, n] = co_await read_some(reader, stream, *space, ReadStart::check);
//     if ((ec = after_read(parser, buffer, rec, n))) break;
//   }
template <class Parser, class Done>
std::optional<asio::mutable_buffer> next_read(Parser& parser, beast::flat_buffer& buffer, Done done,
                                              beast::error_code& ec) {
  while (!done(parser)) {
    if (parse_buffered(parser, buffer, ec)) {
      if (ec) return std::nullopt;
      continue;
    }
    const auto space = read_space(buffer);
    if (space.size() == 0) {
      ec = http::error::buffer_overflow;
      return std::nullopt;
    }
    return space;
  }
  return std::nullopt;
}

// Parses (and reads) until done(parser): the header is complete, or the whole message. The
// request path's hot reads run next_read's loop inline instead: no coroutine frame.
template <class Stream, class Parser, class Done>
Task<beast::error_code> read_until(const SocketReader& reader, Stream& stream,
                                   beast::flat_buffer& buffer, Parser& parser, Done done) {
  beast::error_code ec;
  while (const auto space = next_read(parser, buffer, done, ec)) {
    auto [rec, n] = co_await read_some(reader, stream, *space, ReadStart::check);
    if ((ec = after_read(parser, buffer, rec, n))) break;
  }
  co_return ec;
}

// Writes what write_now left of `buffers` (all of it on a TLS stream), waiting as needed.
// asio::async_write allocates its operation (a 64-entry prepared_buffers inside), which is why
// write_now goes first: it usually sends everything.
template <class Stream, class Buffers>
Task<beast::error_code> write_rest(Stream& stream, const Buffers& buffers, std::size_t written) {
  beast::buffers_suffix<Buffers> rest(buffers);
  rest.consume(written);
  auto [ec, n] = co_await asio::async_write(stream, rest, task_tuple);
  co_return ec;
}

// Sends what the kernel takes at once, without waiting: client and plain upstream sockets are
// non-blocking (set at accept and connect), so write_some reports would_block instead of blocking.
// The usual request or response goes out whole here, with no asynchronous operation and no trip
// through the scheduler; callers send what is left with write_rest (under a deadline). A TLS
// stream writes nothing here (its record layer needs the asynchronous path).
template <class Stream, class Buffers>
std::size_t write_now(Stream& stream, const Buffers& buffers, beast::error_code& ec) {
  if constexpr (std::is_same_v<Stream, Socket>) {
    const std::size_t n = stream.write_some(buffers, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
    return n;
  } else {
    return 0;
  }
}

constexpr auto header_done = [](const auto& parser) { return parser.is_header_done(); };
constexpr auto message_done = [](const auto& parser) { return parser.is_done(); };

bool is_timeout(const beast::error_code& ec) {
  return ec == beast::error::timeout || ec == asio::error::timed_out;
}

bool is_closed(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message ||
         ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe;
}

// How one attempt at an upstream ended.
enum class Attempt {
  done,            // a response (complete or cut short) went to the client
  stale,           // a reused connection was dead before any response byte: retry once
  connect_failed,  // could not connect: try another upstream
  failed,          // failed before any response byte; `error` says how to answer
  client_gone,     // the client went away; nothing more to send
};

struct AttemptResult {
  Attempt kind = Attempt::done;
  ProxyError error = ProxyError::upstream_refused;
  std::string message;
  bool client_keep_alive = false;
  bool upstream_reusable = false;
  bool truncated = false;  // done, but the upstream failed mid-response
};

// Watches the client socket while augur waits on the upstream, so a client that hangs up cancels
// the upstream request instead of leaving it generating tokens nobody reads. Armed lazily by the
// worker's tick once an exchange has waited a while (arming costs a syscall; most exchanges end
// sooner). The state is shared with the wait handler, which may run after the session ended;
// `generation` makes late handlers harmless.
struct ClientWatch {
  bool active = false;
  bool gone = false;
  std::uint64_t generation = 0;
  Socket* upstream = nullptr;
};

class ClientSession final : public SessionLink {
 public:
  ClientSession(Socket socket, Worker& worker)
      : worker_(worker),
        socket_(std::move(socket)),
        deadline_(socket_),
        reader_(socket_.get_executor().context()),
        watch_(std::make_shared<ClientWatch>()) {
    worker_.link(*this);
    beast::error_code ec;
    const auto ep = socket_.remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string();
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);  // for write_now (Asio's own operations do not mind)
  }

  void close_idle() override {
    beast::error_code ec;
    socket_.cancel(ec);
  }

  void check_idle() override {
    idle_unchecked = false;
    if (peer_closed(socket_.native_handle())) close_idle();
  }

  Task<void> run();

 private:
  // Bookkeeping around forward(): the clock, the record, and handing the record over.
  void start_request();
  void finish_request();
  Task<bool> forward(bool client_keep_alive, RequestRecord& record);
  template <class Stream>
  Task<AttemptResult> exchange(Stream& up, UpstreamConn& conn, bool client_keep_alive,
                               const config::UpstreamTimeouts& up_cfg);
  Task<void> send_error(ProxyError e, std::string_view message, unsigned version, bool keep_alive);
  Task<bool> write_to_client(const ResponseFramer::Buffers& buffers);

  void watch_client() override;
  void unwatch_client();
  void begin_exchange(Socket& upstream);
  void end_exchange();

  // The config of the request being handled (held in rt_ until the next one starts).
  const config::Config& cfg() const { return *rt_->config; }

  Worker& worker_;
  // The runtime (config, routing, trie) this connection's current request uses: held, so a
  // reload that another connection adopts meanwhile cannot release it under us.
  std::shared_ptr<const Runtime> rt_;
  Socket socket_;
  Deadline deadline_;
  SocketReader reader_;
  std::string head_buf_;  // serialised heads, reused across requests
  RelayResponseParser::Scratch relay_scratch_;
  beast::flat_buffer buffer_;
  // The request being handled: its head and body, buffers reused across the connection's requests.
  RequestHead head_;
  std::string body_;
  std::string remote_;
  std::shared_ptr<ClientWatch> watch_;
  // The request being forwarded: exchange() fills in its timings, status and tokens.
  RequestRecord* record_ = nullptr;
  // Its storage: a member, not a coroutine local, which keeps run()'s frame small.
  RequestRecord record_storage_;
  Clock::time_point started_{};
  Clock::duration connect_time_{};
  ResponseMeter meter_;
};

void ClientSession::begin_exchange(Socket& upstream) {
  watch_->upstream = &upstream;
  watch_->gone = false;
  awaiting_since = Clock::now();
}

void ClientSession::end_exchange() {
  awaiting_since = {};
  unwatch_client();
  watch_->upstream = nullptr;
}

void ClientSession::watch_client() {
  auto& w = *watch_;
  if (w.active || !w.upstream) return;
  w.active = true;
  const auto generation = ++w.generation;
  const int fd = socket_.native_handle();
  socket_.async_wait(Socket::wait_read,
                     [state = watch_, generation, fd](const beast::error_code& ec) {
                       if (!state->active || state->generation != generation) return;
                       if (ec == asio::error::operation_aborted) {
                         state->active = false;  // cancelled by a client deadline
                         return;
                       }
                       if (!ec && !peer_closed(fd))
                         return;  // a pipelined request waits: the client is there
                       state->gone = true;
                       if (state->upstream) {
                         beast::error_code ignored;
                         state->upstream->cancel(ignored);
                       }
                     });
}

void ClientSession::unwatch_client() {
  auto& w = *watch_;
  if (!w.active) return;
  w.active = false;
  beast::error_code ec;
  socket_.cancel(ec);  // only the watch is pending on the client socket here
}

Task<void> ClientSession::send_error(ProxyError e, std::string_view message, unsigned version,
                                     bool keep_alive) {
  auto res = error_response(e, message, version == 10 ? 10 : 11, keep_alive);
  deadline_.arm(cfg().limits.write_timeout);
  co_await http::async_write(socket_, res, task_tuple);
  worker_.counters().client_errors.fetch_add(1, std::memory_order_relaxed);
}

Task<void> ClientSession::run() {
  auto& counters = worker_.counters();
  counters.connections_open.fetch_add(1, std::memory_order_relaxed);
  counters.connections_accepted.fetch_add(1, std::memory_order_relaxed);

  for (bool first = true;; first = false) {
    // Draining: a connection ends after its current response, but one accepted just now (while
    // shutdown_delay keeps accepting, or racing the listener's close) is served its request.
    if (worker_.draining() && !first) break;
    rt_ = worker_.runtime_ptr();
    const config::Limits limits = rt_->config->limits;  // a copy: forward() may move rt_ on

    // Between requests: wait for the first byte under the keep-alive idle timeout. A drain
    // cancels this wait.
    if (buffer_.size() == 0) {
      idle = true;
      idle_unchecked = true;  // the worker's tick looks for a half-close (proxy/net/socket_read.hpp)
      deadline_.arm(limits.idle_timeout);
      // The client's next request answers our response: wait for it without a failed recv.
      auto [ec, n] = co_await read_some(reader_, socket_, buffer_.prepare(4096), ReadStart::answer);
      idle = false;
      if (ec) break;
      buffer_.commit(n);
    }

    // RFC 9112 2.2: empty lines before a request line are ignored (some clients send a CRLF
    // after a POST body).
    if (skip_empty_lines(buffer_)) continue;

    // What a request may keep buffered: its head, and one read beyond (body bytes are parsed
    // into body_ as they come, chunk lines and trailers are bounded by the parser).
    buffer_.max_size(limits.max_header_bytes + kReadAhead);
    RequestParser parser(head_, body_);
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.body_limit(limits.max_body_bytes);
    deadline_.arm(limits.header_timeout);  // bounds slowloris headers
    beast::error_code hec;
    if (!parse_buffered(parser, buffer_, hec) || !parser.is_header_done()) {
      if (!hec) hec = co_await read_until(reader_, socket_, buffer_, parser, header_done);
    }
    if (hec) {
      if (hec == http::error::header_limit) {
        co_await send_error(ProxyError::headers_too_large, "request headers exceed the limit", 11,
                            false);
      } else if (hec == http::error::body_limit) {
        co_await send_error(ProxyError::body_too_large, "request body exceeds the limit", 11,
                            false);
      } else if (deadline_.fired()) {
        co_await send_error(ProxyError::client_timeout, "request headers not received in time", 11,
                            false);
      } else if (!is_closed(hec) && hec != asio::error::operation_aborted) {
        co_await send_error(ProxyError::bad_request,
                            std::string("malformed request: ") + hec.message(), 11, false);
      }
      break;
    }

    const unsigned version = head_.version();
    if (const auto why = check_request(head_, parser.chunked()); !why.empty()) {
      co_await send_error(ProxyError::bad_request, why, version, false);
      break;
    }

    if (!parser.is_done()) {
      // RFC 9110 10.1.1: an HTTP/1.0 client cannot expect 100 Continue; ignore it.
      if (version >= 11 && ascii_iequals(head_[http::field::expect], "100-continue")) {
        static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
        deadline_.arm(limits.write_timeout);
        auto [cec, cn] = co_await asio::async_write(socket_, asio::buffer(cont), task_tuple);
        if (cec) break;
      }
      deadline_.arm(limits.body_timeout);
      const auto bec = co_await read_until(reader_, socket_, buffer_, parser, message_done);
      if (bec) {
        if (bec == http::error::body_limit) {
          co_await send_error(ProxyError::body_too_large, "request body exceeds the limit", version,
                              false);
        } else if (bec == http::error::header_limit) {
          co_await send_error(ProxyError::headers_too_large, "request trailers exceed the limit",
                              version, false);
        } else if (deadline_.fired()) {
          co_await send_error(ProxyError::client_timeout, "request body not received in time",
                              version, false);
        } else if (!is_closed(bec) && bec != asio::error::operation_aborted) {
          co_await send_error(ProxyError::bad_request,
                              std::string("malformed request body: ") + bec.message(), version,
                              false);
        }
        break;
      }
    }

    const bool client_keep_alive = parser.keep_alive() && !worker_.draining();
    // One request, around forward(), inline rather than a coroutine of its own (one frame fewer).
    bool keep = false;
    {
      counters.requests.fetch_add(1, std::memory_order_relaxed);
      counters.inflight.fetch_add(1, std::memory_order_relaxed);
      const ScopeExit inflight_guard{
          [&counters] { counters.inflight.fetch_sub(1, std::memory_order_relaxed); }};
      start_request();
      keep = co_await forward(client_keep_alive, record_storage_);
      finish_request();
    }
    if (!keep) break;
    if (buffer_.capacity() > 64 * 1024 && buffer_.size() == 0) buffer_.shrink_to_fit();
  }

  beast::error_code ec;
  socket_.shutdown(Socket::shutdown_send, ec);
  socket_.close(ec);
  counters.connections_open.fetch_sub(1, std::memory_order_relaxed);
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

learning::InjectedHints injected(const Hints& h) {
  learning::InjectedHints out;
  out.source = h.source;
  out.remaining = h.remaining;
  out.osl = h.osl;
  out.iat_ms = h.iat_ms;
  out.latency_sensitivity = h.latency_sensitivity;
  out.remaining_static = h.from_static.remaining;
  out.osl_static = h.from_static.osl;
  out.iat_static = h.from_static.iat;
  out.samples = {h.remaining_evidence.samples, h.osl_evidence.samples, h.iat_evidence.samples};
  out.spread = {h.remaining_evidence.spread, h.osl_evidence.spread, h.iat_evidence.spread};
  out.priority = h.priority;
  out.speculative_prefill = h.speculative_prefill;
  out.session_final = h.session_final;
  out.final_predicted = h.final_predicted;
  return out;
}

void ClientSession::start_request() {
  started_ = Clock::now();
  connect_time_ = {};
  record_storage_ = RequestRecord{};
  record_storage_.call.started_at_ms = unix_ms(std::chrono::system_clock::now());
  record_ = &record_storage_;
}

void ClientSession::finish_request() {
  record_ = nullptr;
  RequestRecord& record = record_storage_;
  const auto ended = Clock::now();
  record.duration_s = seconds(ended - started_);
  record.call.ended_at_ms =
      record.call.started_at_ms +
      std::chrono::duration_cast<std::chrono::milliseconds>(ended - started_).count();
  record.call.output_tokens = meter_.output_tokens();
  worker_.finish(record);
}

Task<bool> ClientSession::forward(bool client_keep_alive, RequestRecord& record) {
  auto& counters = worker_.counters();
  // The latest config and routing (a reload may have come while the request was read); held in
  // rt_, with the upstream targets, until the request is done.
  rt_ = worker_.runtime_ptr();
  const Runtime& rt = *rt_;
  const unsigned version = head_.version();

  record.target.assign(head_.target());  // kept for the record, and for every failover attempt
  const std::string& original_target = record.target;
  // A copy: the head's arena grows (and may move) as fields are set below.
  record.method.assign(head_.method_string());
  const RequestInfo info = parse_request_body(body_);
  // Only LLM calls are calls of a run: they get hints and are learned from. Anything else
  // (models, embeddings, health checks) is proxied untouched.
  const bool llm_call = is_llm_call(head_.method() == http::verb::post, original_target, info);
  record.llm_call = llm_call;
  const auto candidates = rt.routing->candidates(original_target, info.model);
  if (candidates.empty()) {
    record.call.failed = true;
    record.outcome = Outcome::no_upstream;
    record.status = static_cast<int>(status_of(ProxyError::no_upstream));
    co_await send_error(ProxyError::no_upstream, "no upstream is configured for this request",
                        version, client_keep_alive);
    co_return client_keep_alive;
  }

  // Where in the agent this call comes from, and what the trie predicts for it. The request's
  // start time is recent enough for the run table and SONA (one clock read fewer).
  const auto& cfg = *rt.config;
  auto& call = record.call;
  Hints hints;
  if (llm_call) {
    const auto now = started_;
    CallContext ctx = extract_context(head_, info, worker_.server().runs(), now);
    if (!cfg.context.trust_client_hints) strip_client_hints(head_);
    hints = predict(cfg, rt.trie.get(), ctx, info, body_.size(), worker_.server().sona(), now);
    call.run_id = std::move(ctx.run_id);  // ctx is not read again
    call.run_id_from_client = ctx.run_id_from_client;
    call.run_end = ctx.run_end;
    call.path = std::move(ctx.path);
    call.call_index = ctx.call_index;
    call.calls_in_run = ctx.calls_in_run;
    call.hints = injected(hints);
    call.shape.model = info.model;
    call.shape.request_bytes = body_.size();
    call.shape.max_tokens = info.max_tokens;
    call.shape.message_count = static_cast<std::uint32_t>(info.message_count);
    call.shape.tools = info.has_tools;
    call.shape.stream = info.stream;
  }
  const bool inject_once = candidates.size() == 1 || !llm_call;
  // A failover starts again from the client's request, so hints written for one upstream's
  // formats (headers or nvext fields) never reach another.
  std::string original_body;
  if (!llm_call) {
    // Nothing to write.
  } else if (inject_once) {
    apply_hints(head_, body_, hints, rt.routing->upstreams[candidates[0]]->cfg, info);
  } else {
    original_body = body_;
  }
  prepare_upstream_request(head_, body_, remote_);

  std::uint64_t tried = 0;
  AttemptResult last{Attempt::failed, ProxyError::no_upstream,
                     "no healthy upstream: every candidate refused connections just now"};
  for (std::size_t n = 0; n < candidates.size(); ++n) {
    const int pick = rt.routing->pick(candidates, tried, n == 0 ? started_ : Clock::now());
    if (pick < 0) break;
    tried |= std::uint64_t{1} << pick;
    const auto& target = rt.routing->upstreams[candidates[pick]];
    record.upstream = target->cfg.name;
    record.upstream_index = static_cast<int>(candidates[pick]);
    auto& health = *target->health;
    health.requests.fetch_add(1, std::memory_order_relaxed);
    health.outstanding.fetch_add(1, std::memory_order_relaxed);
    const ScopeExit outstanding_guard{
        [&] { health.outstanding.fetch_sub(1, std::memory_order_relaxed); }};

    if (!target->cfg.base_path.empty()) {
      head_.target(target->cfg.base_path + original_target);
    } else if (n > 0) {
      head_.target(original_target);
    }
    // prepare_upstream_request removed the client's Host; a failover replaces the last one's.
    if (n == 0) {
      head_.insert(http::field::host, target->host_header);
    } else {
      head_.set(http::field::host, target->host_header);
    }
    if (!inject_once) {
      if (n > 0) {
        if (!cfg.context.trust_client_hints) strip_client_hints(head_);
        if (body_ != original_body) {
          body_ = original_body;
          head_.set(http::field::content_length, std::to_string(original_body.size()));
        }
      }
      // apply_hints fixes Content-Length itself when it rewrites the body.
      apply_hints(head_, body_, hints, target->cfg, info);
    }

    // The attempt at this upstream: a pooled connection or a new one, and once more on a new one
    // when a pooled connection turns out dead before any response byte (inline, like the above).
    auto& pool = worker_.pool(target);
    auto conn = pool.take_idle(n == 0 ? started_ : Clock::now());
    for (int round = 0; round < 2; ++round) {
      if (!conn) {
        beast::error_code ec;
        const auto connect_start = Clock::now();
        conn = co_await pool.connect(ec);
        connect_time_ += Clock::now() - connect_start;
        if (!conn) {
          last = is_timeout(ec)
                     ? AttemptResult{Attempt::connect_failed, ProxyError::upstream_timeout,
                                     "upstream connect timed out"}
                     : AttemptResult{Attempt::connect_failed, ProxyError::upstream_refused,
                                     "upstream connection failed: " + ec.message()};
          break;
        }
      }
      last = co_await conn->visit([&](auto& s) {
        return exchange(s, *conn, client_keep_alive, pool.target().cfg.timeouts);
      });
      if (last.kind == Attempt::stale && round == 0) {
        // The server closed a pooled connection we thought was idle; nothing was processed.
        counters.upstream_retries.fetch_add(1, std::memory_order_relaxed);
        conn.reset();
        continue;
      }
      if (last.kind == Attempt::stale) {
        last.kind = Attempt::failed;
        last.error = ProxyError::upstream_refused;
        last.message = "upstream closed the connection before responding";
      }
      if (last.upstream_reusable) pool.give_back(std::move(conn), Clock::now());
      break;
    }
    if (last.kind == Attempt::connect_failed) {
      health.failures.fetch_add(1, std::memory_order_relaxed);
      health.down_until_ns.store((Clock::now() + refused_cooldown).time_since_epoch().count(),
                                 std::memory_order_relaxed);
      continue;  // fail over to the next candidate
    }
    break;
  }

  if (llm_call) worker_.server().runs().touch(call.run_id, Clock::now());
  record.status = call.status;
  switch (last.kind) {
    case Attempt::done:
      record.outcome = last.truncated ? Outcome::truncated : Outcome::ok;
      call.failed = last.truncated;
      co_return last.client_keep_alive && !worker_.draining();
    case Attempt::client_gone:
      record.outcome = Outcome::client_gone;
      if (record.status == 0) record.status = 499;  // nginx's "client closed request"
      call.failed = true;
      co_return false;
    case Attempt::connect_failed:
    case Attempt::stale:
    case Attempt::failed:
      call.failed = true;
      record.status = static_cast<int>(status_of(last.error));
      record.outcome = last.error == ProxyError::upstream_timeout ? Outcome::timeout
                       : last.error == ProxyError::no_upstream    ? Outcome::no_upstream
                       : last.kind == Attempt::connect_failed     ? Outcome::connect_failed
                                                                  : Outcome::upstream_failed;
      counters.upstream_errors.fetch_add(1, std::memory_order_relaxed);
      co_await send_error(last.error, last.message, version, client_keep_alive);
      co_return client_keep_alive && !worker_.draining();
  }
  co_return false;
}

Task<bool> ClientSession::write_to_client(const ResponseFramer::Buffers& buffers) {
  beast::error_code ec;
  const std::size_t n = write_now(socket_, buffers, ec);
  if (!ec && n < asio::buffer_size(buffers)) {
    deadline_.arm(cfg().limits.write_timeout);
    ec = co_await write_rest(socket_, buffers, n);
  }
  co_return !ec && !watch_->gone;
}

template <class Stream>
Task<AttemptResult> ClientSession::exchange(Stream& up, UpstreamConn& conn, bool client_keep_alive,
                                            const config::UpstreamTimeouts& up_cfg) {
  auto& deadline = conn.deadline;
  const bool reused = conn.reused();
  // Each phase has its own bound; `timeouts.total` (0 = none) caps the whole exchange.
  const auto total_end =
      up_cfg.total.count() > 0 ? Clock::now() + up_cfg.total : Clock::time_point::max();
  const auto arm = [&](config::Duration phase) {
    if (total_end == Clock::time_point::max()) return deadline.arm(phase);  // no clock read here
    const auto left = total_end - Clock::now();
    deadline.arm(left > phase ? Clock::duration(phase) : std::max(left, Clock::duration::zero()));
  };

  head_.serialize(head_buf_);
  if (record_) record_->overhead_s = seconds(Clock::now() - started_ - connect_time_);
  const std::array<asio::const_buffer, 2> request_buffers{asio::buffer(head_buf_),
                                                          asio::buffer(body_)};
  beast::error_code wec;
  const std::size_t wn = write_now(up, request_buffers, wec);
  if (!wec && wn < asio::buffer_size(request_buffers)) {
    arm(up_cfg.write);
    wec = co_await write_rest(up, request_buffers, wn);
  }
  if (wec) {
    if (reused && !deadline.timed_out(wec)) co_return AttemptResult{Attempt::stale};
    if (deadline.timed_out(wec)) {
      co_return AttemptResult{Attempt::failed, ProxyError::upstream_timeout,
                              "upstream did not accept the request in time"};
    }
    co_return AttemptResult{Attempt::failed, ProxyError::upstream_refused,
                            "upstream reset the connection: " + wec.message()};
  }

  const bool head = head_.method() == http::verb::head;
  std::optional<RelayResponseParser> parser;
  begin_exchange(conn.socket());
  const ScopeExit exchange_guard{[this] { end_exchange(); }};
  arm(up_cfg.response_headers);
  beast::error_code rec;
  // The first read waits for the response to the request just sent; later ones look first.
  ReadStart start = ReadStart::answer;
  for (;;) {
    parser.emplace(relay_scratch_);
    if (head) parser->skip(true);
    while (const auto space = next_read(*parser, conn.buffer, header_done, rec)) {
      auto [r, n] = co_await read_some(reader_, up, *space, std::exchange(start, ReadStart::check));
      if ((rec = after_read(*parser, conn.buffer, r, n))) break;
    }
    // An interim 1xx (other than 101) precedes the real response: skip it.
    const unsigned status = parser->status();
    if (rec || status >= 200 || status == 101) break;
  }
  auto& p = *parser;
  if (!rec && record_) {
    const auto ttfb = Clock::now() - started_;
    record_->ttfb_s = seconds(ttfb);
    record_->call.ttfb_ms = seconds(ttfb) * 1e3;
    record_->call.status = static_cast<int>(p.status());
  }
  if (watch_->gone) co_return AttemptResult{Attempt::client_gone};
  if (rec) {
    if (deadline.timed_out(rec)) {
      co_return AttemptResult{Attempt::failed, ProxyError::upstream_timeout,
                              "upstream did not respond in time"};
    }
    const bool closed = rec == http::error::end_of_stream || rec == asio::error::eof ||
                        rec == asio::error::connection_reset || rec == asio::error::broken_pipe;
    if (closed && reused && !p.got_some()) co_return AttemptResult{Attempt::stale};
    if (closed) {
      co_return AttemptResult{Attempt::failed, ProxyError::upstream_refused,
                              "upstream closed the connection before responding"};
    }
    co_return AttemptResult{Attempt::failed, ProxyError::upstream_invalid,
                            "upstream sent an invalid response: " + rec.message()};
  }

  const bool upstream_keep_alive = p.keep_alive();
  const bool event_stream = p.event_stream();
  meter_.reset(event_stream);
  bool chunked_out = false;
  client_keep_alive =
      p.write_head(head_buf_, head, head_.version(), client_keep_alive, chunked_out);

  // The response head in one contiguous buffer (Beast's serializer hands the kernel one iovec
  // per field); the body goes out as read, framed here.
  ResponseFramer framer(chunked_out);
  auto buffer = worker_.take_buffer();
  const ScopeExit buffer_guard{[&] { worker_.give_buffer(std::move(buffer)); }};
  char* const buf = buffer.get();
  constexpr std::size_t buf_size = Worker::relay_buffer_size;
  // Output tokens and the first token's time, read from the body as it passes.
  const auto meter = [&](std::size_t n) {
    if (meter_.feed({buf, n}) && record_) {
      record_->call.first_token_ms = seconds(Clock::now() - started_) * 1e3;
    }
  };

  AttemptResult result{Attempt::done};
  result.client_keep_alive = client_keep_alive;
  bool head_pending = true;

  // Streams: the head goes out at once, before the first event. Sized bodies wait for their
  // first bytes so head and body leave in one write.
  if (!p.is_done() && conn.buffer.size() == 0 && (event_stream || !p.content_length())) {
    if (!co_await write_to_client(framer.frame(head_buf_, {}, false))) {
      co_return AttemptResult{Attempt::client_gone};
    }
    head_pending = false;
  }

  SseTail tail;
  beast::error_code upstream_error;
  for (;;) {
    std::size_t got = 0;
    if (!p.is_done()) {
      p.set_output(buf, buf_size);
      arm(up_cfg.stream_idle);
      // Until some body bytes are out (a full relay buffer stops the parser with need_buffer).
      beast::error_code ec;
      while (!p.is_done() && p.received() == 0) {
        if (parse_buffered(p, conn.buffer, ec)) {
          if (ec == http::error::need_buffer) ec = {};
          if (ec) break;
          continue;
        }
        const auto space = read_space(conn.buffer);
        if (space.size() == 0) {
          ec = http::error::buffer_overflow;
          break;
        }
        auto [rec, n] = co_await read_some(reader_, up, space, ReadStart::check);
        if ((ec = after_read(p, conn.buffer, rec, n))) break;
      }
      got = p.received();
      if (ec || watch_->gone) {
        upstream_error = ec ? ec : asio::error::operation_aborted;
        if (got > 0 && !watch_->gone) {
          meter(got);
          tail.feed(buf, got);
          co_await write_to_client(
              framer.frame(head_pending ? head_buf_ : std::string_view{}, {buf, got}, false));
          head_pending = false;
        }
        break;
      }
      if (event_stream) {  // before the write: the first token is timed as it arrives
        meter(got);
        tail.feed(buf, got);
      }
      // A read can end on a chunk header with no data yet: nothing to send.
      if (got == 0 && !p.is_done()) continue;
    }
    const bool last = p.is_done();
    {  // write_to_client, inline: no coroutine frame on the path every response takes
      const auto& out =
          framer.frame(head_pending ? head_buf_ : std::string_view{}, {buf, got}, last);
      beast::error_code wec;
      const std::size_t wn = write_now(socket_, out, wec);
      if (!wec && wn < asio::buffer_size(out)) {
        deadline_.arm(cfg().limits.write_timeout);
        wec = co_await write_rest(socket_, out, wn);
      }
      if (wec || watch_->gone) co_return AttemptResult{Attempt::client_gone};
    }
    // A JSON body is read for its token count after it went out (the relay buffer is intact until
    // the next read): off the client's critical path.
    if (!event_stream) meter(got);
    head_pending = false;
    if (last) break;
  }

  if (watch_->gone) co_return AttemptResult{Attempt::client_gone};

  if (upstream_error) {
    worker_.counters().upstream_errors.fetch_add(1, std::memory_order_relaxed);
    result.truncated = true;
    // The status line is gone; what is left is to end the body so the client can tell.
    if (event_stream && framer.chunked() && !head_pending) {
      std::string event = tail.separator();
      const bool stalled = deadline.timed_out(upstream_error);
      event += sse_error_event(
          stalled ? ProxyError::upstream_timeout : ProxyError::upstream_refused,
          stalled ? "upstream stream stalled" : "upstream connection lost mid-stream");
      if (!co_await write_to_client(framer.frame({}, event, true))) {
        co_return AttemptResult{Attempt::client_gone};
      }
      co_return result;  // cleanly terminated chunked stream: the client connection stays usable
    }
    if (head_pending) {
      co_return AttemptResult{Attempt::failed, ProxyError::upstream_refused,
                              "upstream connection lost before the response body"};
    }
    result.client_keep_alive = false;  // a truncated body: only closing tells the client
    co_return result;
  }
  result.upstream_reusable = upstream_keep_alive && p.is_done();
  co_return result;
}

}  // namespace

Task<void> serve_client(Socket socket, Worker& worker) {
  ClientSession session(std::move(socket), worker);
  co_await session.run();
}

}  // namespace augur::proxy
