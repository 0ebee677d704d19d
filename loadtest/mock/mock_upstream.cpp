// The mock upstream's server: accept loop, one coroutine per connection (each on its own strand),
// request parsing with limits and timeouts, routing, control headers and injected faults.
// Responses are assembled with string appends into per-connection buffers and written with one
// gather-write, so a small non-streaming answer costs little CPU. Timeouts are deadlines a sweeper
// checks a few times a second rather than a timer per I/O operation, which would add timer system
// calls to every request.
#include "loadtest/mock/mock_upstream.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <cmath>
#include <ctime>
#include <mutex>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "common/json_string.hpp"
#include "loadtest/mock/nvext_check.hpp"
#include "loadtest/mock/request.hpp"
#include "loadtest/mock/request_scan.hpp"
#include "loadtest/mock/responses.hpp"
#include "loadtest/mock/tool_calls.hpp"

namespace augur::mock {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
using Clock = std::chrono::steady_clock;
// Mid-stream faults fire after this many token events unless x-mock-fault-after says otherwise.
constexpr std::int64_t kDefaultFaultAfter = 2;
// Upper bound for x-mock-body-size, so a typo cannot make the mock allocate gigabytes.
constexpr std::int64_t kMaxPaddedBody = 256LL * 1024 * 1024;
// Read-buffer room each connection starts with: a typical chat request, head and body, in one read.
constexpr std::size_t kReadReserve = 16 * 1024;

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}

enum class Fault {
  none,
  reset_before_headers,
  close_before_headers,
  hang_before_headers,
  reset_mid_stream,
  hang_mid_stream,
  malformed,
  close_after_response,
  unknown,
};

Fault parse_fault(std::string_view v) {
  if (v.empty()) return Fault::none;
  if (v == "reset-before-headers") return Fault::reset_before_headers;
  if (v == "close-before-headers") return Fault::close_before_headers;
  if (v == "hang-before-headers") return Fault::hang_before_headers;
  if (v == "reset-mid-stream") return Fault::reset_mid_stream;
  if (v == "hang-mid-stream") return Fault::hang_mid_stream;
  if (v == "malformed") return Fault::malformed;
  if (v == "close-after-response") return Fault::close_after_response;
  return Fault::unknown;
}

std::optional<std::int64_t> parse_count(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{} || end != v.data() + v.size() || n < 0) return std::nullopt;
  return n;
}

// The x-mock-* request headers, read in one pass over the fields.
struct Controls {
  std::optional<std::int64_t> latency_ms, tokens, chunk_delay_ms, first_token_delay_ms;
  std::optional<std::int64_t> status, body_size, fault_after;
  Fault fault = Fault::none;
  std::string_view fault_text;
  // x-mock-tool-calls as sent (null data() when absent); parsed only by the completion paths.
  std::string_view tool_calls;
};

Controls read_controls(const Request& req) {
  Controls c;
  for (const auto& [name, value] : req.fields) {
    if (name.size() <= 7 || !beast::iequals(name.substr(0, 7), "x-mock-")) continue;
    const std::string_view key = name.substr(7);
    if (beast::iequals(key, "latency-ms")) {
      c.latency_ms = parse_count(value);
    } else if (beast::iequals(key, "tokens")) {
      c.tokens = parse_count(value);
    } else if (beast::iequals(key, "chunk-delay-ms")) {
      c.chunk_delay_ms = parse_count(value);
    } else if (beast::iequals(key, "first-token-delay-ms")) {
      c.first_token_delay_ms = parse_count(value);
    } else if (beast::iequals(key, "status")) {
      c.status = parse_count(value);
    } else if (beast::iequals(key, "body-size")) {
      c.body_size = parse_count(value);
    } else if (beast::iequals(key, "fault-after")) {
      c.fault_after = parse_count(value);
    } else if (beast::iequals(key, "tool-calls")) {
      c.tool_calls = value.data() != nullptr ? value : std::string_view{""};
    } else if (beast::iequals(key, "fault")) {
      c.fault_text = value;
      c.fault = parse_fault(value);
    }
  }
  return c;
}

// {"name":"v1, v2",...}: names lower-cased, repeated fields joined in arrival order.
void append_headers_json(std::string& out, const Request& req) {
  const auto& fields = req.fields;
  out += '{';
  bool first = true;
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    bool repeated = false;
    for (auto jt = fields.begin(); jt != it; ++jt) {
      if (beast::iequals(jt->first, it->first)) {
        repeated = true;
        break;
      }
    }
    if (repeated) continue;
    if (!first) out += ',';
    first = false;
    out += '"';
    std::size_t name_start = out.size();
    append_json_chars(out, it->first);
    for (std::size_t i = name_start; i < out.size(); ++i) {
      if (out[i] >= 'A' && out[i] <= 'Z') out[i] = static_cast<char>(out[i] - 'A' + 'a');
    }
    out += R"(":")";
    append_json_chars(out, it->second);
    for (auto jt = std::next(it); jt != fields.end(); ++jt) {
      if (beast::iequals(jt->first, it->first)) {
        out += ", ";
        append_json_chars(out, jt->second);
      }
    }
    out += '"';
  }
  out += '}';
}

// Lets stop() reach connections whose concrete stream type it does not know.
struct ConnectionBase : std::enable_shared_from_this<ConnectionBase> {
  virtual ~ConnectionBase() = default;
  virtual void close_from_outside() = 0;

