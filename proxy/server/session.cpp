// A client connection's loop: wait for a request, read and check it, hand it to forward(), and
// account for it; then the next one, until the connection closes.
#include "proxy/server/session.hpp"

#include <boost/beast/http/write.hpp>

#include "common/unix_time.hpp"
#include "proxy/http/request_checks.hpp"
#include "proxy/server/client_session.hpp"
#include "proxy/server/server.hpp"
#include "proxy/server/session_io.hpp"

namespace augur::proxy {

using namespace session_io;

namespace {

// Consumes the empty lines (CRLF) that start `buffer`; true when nothing else is left in it.
bool skip_empty_lines(beast::flat_buffer& buffer) {
  std::size_t n = 0;
  const auto* p = static_cast<const char*>(buffer.data().data());
  while (n + 2 <= buffer.size() && p[n] == '\r' && p[n + 1] == '\n') n += 2;
  if (n == 0) return false;
  buffer.consume(n);
  return buffer.size() == 0;
}

}  // namespace

ClientSession::ClientSession(Socket socket, Worker& worker)
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

void ClientSession::close_idle() {
  beast::error_code ec;
  socket_.cancel(ec);
}

void ClientSession::check_idle() {
  idle_unchecked = false;
  if (peer_closed(socket_.native_handle())) close_idle();
}

Task<void> ClientSession::run() {
  auto& counters = worker_.counters();
  counters.connections_open.fetch_add(1, std::memory_order_relaxed);
  counters.connections_accepted.fetch_add(1, std::memory_order_relaxed);

  for (bool first = true;; first = false) {
    // Drained: a connection ends after its current response, but one accepted just now (racing
    // the listener's close) is served its request. While shutdown_delay runs, a connection only
    // gets here when its last response said keep-alive: its next request is served (with
    // Connection: close) rather than cut off as the client sends it.
    if (worker_.drained() && !first) break;
    rc_.rt = worker_.runtime_ptr();
    const config::Limits limits = rc_.rt->config->limits;  // a copy: forward() may move rt on

    if (buffer_.size() == 0) {
      wait_for_request(limits);
      // The client's next request answers our response: wait for it without a failed recv.
      auto [ec, n] = co_await read_some(reader_, socket_, buffer_.prepare(4096), ReadStart::answer);
      idle = false;
      if (ec) break;
      buffer_.commit(n);
    }
    // RFC 9112 2.2: empty lines before a request line are ignored (some clients send a CRLF
    // after a POST body).
    if (skip_empty_lines(buffer_)) continue;

    RequestParser parser(head_, body_, kJsonPadding);  // describe() parses the body in place
    start_parse(parser, limits);
    beast::error_code ec;
    if (!parse_buffered(parser, buffer_, ec) || !parser.is_header_done()) {
      if (!ec) ec = co_await read_until(reader_, socket_, buffer_, parser, header_done);
    }
    if (ec) {
      // Named, not a temporary in the co_await: GCC 12 destroys such temporaries twice.
      const ReadFailure failure = head_failure(ec);
      co_await fail(failure, 11);
      break;
    }
    if (const auto why = check_request(head_, parser.chunked()); !why.empty()) {
      const ReadFailure failure{ProxyError::bad_request, std::string(why)};
      co_await fail(failure, head_.version());
      break;
    }
    if (!parser.is_done()) {
      if (expects_continue() && !co_await send_continue(limits)) break;
      deadline_.arm(limits.body_timeout);
      if ((ec = co_await read_until(reader_, socket_, buffer_, parser, message_done))) {
        const ReadFailure failure = body_failure(ec);
        co_await fail(failure, head_.version());
        break;
      }
    }

    begin_request(parser.keep_alive() && !worker_.draining());
    bool keep = false;
    {
      // Out of flight however forward() ends (it throws only std::bad_alloc).
      const ScopeExit in_flight{
          [this] { worker_.counters().inflight.fetch_sub(1, std::memory_order_relaxed); }};
      keep = co_await forward();
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

// Between requests: wait under the keep-alive idle timeout (a drain cancels the wait).
void ClientSession::wait_for_request(const config::Limits& limits) {
  idle = true;
  idle_unchecked = true;  // the worker's tick looks for a half-close (proxy/net/socket_read.hpp)
  deadline_.arm(limits.idle_timeout);
}

void ClientSession::start_parse(RequestParser& parser, const config::Limits& limits) {
  // What a request may keep buffered: its head, and one read beyond (body bytes are parsed into
  // body_ as they come; chunk lines and trailers are bounded by the parser).
  buffer_.max_size(limits.max_header_bytes + kReadAhead);
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  parser.body_limit(limits.max_body_bytes);
  deadline_.arm(limits.header_timeout);  // bounds slowloris headers
}

ReadFailure ClientSession::head_failure(const beast::error_code& ec) const {
  if (ec == http::error::header_limit) {
    return {ProxyError::headers_too_large, "request headers exceed the limit"};
  }
  if (ec == http::error::body_limit) {
    return {ProxyError::body_too_large, "request body exceeds the limit"};
  }
  if (deadline_.fired())
    return {ProxyError::client_timeout, "request headers not received in time"};
  if (is_closed(ec) || ec == asio::error::operation_aborted) return {};
  return {ProxyError::bad_request, "malformed request: " + ec.message()};
}

ReadFailure ClientSession::body_failure(const beast::error_code& ec) const {
  if (ec == http::error::body_limit) {
    return {ProxyError::body_too_large, "request body exceeds the limit"};
  }
  if (ec == http::error::header_limit) {
    return {ProxyError::headers_too_large, "request trailers exceed the limit"};
  }
  if (deadline_.fired()) return {ProxyError::client_timeout, "request body not received in time"};
  if (is_closed(ec) || ec == asio::error::operation_aborted) return {};
  return {ProxyError::bad_request, "malformed request body: " + ec.message()};
}

// RFC 9110 10.1.1: an HTTP/1.0 client cannot expect 100 Continue; its Expect is ignored.
bool ClientSession::expects_continue() const {
  return head_.version() >= 11 && ascii_iequals(head_[http::field::expect], "100-continue");
}

Task<bool> ClientSession::send_continue(const config::Limits& limits) {
  static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
  deadline_.arm(limits.write_timeout);
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(cont), task_tuple);
  co_return !ec;
}

Task<void> ClientSession::fail(const ReadFailure& failure, unsigned version) {
  if (failure.error) co_await send_error(*failure.error, failure.message, version, false);
}

Task<void> ClientSession::send_error(ProxyError e, std::string_view message, unsigned version,
                                     bool keep_alive) {
  auto res = error_response(e, message, version == 10 ? 10 : 11, keep_alive);
  deadline_.arm(cfg().limits.write_timeout);
  co_await http::async_write(socket_, res, task_tuple);
  worker_.counters().client_errors.fetch_add(1, std::memory_order_relaxed);
}

// The request's accounting: counted and in flight from here (run() ends its flight).
void ClientSession::begin_request(bool client_keep_alive) {
  auto& counters = worker_.counters();
  counters.requests.fetch_add(1, std::memory_order_relaxed);
  counters.inflight.fetch_add(1, std::memory_order_relaxed);
  rc_.client_keep_alive = client_keep_alive;
  rc_.started = Clock::now();
  rc_.connect_time = {};
  rc_.response_end = {};
  rc_.end_run_at_answer = false;
  rc_.place.reset();
  rc_.record = RequestRecord{};
  rc_.meter.reset(false);  // a request that gets no response must not keep the last one's
  rc_.record.call.started_at_ms = unix_now_ms();
}

// Hands the request's record to the worker (metrics, access log, learning).
void ClientSession::finish_request() {
  RequestRecord& record = rc_.record;
  const auto now = Clock::now();
  record.duration_s = seconds(now - rc_.started);
  const auto ended = rc_.response_end == Clock::time_point{} ? now : rc_.response_end;
  record.call.ended_at_ms =
      record.call.started_at_ms +
      std::chrono::duration_cast<std::chrono::milliseconds>(ended - rc_.started).count();
  record.call.output_tokens = rc_.meter.output_tokens();
  // A Responses call's response id: a later call naming it continues this run.
  if (const auto id = rc_.meter.response_id(); !id.empty() && rc_.llm_call) {
    worker_.server().runs().link_response(id, record.call.run_id);
  }
  // Texts its tool calls handed out: a conversation opening with one is a sub-agent of this run.
  if (auto* conversations = worker_.server().conversations();
      conversations && rc_.llm_call && record.call.run_id_from_client) {
    if (const auto tasks = rc_.meter.tool_tasks(); !tasks.empty()) {
      if (rc_.place) {
        conversations->add_tasks(tasks, rc_.place);  // the place its conversation is under
      } else {
        conversations->add_tasks(tasks, {record.call.run_id, record.call.path});
      }
    }
  }
  worker_.finish(record);
}

Task<void> serve_client(Socket socket, Worker& worker) {
  ClientSession session(std::move(socket), worker);
  co_await session.run();
}

}  // namespace augur::proxy
