// One exchange with one upstream connection: send the request, read the response head (skipping
// interim 1xx), then relay the body to the client as it arrives, metering output tokens on the
// way. Each phase is bounded by its upstream timeout, and `timeouts.total` caps the whole.
#include <array>

#include "proxy/server/client_session.hpp"
#include "proxy/server/session_io.hpp"

namespace augur::proxy {

using namespace session_io;

namespace {

// Arms an exchange's deadline for one phase, never past the exchange's total deadline.
class PhaseTimer {
 public:
  PhaseTimer(Deadline& deadline, config::Duration total)
      : deadline_(deadline),
        end_(total.count() > 0 ? coarse_now() + total : Clock::time_point::max()) {}

  void arm(config::Duration phase) const {
    if (end_ == Clock::time_point::max()) return deadline_.arm(phase);  // no clock read here
    const auto left = end_ - coarse_now();
    deadline_.arm(left > phase ? Clock::duration(phase) : std::max(left, Clock::duration::zero()));
  }

 private:
  Deadline& deadline_;
  Clock::time_point end_;
};

// Why sending the request failed. A reused connection that failed other than by timing out was
// closed by the upstream while idle: nothing was processed, so the caller retries.
AttemptResult send_failure(const beast::error_code& ec, const Deadline& deadline, bool reused) {
  if (deadline.timed_out(ec)) {
    return {Attempt::failed, ProxyError::upstream_timeout,
            "upstream did not accept the request in time"};
  }
  if (reused) return {Attempt::stale};
  return {Attempt::failed, ProxyError::upstream_refused,
          "upstream reset the connection: " + ec.message()};
}

// Why reading the response head failed.
AttemptResult response_head_failure(const beast::error_code& ec, const Deadline& deadline,
                                    bool reused, bool got_some) {
  if (deadline.timed_out(ec)) {
    return {Attempt::failed, ProxyError::upstream_timeout, "upstream did not respond in time"};
  }
  const bool closed = ec == http::error::end_of_stream || ec == asio::error::eof ||
                      ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
  if (closed && reused && !got_some) return {Attempt::stale};
  if (closed) {
    return {Attempt::failed, ProxyError::upstream_refused,
            "upstream closed the connection before responding"};
  }
  return {Attempt::failed, ProxyError::upstream_invalid,
          "upstream sent an invalid response: " + ec.message()};
}

// The response head arrived: its time and status go in the record.
void record_head(RequestContext& rc, unsigned status) {
  const auto ttfb = Clock::now() - rc.started;
  rc.record.ttfb_s = seconds(ttfb);
  rc.record.call.ttfb_ms = seconds(ttfb) * 1e3;
  rc.record.call.status = static_cast<int>(status);
}

}  // namespace

void ClientSession::begin_exchange(Socket& upstream) {
  watch_->upstream = &upstream;
  watch_->gone = false;
  awaiting_since = coarse_now();  // compared at the worker's tick only
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
                       if (!ec && !peer_closed(fd)) return;  // a pipelined request waits
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

Task<bool> ClientSession::write_to_client(const ResponseFramer::Buffers& buffers) {
  beast::error_code ec;
  const std::size_t n = write_now(socket_, buffers, ec);
  if (!ec && n < asio::buffer_size(buffers)) {
    deadline_.arm(cfg().limits.write_timeout);
    ec = co_await write_rest(socket_, buffers, n);
  }
  co_return !ec && !watch_->gone;
}

// An upstream that failed mid-response: what is left is to end the body so the client can tell.
// A stream whose head went out gets an error event and a clean end (the client connection stays
// usable); a body cut short closes the connection; nothing sent yet is an ordinary failure.
Task<AttemptResult> ClientSession::end_truncated(const TruncatedRelay& cut) {
  worker_.counters().upstream_errors.fetch_add(1, std::memory_order_relaxed);
  AttemptResult result{Attempt::done};
  result.truncated = true;
  result.client_keep_alive = cut.client_keep_alive;
  if (cut.event_stream && cut.framer->chunked() && !cut.head_pending) {
    std::string event = cut.tail->separator();
    event += sse_error_event(
        cut.stalled ? ProxyError::upstream_timeout : ProxyError::upstream_refused,
        cut.stalled ? "upstream stream stalled" : "upstream connection lost mid-stream");
    if (!co_await write_to_client(cut.framer->frame({}, event, true))) {
      co_return AttemptResult{Attempt::client_gone};
    }
    co_return result;
  }
  if (cut.head_pending) {
    co_return AttemptResult{Attempt::failed, ProxyError::upstream_refused,
                            "upstream connection lost before the response body"};
  }
  result.client_keep_alive = false;  // a truncated body: only closing tells the client
  co_return result;
}

// The request goes out, the response head comes back, the body is relayed. One coroutine frame
// for all three: the body loop stays inline (a nested coroutine per response or per read costs
// more than its readability gains on the path every response takes), hence its length.
template <class Stream>
// NOLINTNEXTLINE(readability-function-size)
Task<AttemptResult> ClientSession::exchange(Stream& up, UpstreamConn& conn, RequestContext& rc,
                                            const config::UpstreamTimeouts& timeouts) {
  const PhaseTimer timer(conn.deadline, timeouts.total);
  const bool reused = conn.reused();
  head_.serialize(head_buf_);
  rc.record.overhead_s = seconds(Clock::now() - rc.started - rc.connect_time);
  const std::array<asio::const_buffer, 2> request{asio::buffer(head_buf_), asio::buffer(body_)};
  beast::error_code ec;
  if (const std::size_t n = write_now(up, request, ec); !ec && n < asio::buffer_size(request)) {
    timer.arm(timeouts.write);
    ec = co_await write_rest(up, request, n);
  }
  if (ec) co_return send_failure(ec, conn.deadline, reused);

  std::optional<RelayResponseParser> parser;
  begin_exchange(conn.socket());
  const ScopeExit exchange_guard{[this] { end_exchange(); }};
  timer.arm(timeouts.response_headers);
  // The first read waits for the response to the request just sent; later ones look first.
  ReadStart start = ReadStart::answer;
  for (;;) {
    parser.emplace(relay_scratch_);
    if (head_.method() == http::verb::head) parser->skip(true);
    while (const auto space = next_read(*parser, conn.buffer, header_done, ec)) {
      auto [r, n] = co_await read_some(reader_, up, *space, std::exchange(start, ReadStart::check));
      if ((ec = after_read(*parser, conn.buffer, r, n))) break;
    }
    // An interim 1xx (other than 101) precedes the real response: skip it.
    if (ec || parser->status() >= 200 || parser->status() == 101) break;
  }
  auto& p = *parser;
  if (!ec) record_head(rc, p.status());
  if (watch_->gone) co_return AttemptResult{Attempt::client_gone};
  if (ec) co_return response_head_failure(ec, conn.deadline, reused, p.got_some());

  const bool event_stream = p.event_stream();
  const bool upstream_keep_alive = p.keep_alive();
  rc.meter.reset(event_stream, rc.info.dialect);
  bool chunked_out = false;
  const bool client_keep_alive = p.write_head(head_buf_, head_.method() == http::verb::head,
                                              head_.version(), rc.client_keep_alive, chunked_out);
  // The response head in one contiguous buffer (Beast's serializer hands the kernel one iovec
  // per field); the body goes out as read, framed here.
  ResponseFramer framer(chunked_out);
  auto buffer = worker_.take_buffer();
  const ScopeExit buffer_guard{[&] { worker_.give_buffer(std::move(buffer)); }};
  char* const buf = buffer.get();
  SseTail tail;
  bool head_pending = true;
  // Output tokens and the first token's time, read from the body as it passes.
  const auto meter = [&](std::size_t n) {
    if (rc.meter.feed({buf, n})) {
      rc.record.call.first_token_ms = seconds(Clock::now() - rc.started) * 1e3;
    }
    if (event_stream) tail.feed(buf, n);
  };

  // Streams: the head goes out at once, before the first event. Sized bodies wait for their
  // first bytes so head and body leave in one write.
  if (!p.is_done() && conn.buffer.size() == 0 && (event_stream || !p.content_length())) {
    if (!co_await write_to_client(framer.frame(head_buf_, {}, false))) {
      co_return AttemptResult{Attempt::client_gone};
    }
    head_pending = false;
  }

  for (;;) {
    std::size_t got = 0;
    if (!p.is_done()) {
      p.set_output(buf, Worker::relay_buffer_size);
      timer.arm(timeouts.stream_idle);
      // Until some body bytes are out (a full relay buffer stops the parser with need_buffer).
      while (const auto space = next_read(p, conn.buffer, body_bytes_ready, ec)) {
        auto [r, n] = co_await read_some(reader_, up, *space, ReadStart::check);
        if ((ec = after_read(p, conn.buffer, r, n))) break;
      }
      got = p.received();
      if (ec || watch_->gone) {
        if (watch_->gone) co_return AttemptResult{Attempt::client_gone};
        if (got > 0) {
          meter(got);
          if (!co_await write_to_client(
                  framer.frame(head_pending ? head_buf_ : std::string_view{}, {buf, got}, false))) {
            co_return AttemptResult{Attempt::client_gone};
          }
          head_pending = false;
        }
        const TruncatedRelay cut{event_stream,      head_pending,
                                 client_keep_alive, conn.deadline.timed_out(ec),
                                 &framer,           &tail};
        co_return co_await end_truncated(cut);
      }
      if (event_stream) meter(got);  // before the write: the first token is timed as it arrives
      if (got == 0 && !p.is_done()) continue;  // a read can end on a chunk header with no data
    }
    const bool last = p.is_done();
    if (last) rc.response_end = Clock::now();
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
  AttemptResult result{Attempt::done};
  result.client_keep_alive = client_keep_alive;
  result.upstream_reusable = upstream_keep_alive;
  co_return result;
}

template Task<AttemptResult> ClientSession::exchange(UpstreamConn::Plain&, UpstreamConn&,
                                                     RequestContext&,
                                                     const config::UpstreamTimeouts&);
template Task<AttemptResult> ClientSession::exchange(UpstreamConn::Tls&, UpstreamConn&,
                                                     RequestContext&,
                                                     const config::UpstreamTimeouts&);

}  // namespace augur::proxy