  // Set around each read or write (steady-clock ticks; 0 = none); the sweeper closes the
  // connection once it has passed. Atomic because the sweeper may run on another thread.
  std::atomic<Clock::rep> deadline{0};
  void arm(Millis timeout) {
    deadline.store((Clock::now() + timeout).time_since_epoch().count(), std::memory_order_relaxed);
  }
  void disarm() { deadline.store(0, std::memory_order_relaxed); }
};

template <class Stream>
constexpr bool kIsTls = !std::is_same_v<Stream, tcp::socket>;

// Owned by its coroutine (and referenced weakly by the registry). Everything but
// close_from_outside() runs on the connection's strand.
template <class Stream>
struct Connection final : ConnectionBase {
  template <class... Args>
  explicit Connection(std::uint64_t connection_id, Args&&... args)
      : stream(std::forward<Args>(args)...), timer(stream.get_executor()), id(connection_id) {
    // Beast reads max(512, free capacity) bytes at a time: without room up front, a request of
    // just over 1 KiB (a proxied one with hint headers and nvext) took two reads, every time.
    buffer.reserve(kReadReserve);
  }

  tcp::socket& socket() { return beast::get_lowest_layer(stream); }
  void close_socket() {
    error_code ignored;
    socket().close(ignored);
  }

  void close_from_outside() override {
    auto self = shared_from_this();
    asio::post(stream.get_executor(), [self, this] {
      closed = true;
      timer.cancel();
      close_socket();
    });
  }

  Stream stream;
  asio::steady_timer timer;  // latency and chunk pacing; cancelled by close_from_outside()
  beast::flat_buffer buffer;
  RequestStorage request;                 // the request being served, storage reused
  std::string head, body, echo, scratch;  // reused across requests
  std::uint64_t id;
  std::uint64_t served = 0;
  bool closed = false;
};

// State shared by the accept loop and every connection (MockUpstream::Impl is this).
struct Server {
  Server(asio::io_context& context, MockOptions o)
      : ioc(context), opts(std::move(o)), acceptor(asio::make_strand(context)) {
    append_json_chars(model_json, opts.model);
    if (!opts.tls_cert_file.empty() || !opts.tls_key_file.empty()) {
      ssl.emplace(asio::ssl::context::tls_server);
      ssl->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
      ssl->use_certificate_chain_file(opts.tls_cert_file);
      ssl->use_private_key_file(opts.tls_key_file, asio::ssl::context::pem);
    }
  }

  asio::io_context& ioc;
  MockOptions opts;
  std::string model_json;  // opts.model, JSON-escaped once
  std::optional<asio::ssl::context> ssl;
  tcp::acceptor acceptor;  // on its own strand so stop() can close it from any thread
  asio::steady_timer sweep_timer{acceptor.get_executor()};  // same strand
  std::atomic<bool> stopped{false};
  std::atomic<std::uint64_t> next_connection{1}, next_response{1};
  std::atomic<std::uint64_t> accepted{0}, open{0}, requests{0}, failures{0}, nvext_rejected{0};
  std::mutex mu;  // guards live
  std::unordered_map<std::uint64_t, std::weak_ptr<ConnectionBase>> live;
};

template <class Stream>
asio::awaitable<bool> write_buffers(Server& s, Connection<Stream>& c, const auto& buffers) {
  if (c.closed) co_return false;
  c.arm(s.opts.write_timeout);
  auto [ec, n] = co_await asio::async_write(c.stream, buffers, kTuple);
  c.disarm();
  co_return !ec && !c.closed;
}

template <class Stream>
asio::awaitable<bool> sleep_for(Connection<Stream>& c, Millis d) {
  if (d.count() > 0 && !c.closed) {
    c.timer.expires_after(d);
    // Cancellation (stop()) and expiry both just end the wait; `closed` tells them apart.
    co_await c.timer.async_wait(kTuple);
  }
  co_return !c.closed;
}

// RST instead of FIN: SO_LINGER with a zero timeout makes close() abort the connection.
template <class Stream>
void abort_connection(Connection<Stream>& c) {
  error_code ec;
  c.socket().set_option(tcp::socket::linger(true, 0), ec);
  c.close_socket();
}

template <class Stream>
void close_gracefully(Connection<Stream>& c) {
  error_code ec;
  c.socket().shutdown(tcp::socket::shutdown_send, ec);
  c.close_socket();
}

// For the hang faults: no timeout, reads (and drops) until the peer closes or stop() is called.
template <class Stream>
asio::awaitable<void> wait_until_peer_leaves(Connection<Stream>& c) {
  c.disarm();
  std::array<char, 1024> sink;
  while (!c.closed) {
    auto [ec, n] = co_await c.socket().async_read_some(asio::buffer(sink), kTuple);
    if (ec) break;
  }
  c.close_socket();
}

// Status line and the headers every response carries; the caller adds framing and the blank line.
template <class Stream>
void begin_head(Server& s, Connection<Stream>& c, int status, std::string_view content_type,
                bool keep_alive) {
  std::string& h = c.head;
  h.clear();
  h += "HTTP/1.1 ";
  append_int(h, status);
  h += ' ';
  h += sv(http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status))));
  h += "\r\nserver: augur-mock\r\ncontent-type: ";
  h += content_type;
  h += "\r\nx-mock-connection-id: ";
  append_int(h, static_cast<std::int64_t>(c.id));
  h += "\r\nx-mock-connection-requests: ";
  append_int(h, static_cast<std::int64_t>(c.served));
  if (s.opts.echo) {
    h += "\r\nx-mock-request-headers: ";
    h += c.echo;
  }
  if (!keep_alive) h += "\r\nconnection: close";
  h += "\r\n";
}

// ,"mock":{...} — what this request looked like on arrival (for tests of what a proxy sent).
template <class Stream>
void append_mock_echo(Server& s, Connection<Stream>& c, const Request& req) {
  if (!s.opts.echo) return;
  std::string& b = c.body;
  b += R"(,"mock":{"method":")";
  append_json_chars(b, req.method);
  b += R"(","target":")";
  append_json_chars(b, req.target);
  b += R"(","request_headers":)";
  b += c.echo;
  b += R"(,"request_body":")";
  append_json_chars(b, req.body);
  b += R"("})";
}

// Writes c.head + content-length + c.body. Returns false when the connection is gone.
template <class Stream>
asio::awaitable<bool> send_body(Server& s, Connection<Stream>& c) {
  c.head += "content-length: ";
  append_int(c.head, static_cast<std::int64_t>(c.body.size()));
  c.head += "\r\n\r\n";
  const std::array<asio::const_buffer, 2> bufs{asio::buffer(c.head), asio::buffer(c.body)};
  co_return co_await write_buffers(s, c, bufs);
}

template <class Stream>
asio::awaitable<bool> send_error(Server& s, Connection<Stream>& c, const Request* req, int status,
                                 std::string_view message, bool keep_alive) {
  begin_head(s, c, status, "application/json", keep_alive);
  c.body.clear();
  append_error_body(c.body, message, error_type_for_status(status), "");
  if (req != nullptr) {
    c.body.pop_back();  // reopen the envelope to add the echo member
    append_mock_echo(s, c, *req);
    c.body += '}';
  }
  co_return co_await send_body(s, c);
}

// Dynamo's 400 for an nvext member its frontend would not deserialize (plus the echo member).
template <class Stream>
asio::awaitable<bool> send_nvext_error(Server& s, Connection<Stream>& c, const Request& req,
                                       std::string_view serde_error, bool keep_alive) {
  begin_head(s, c, 400, "application/json", keep_alive);
  c.body.clear();
  append_dynamo_deserialize_error(c.body, serde_error);
  c.body.pop_back();  // reopen the object to add the echo member
  append_mock_echo(s, c, req);
  c.body += '}';
  co_return co_await send_body(s, c);
}

// GET /mock/stats: the counters MockUpstream::stats() returns, for tests in another process.
template <class Stream>
asio::awaitable<bool> send_stats(Server& s, Connection<Stream>& c, bool keep_alive) {
  begin_head(s, c, 200, "application/json", keep_alive);
  std::string& b = c.body;
  b = R"({"connections_accepted":)";
  append_int(b, static_cast<std::int64_t>(s.accepted.load(std::memory_order_relaxed)));
  b += R"(,"connections_open":)";
  append_int(b, static_cast<std::int64_t>(s.open.load(std::memory_order_relaxed)));
  b += R"(,"requests":)";
  append_int(b, static_cast<std::int64_t>(s.requests.load(std::memory_order_relaxed)));
  b += R"(,"nvext_rejected":)";
  append_int(b, static_cast<std::int64_t>(s.nvext_rejected.load(std::memory_order_relaxed)));
  b += '}';
  co_return co_await send_body(s, c);
}

// A request that could not be read: answer 4xx when it was a protocol error, then close.
template <class Stream>
asio::awaitable<bool> reject(Server& s, Connection<Stream>& c, error_code ec) {
  int status = 0;
  if (ec == http::error::header_limit) {
    status = 431;
  } else if (ec == http::error::body_limit) {
    status = 413;
  } else if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
             ec != http::error::end_of_stream && ec != http::error::partial_message) {
    status = 400;
  }
  if (status != 0) {
    c.echo = "{}";
    co_await send_error(s, c, nullptr, status, "mock: " + ec.message(), false);
    close_gracefully(c);
  } else {
    c.close_socket();
  }
  co_return false;
}

// Writes c.scratch as one HTTP chunk: "<hex size>\r\n" + event(s) + "\r\n" (and the last chunk).
template <class Stream>
asio::awaitable<bool> send_scratch_chunk(Server& s, Connection<Stream>& c, bool last) {
  char size_line[24];
  auto res = std::to_chars(size_line, size_line + 16, c.scratch.size(), 16);
  *res.ptr++ = '\r';
  *res.ptr++ = '\n';
  static constexpr std::string_view kEnd = "\r\n";
  static constexpr std::string_view kEndLast = "\r\n0\r\n\r\n";
  const std::array<asio::const_buffer, 3> bufs{
      asio::buffer(size_line, static_cast<std::size_t>(res.ptr - size_line)),
      asio::buffer(c.scratch), asio::buffer(last ? kEndLast : kEnd)};
  co_return co_await write_buffers(s, c, bufs);
}

// A mid-stream fault fires: the connection is reset, or left hanging until the peer goes.
template <class Stream>
asio::awaitable<bool> cut_mid_response(Connection<Stream>& c, Fault fault) {
  if (fault == Fault::reset_mid_stream) {
    abort_connection(c);
  } else {
    co_await wait_until_peer_leaves(c);
  }
  co_return false;
}

// A mid-stream fault on a JSON body (in c.body, head begun): its Content-Length and half of it,
// then the fault.
template <class Stream>
asio::awaitable<bool> send_half_body(Server& s, Connection<Stream>& c, Fault fault) {
  c.head += "content-length: ";
  append_int(c.head, static_cast<std::int64_t>(c.body.size()));
  c.head += "\r\n\r\n";
  const std::array<asio::const_buffer, 2> bufs{asio::buffer(c.head),
                                               asio::buffer(c.body.data(), c.body.size() / 2)};
  if (!co_await write_buffers(s, c, bufs)) co_return false;
  co_return co_await cut_mid_response(c, fault);
}

// Ends a 200 JSON answer whose members are in c.body: the echo, any padding asked for, the head.
template <class Stream>
void close_json_body(Server& s, Connection<Stream>& c, const Request& req, const Controls& ctl,
                     bool keep_alive) {
  append_mock_echo(s, c, req);
  append_padding_and_close(
      c.body, static_cast<std::size_t>(std::min(ctl.body_size.value_or(0), kMaxPaddedBody)));
  begin_head(s, c, 200, "application/json", keep_alive);
}

// The head of a 200 event stream, in c.head.
template <class Stream>
void begin_event_stream(Server& s, Connection<Stream>& c, bool keep_alive) {
  begin_head(s, c, 200, "text/event-stream", keep_alive);
  c.head += "cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";
}

// Streams x-mock-tool-calls events built up front (tool_call_chat_events(), …): groups[0] with
// the headers, then each delta group paced as token events are (first-token delay, then chunk
// delay), then the last group; mid-stream faults count delta groups.
template <class Stream>
asio::awaitable<bool> send_event_groups(Server& s, Connection<Stream>& c,
                                        const std::vector<std::string>& groups, const Behaviour& b,
                                        const Controls& ctl, bool keep_alive) {
  const bool mid_fault =
      ctl.fault == Fault::reset_mid_stream || ctl.fault == Fault::hang_mid_stream;
  begin_event_stream(s, c, keep_alive);
  if (!co_await write_buffers(s, c, asio::buffer(c.head))) co_return false;
  if (!groups.front().empty()) {
    c.scratch = groups.front();
    if (!co_await send_scratch_chunk(s, c, false)) co_return false;
  }
  const std::int64_t fault_after = ctl.fault_after.value_or(kDefaultFaultAfter);
  const std::int64_t deltas = static_cast<std::int64_t>(groups.size()) - 2;
  for (std::int64_t i = 0; i < deltas; ++i) {
    if (mid_fault && i == fault_after) co_return co_await cut_mid_response(c, ctl.fault);
    if (!co_await sleep_for(c, i == 0 ? b.first_token_delay : b.chunk_delay)) co_return false;
    c.scratch = groups[static_cast<std::size_t>(i) + 1];
    if (!co_await send_scratch_chunk(s, c, false)) co_return false;
  }
  if (mid_fault) co_return co_await cut_mid_response(c, ctl.fault);
  c.scratch = groups.back();
  co_return co_await send_scratch_chunk(s, c, true);
}

// Streams a completion as SSE (chunked), or, for a non-streaming request, sends the JSON body;
// mid-stream faults cut either after `fault_after` events (or half the body).
template <class Stream>
asio::awaitable<bool> send_completion(Server& s, Connection<Stream>& c, const Request& req,
                                      const CompletionInfo& info, const Behaviour& b,
                                      const Controls& ctl, bool stream, bool include_usage,
                                      bool keep_alive) {
  const bool mid_fault =
      ctl.fault == Fault::reset_mid_stream || ctl.fault == Fault::hang_mid_stream;
  const auto fire = [&] { return cut_mid_response(c, ctl.fault); };

  if (!stream) {
    c.body.clear();
    append_completion_open(c.body, info);
    close_json_body(s, c, req, ctl, keep_alive);
    if (!mid_fault) co_return co_await send_body(s, c);
    co_return co_await send_half_body(s, c, ctl.fault);
  }
  if (info.tool_calls != nullptr) {
    co_return co_await send_event_groups(s, c, tool_call_chat_events(info, include_usage), b, ctl,
                                         keep_alive);
  }

  begin_event_stream(s, c, keep_alive);
  if (!co_await write_buffers(s, c, asio::buffer(c.head))) co_return false;

  const std::int64_t fault_after = ctl.fault_after.value_or(kDefaultFaultAfter);
  for (std::int64_t i = 0; i < info.completion_tokens; ++i) {
    if (mid_fault && i == fault_after) co_return co_await fire();
    if (!co_await sleep_for(c, i == 0 ? b.first_token_delay : b.chunk_delay)) co_return false;
    c.scratch.clear();
    append_token_event(c.scratch, info, i);
    if (!co_await send_scratch_chunk(s, c, false)) co_return false;
  }
  if (mid_fault) co_return co_await fire();

  c.scratch.clear();
  append_finish_event(c.scratch, info);
  if (include_usage) append_usage_event(c.scratch, info);
  c.scratch += "data: [DONE]\n\n";
  co_return co_await send_scratch_chunk(s, c, true);
}

// An error in the request's dialect: Anthropic's envelope on /v1/messages, OpenAI's otherwise.
template <class Stream>
asio::awaitable<bool> send_dialect_error(Server& s, Connection<Stream>& c, const Request& req,
                                         Dialect dialect, int status, std::string_view message,
                                         bool keep_alive) {
  if (dialect != Dialect::messages) {
    co_return co_await send_error(s, c, &req, status, message, keep_alive);
  }
  begin_head(s, c, status, "application/json", keep_alive);
  c.body.clear();
  append_anthropic_error_body(c.body, message, status);
  c.body.pop_back();  // reopen the envelope to add the echo member
  append_mock_echo(s, c, req);
  c.body += '}';
  co_return co_await send_body(s, c);
}

// send_completion() for the Responses and Messages dialects: the same pacing (latency before
// this; first-token delay, then chunk delay between deltas) and the same mid-stream faults, with
// the events before the first delta sent along with the headers.
template <class Stream>
asio::awaitable<bool> send_dialect(Server& s, Connection<Stream>& c, const Request& req,
                                   const DialectInfo& info, const Behaviour& b, const Controls& ctl,
                                   bool stream, bool keep_alive) {
  const bool mid_fault =
      ctl.fault == Fault::reset_mid_stream || ctl.fault == Fault::hang_mid_stream;
  const auto fire = [&] { return cut_mid_response(c, ctl.fault); };

  if (!stream) {
    c.body.clear();
    append_dialect_open(c.body, info);
    close_json_body(s, c, req, ctl, keep_alive);
    if (!mid_fault) co_return co_await send_body(s, c);
    co_return co_await send_half_body(s, c, ctl.fault);
  }
  if (info.tool_calls != nullptr) {
    co_return co_await send_event_groups(s, c, tool_call_dialect_events(info), b, ctl, keep_alive);
  }

  begin_event_stream(s, c, keep_alive);
  if (!co_await write_buffers(s, c, asio::buffer(c.head))) co_return false;
  c.scratch.clear();
  append_dialect_prelude(c.scratch, info);
  if (!co_await send_scratch_chunk(s, c, false)) co_return false;

  const std::int64_t fault_after = ctl.fault_after.value_or(kDefaultFaultAfter);
  const std::int64_t deltas = dialect_delta_count(info);
  for (std::int64_t i = 0; i < deltas; ++i) {
    if (mid_fault && i == fault_after) co_return co_await fire();
    if (!co_await sleep_for(c, i == 0 ? b.first_token_delay : b.chunk_delay)) co_return false;
    c.scratch.clear();
    append_dialect_delta(c.scratch, info, i);
    if (!co_await send_scratch_chunk(s, c, false)) co_return false;
  }
  if (mid_fault) co_return co_await fire();

  c.scratch.clear();
  append_dialect_epilogue(c.scratch, info);
  co_return co_await send_scratch_chunk(s, c, true);
}

// What a completion-like request gets: the options (with the length spread), the behaviour
// model, then the x-mock-* headers.
template <class Stream>
Behaviour decide_behaviour(Server& s, Connection<Stream>& c, const Request& req,
                           std::string_view model, bool stream, const Controls& ctl) {
  Behaviour b;
  b.tokens = s.opts.tokens;
  b.latency = s.opts.latency;
  b.first_token_delay = s.opts.first_token_delay;
  b.chunk_delay = s.opts.chunk_delay;
  if (s.opts.tokens_spread > 0) {
    const double u =
        static_cast<double>(splitmix64(s.opts.seed ^ fnv1a(req.body)) >> 11) * 0x1.0p-53;
    b.tokens = std::max<std::int64_t>(
        0, std::llround(static_cast<double>(b.tokens) * (1 + s.opts.tokens_spread * (2 * u - 1))));
  }
  if (s.opts.behaviour) {
    RequestView view;
    view.method = req.method;
    view.target = req.target;
    view.body = req.body;
    view.model = model;
    view.stream = stream;
    view.connection_id = c.id;
    view.request_on_connection = c.served;
    view.request_ = &req;
    b = s.opts.behaviour(view, b);
  }
  if (ctl.tokens) b.tokens = *ctl.tokens;
  if (ctl.latency_ms) b.latency = Millis(*ctl.latency_ms);
  if (ctl.first_token_delay_ms) b.first_token_delay = Millis(*ctl.first_token_delay_ms);
  if (ctl.chunk_delay_ms) b.chunk_delay = Millis(*ctl.chunk_delay_ms);
  return b;
}

// POST /v1/responses and /v1/messages: a text answer, or a tool call while the conversation holds
// fewer tool results than x-mock-tool-rounds asks for. Returns whether the answer was written.
template <class Stream>
asio::awaitable<bool> serve_dialect(Server& s, Connection<Stream>& c, const Request& req,
                                    Dialect dialect, const Controls& ctl, bool keep_alive) {
  const DialectFields fields = scan_dialect_request(req.body, dialect);
  if (!fields.is_object) {
    co_return co_await send_dialect_error(
        s, c, req, dialect, 400, "We could not parse the JSON body of your request.", keep_alive);
  }
  std::vector<ToolCallSpec> tool_calls;
  if (ctl.tool_calls.data() != nullptr) {
    if (const auto error = parse_tool_calls(ctl.tool_calls, tool_calls)) {
      co_return co_await send_dialect_error(
          s, c, req, dialect, 400, "mock: malformed x-mock-tool-calls: " + *error, keep_alive);
    }
  }
  const Behaviour b = decide_behaviour(s, c, req, fields.model, fields.stream, ctl);
  if (!co_await sleep_for(c, b.latency)) co_return false;
  if (ctl.status && *ctl.status >= 400 && *ctl.status <= 599) {
    co_return co_await send_dialect_error(s, c, req, dialect, static_cast<int>(*ctl.status),
                                          "mock: x-mock-status " + std::to_string(*ctl.status),
                                          keep_alive);
  }

  DialectInfo info;
  info.dialect = dialect;
  info.id = s.next_response.fetch_add(1, std::memory_order_relaxed);
  info.created = static_cast<std::int64_t>(std::time(nullptr));
  info.model = fields.model.empty() ? std::string_view(s.model_json) : fields.model;
  info.seed = s.opts.seed;
  info.input_tokens = std::max<std::int64_t>(1, static_cast<std::int64_t>(req.body.size() / 4));
  info.output_tokens = b.tokens;
  if (fields.max_tokens && *fields.max_tokens < b.tokens) {
    info.output_tokens = *fields.max_tokens;
    info.truncated = true;
  }
  const std::optional<std::int64_t> rounds = parse_count(req.find("x-mock-tool-rounds"));
  info.tool_call = rounds && !fields.tool_name.empty() && fields.tool_results < *rounds;
  info.tool_name = fields.tool_name;
  info.instructions = fields.instructions;
  info.max_output_tokens = fields.max_tokens_raw;
  info.tools = fields.tools;
  info.previous_response_id = fields.previous_response_id;
  if (!tool_calls.empty()) {
    // The calls asked for replace any x-mock-tool-rounds call; usage keeps x-mock-tokens, uncut.
    info.tool_calls = &tool_calls;
    info.tool_call = false;
    info.output_tokens = b.tokens;
    info.truncated = false;
  }
  co_return co_await send_dialect(s, c, req, info, b, ctl, fields.stream, keep_alive);
}

// Beast's http::async_read without its composed operation: the bytes already buffered are parsed
// at once (a pipelined request, or a body that came with its header, needs no read), and the
// socket is read only when the parser needs more. End-of-stream rules are Beast's.
template <class Stream, class Done>
asio::awaitable<error_code> read_request(Connection<Stream>& c, RequestParser& parser, Done done) {
  error_code ec;
  while (!done(parser)) {
    if (c.buffer.size() > 0) {
      const std::size_t used = parser.put(c.buffer.data(), ec);
      c.buffer.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
      } else if (ec) {
        co_return ec;
      } else if (used > 0) {
        continue;
      }
    }
    const std::size_t room = std::max<std::size_t>(512, c.buffer.capacity() - c.buffer.size());
    auto [rec, n] = co_await c.stream.async_read_some(
        c.buffer.prepare(std::min<std::size_t>(room, 65536)), kTuple);
    c.buffer.commit(n);
    if (rec == asio::error::eof) {
      if (!parser.got_some()) co_return http::error::end_of_stream;
      parser.put_eof(ec);
      co_return ec ? ec : done(parser) ? error_code{} : error_code(http::error::partial_message);
    }
    if (rec) co_return rec;
  }
  co_return ec;
}

template <class Stream>
asio::awaitable<bool> serve_one(Server& s, Connection<Stream>& c) {
  RequestParser parser(c.request, s.opts.echo || s.opts.behaviour);
  parser.header_limit(static_cast<std::uint32_t>(s.opts.max_header_bytes));
  parser.body_limit(s.opts.max_body_bytes);

  c.arm(s.opts.idle_timeout);
  const error_code header_ec =
      co_await read_request(c, parser, [](const auto& p) { return p.is_header_done(); });
  c.disarm();
  if (header_ec) co_return co_await reject(s, c, header_ec);
  if (!parser.is_done()) {
    // curl and others wait (up to 1 s) for this before sending a large body.
    if (beast::iequals(parser.request().find("expect"), "100-continue")) {
      static constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
      if (!co_await write_buffers(s, c, asio::buffer(k100))) co_return false;
    }
    c.arm(s.opts.read_timeout);
    const error_code body_ec =
        co_await read_request(c, parser, [](const auto& p) { return p.is_done(); });
    c.disarm();
    if (body_ec) co_return co_await reject(s, c, body_ec);
  }

  const Request& req = parser.request();
  ++c.served;
  s.requests.fetch_add(1, std::memory_order_relaxed);
  const bool keep_alive = req.keep_alive;
  const std::string_view method = req.method;
  const std::string_view target = req.target;
  const std::string_view path = target.substr(0, target.find('?'));
  const Controls ctl = read_controls(req);
  c.echo.clear();
  if (s.opts.echo) append_headers_json(c.echo, req);

  switch (ctl.fault) {
    case Fault::reset_before_headers:
      abort_connection(c);
      co_return false;
    case Fault::close_before_headers:
      close_gracefully(c);
      co_return false;
    case Fault::hang_before_headers:
      co_await wait_until_peer_leaves(c);
      co_return false;
    case Fault::malformed: {
      static constexpr std::string_view kGarbage =
          "\x01\x02 this is not HTTP \x7f\xfe\r\nHTTP/9.9 ???\r\n\r\n{garbage";
      co_await write_buffers(s, c, asio::buffer(kGarbage));
      close_gracefully(c);
      co_return false;
    }
    case Fault::unknown:
      co_await send_error(s, c, &req, 400,
                          "mock: unknown x-mock-fault '" + std::string(ctl.fault_text) + "'",
                          keep_alive);
      co_return keep_alive && !c.closed;
    default:
      break;
  }
  const bool close_after = ctl.fault == Fault::close_after_response;
  auto finish = [&](bool written) {
    if (!written) return false;
    if (close_after || !keep_alive) {
      close_gracefully(c);
      return false;
    }
    return true;
  };

  const bool chat = method == "POST" && path == "/v1/chat/completions";
  const bool legacy = method == "POST" && path == "/v1/completions";
  if (!chat && !legacy) {
    if (method == "POST" && (path == "/v1/responses" || path == "/v1/messages")) {
      const Dialect dialect = path == "/v1/responses" ? Dialect::responses : Dialect::messages;
      co_return finish(co_await serve_dialect(s, c, req, dialect, ctl, keep_alive));
    }
    if (!co_await sleep_for(c, Millis(ctl.latency_ms.value_or(0)))) co_return false;
    if (ctl.status && *ctl.status >= 400 && *ctl.status <= 599) {
      co_return finish(co_await send_error(s, c, &req, static_cast<int>(*ctl.status),
                                           "mock: x-mock-status " + std::to_string(*ctl.status),
                                           keep_alive));
    }
    if (method == "GET" && path == "/healthz") {
      begin_head(s, c, 200, "application/json", keep_alive);
      c.body = R"({"status":"ok"})";
      co_return finish(co_await send_body(s, c));
    }
    if (method == "GET" && path == "/mock/stats") {
      co_return finish(co_await send_stats(s, c, keep_alive));
    }
    if (method == "GET" && path == "/v1/models") {
      begin_head(s, c, 200, "application/json", keep_alive);
      c.body = R"({"object":"list","data":[{"id":")";
      c.body += s.model_json;
      c.body += R"(","object":"model","created":0,"owned_by":"augur-mock"}])";
      append_mock_echo(s, c, req);
      c.body += '}';
      co_return finish(co_await send_body(s, c));
    }
    std::string message = "Invalid URL (";
    message += method;
    message += ' ';
    message += path;
    message += ')';
    co_return finish(co_await send_error(s, c, &req, 404, message, keep_alive));
  }

  const RequestFields fields = scan_request(req.body);
  if (!fields.is_object) {
    co_return finish(co_await send_error(
        s, c, &req, 400, "We could not parse the JSON body of your request.", keep_alive));
  }
  // Dynamo refuses the body while parsing it, before routing: no latency, no completion. Bodies
  // without nvext (the benchmarks' usual case) skip the walk.
  if (s.opts.nvext_check == NvextCheck::dynamo && fields.nvext.data() != nullptr) {
    if (const auto error = dynamo_nvext_error(req.body, fields)) {
      s.nvext_rejected.fetch_add(1, std::memory_order_relaxed);
      co_return finish(co_await send_nvext_error(s, c, req, *error, keep_alive));
    }
  }

  std::vector<ToolCallSpec> tool_calls;
  if (chat && ctl.tool_calls.data() != nullptr) {
    if (const auto error = parse_tool_calls(ctl.tool_calls, tool_calls)) {
      co_return finish(co_await send_error(
          s, c, &req, 400, "mock: malformed x-mock-tool-calls: " + *error, keep_alive));
    }
  }

  const Behaviour b = decide_behaviour(s, c, req, fields.model, fields.stream, ctl);

  if (!co_await sleep_for(c, b.latency)) co_return false;
  if (ctl.status && *ctl.status >= 400 && *ctl.status <= 599) {
    co_return finish(co_await send_error(s, c, &req, static_cast<int>(*ctl.status),
                                         "mock: x-mock-status " + std::to_string(*ctl.status),
                                         keep_alive));
  }

  CompletionInfo info;
  info.chat = chat;
  info.id = s.next_response.fetch_add(1, std::memory_order_relaxed);
  info.created = static_cast<std::int64_t>(std::time(nullptr));
  info.model = fields.model.empty() ? std::string_view(s.model_json) : fields.model;
  info.seed = s.opts.seed;
  info.prompt_tokens = std::max<std::int64_t>(1, static_cast<std::int64_t>(req.body.size() / 4));
  info.completion_tokens = b.tokens;
  if (fields.max_tokens && *fields.max_tokens < b.tokens) {
    info.completion_tokens = *fields.max_tokens;
    info.finish_reason = "length";
  }
  if (!tool_calls.empty()) {
    // The assistant message makes the calls asked for; usage keeps x-mock-tokens, uncut.
    info.tool_calls = &tool_calls;
    info.completion_tokens = b.tokens;
    info.finish_reason = "tool_calls";
  }
  bool include_usage = false;
  if (fields.stream) {
    include_usage = s.opts.stream_usage == StreamUsage::always ||
                    (s.opts.stream_usage == StreamUsage::requested && fields.include_usage);
    info.usage_null_in_chunks = include_usage;
  }
  co_return finish(
      co_await send_completion(s, c, req, info, b, ctl, fields.stream, include_usage, keep_alive));
}

template <class Stream>
asio::awaitable<void> run_connection(std::shared_ptr<Server> s,
                                     std::shared_ptr<Connection<Stream>> c) {
  {
    std::lock_guard lock(s->mu);
    s->live.emplace(c->id, c);
  }
  s->open.fetch_add(1, std::memory_order_relaxed);
  struct Leave {
    Server& s;
    std::uint64_t id;
    ~Leave() {
      std::lock_guard lock(s.mu);
      s.live.erase(id);
      s.open.fetch_sub(1, std::memory_order_relaxed);
    }
  } leave{*s, c->id};
  // stop() sets `stopped` before walking `live`, so a connection registered too late sees it here.
  if (s->stopped.load()) co_return;

  if constexpr (kIsTls<Stream>) {
    c->arm(s->opts.read_timeout);
    auto [ec] = co_await c->stream.async_handshake(asio::ssl::stream_base::server, kTuple);
    c->disarm();
    if (ec) co_return;
  }
  while (co_await serve_one(*s, *c)) {
  }
}

// Closes connections whose read/write deadline has passed. One timer for the whole server.
asio::awaitable<void> sweep_loop(std::shared_ptr<Server> s) {
  const Millis tick =
      std::clamp(std::min({s->opts.idle_timeout, s->opts.read_timeout, s->opts.write_timeout}) / 4,
                 Millis(10), Millis(250));
  std::vector<std::shared_ptr<ConnectionBase>> expired;
  while (!s->stopped.load()) {
    s->sweep_timer.expires_after(tick);
    co_await s->sweep_timer.async_wait(kTuple);
    const Clock::rep now = Clock::now().time_since_epoch().count();
    {
      std::lock_guard lock(s->mu);
      for (auto& [id, weak] : s->live) {
        auto c = weak.lock();
        if (!c) continue;
        const Clock::rep deadline = c->deadline.load(std::memory_order_relaxed);
        if (deadline != 0 && deadline < now) expired.push_back(std::move(c));
      }
    }
    for (auto& c : expired) c->close_from_outside();
    expired.clear();
  }
}

asio::awaitable<void> accept_loop(std::shared_ptr<Server> s) {
  for (;;) {
    const asio::any_io_executor strand = s->opts.strand_per_connection
                                             ? asio::any_io_executor(asio::make_strand(s->ioc))
                                             : asio::any_io_executor(s->ioc.get_executor());
    auto [ec, socket] = co_await s->acceptor.async_accept(strand, kTuple);
    if (s->stopped.load()) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted || !s->acceptor.is_open()) co_return;
      // Out of descriptors and the like: back off rather than spin.
      asio::steady_timer pause(s->acceptor.get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(kTuple);
      continue;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    s->accepted.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t id = s->next_connection.fetch_add(1, std::memory_order_relaxed);
    auto on_done = [s](const std::exception_ptr& e) {
      if (e) s->failures.fetch_add(1, std::memory_order_relaxed);
    };
    if (s->ssl) {
      using Tls = asio::ssl::stream<tcp::socket>;
      auto c = std::make_shared<Connection<Tls>>(id, std::move(socket), *s->ssl);
      asio::co_spawn(strand, run_connection(s, std::move(c)), on_done);
    } else {
      auto c = std::make_shared<Connection<tcp::socket>>(id, std::move(socket));
      asio::co_spawn(strand, run_connection(s, std::move(c)), on_done);
    }
  }
}

}  // namespace

struct MockUpstream::Impl : Server {
  using Server::Server;
};

std::string_view RequestView::header(std::string_view name) const {
  return request_ == nullptr ? std::string_view{}
                             : static_cast<const Request*>(request_)->find(name);
}

MockUpstream::MockUpstream(asio::io_context& ioc, MockOptions options)
    : impl_(std::make_shared<Impl>(ioc, std::move(options))) {}

MockUpstream::~MockUpstream() { stop(); }

std::uint16_t MockUpstream::bind(const std::string& host, std::uint16_t port) {
  tcp::resolver resolver(impl_->ioc);
  const auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::numeric_service);
  const tcp::endpoint endpoint = results.begin()->endpoint();
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  return acceptor.local_endpoint().port();
}

void MockUpstream::start() {
  auto s = impl_;
  auto on_done = [s](const std::exception_ptr& e) {
    if (e) s->failures.fetch_add(1, std::memory_order_relaxed);
  };
  asio::co_spawn(s->acceptor.get_executor(), accept_loop(s), on_done);
  asio::co_spawn(s->acceptor.get_executor(), sweep_loop(s), on_done);
}

void MockUpstream::stop() {
  auto s = impl_;
  if (s->stopped.exchange(true)) return;
  asio::post(s->acceptor.get_executor(), [s] {
    error_code ignored;
    s->acceptor.close(ignored);
    s->sweep_timer.cancel();
  });
  std::vector<std::shared_ptr<ConnectionBase>> open;
  {
    std::lock_guard lock(s->mu);
    for (auto& [id, weak] : s->live) {
      if (auto c = weak.lock()) open.push_back(std::move(c));
    }
  }
  for (auto& c : open) c->close_from_outside();
}

bool MockUpstream::tls() const { return impl_->ssl.has_value(); }

MockStats MockUpstream::stats() const {
  MockStats st;
  st.connections_accepted = impl_->accepted.load(std::memory_order_relaxed);
  st.connections_open = impl_->open.load(std::memory_order_relaxed);
  st.requests = impl_->requests.load(std::memory_order_relaxed);
  st.nvext_rejected = impl_->nvext_rejected.load(std::memory_order_relaxed);
  return st;
}

}  // namespace augur::mock
