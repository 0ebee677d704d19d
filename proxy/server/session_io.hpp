// The reads and writes a session makes on its client and upstream sockets. Beast's async_read /
// async_read_header / async_read_some over a parser, without their composed operations: bytes
// already buffered are parsed directly and the socket is read only when the parser needs more
// (Beast's versions post their completion even when the buffer held everything: a scheduler round
// trip per call). End-of-stream rules are Beast's. Writes go out at once when the kernel takes
// them, with no asynchronous operation; only what is left waits. Internal to proxy/server.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <cerrno>
#include <cstddef>
#include <optional>
#include <type_traits>

#include "proxy/net/io.hpp"
#include "proxy/net/socket_read.hpp"

namespace augur::proxy::session_io {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// The most a read adds to a connection's buffer.
inline constexpr std::size_t kReadAhead = 64 * 1024;

// A duration in seconds, as the records and metrics keep them.
inline double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

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
inline asio::mutable_buffer read_space(beast::flat_buffer& buffer) {
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

// Whether the peer of `fd` has closed (end of stream or an error) without reading it: a peek that
// finds bytes waiting (a pipelined request) or none yet says it is still there.
inline bool peer_closed(int fd) {
  char c;
  const auto r = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

// One read of a proxied connection, awaited in place. Plain sockets are read with
// proxy/net/socket_read.hpp (no failed recv for a read that waits for the peer's answer); TLS
// streams as Asio reads them.
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
// A full output buffer (need_buffer, the relay's) counts as progress, not an error.
template <class Parser, class Done>
std::optional<asio::mutable_buffer> next_read(Parser& parser, beast::flat_buffer& buffer, Done done,
                                              beast::error_code& ec) {
  while (!done(parser)) {
    if (parse_buffered(parser, buffer, ec)) {
      if (ec == http::error::need_buffer) ec = {};
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

inline constexpr auto header_done = [](const auto& parser) { return parser.is_header_done(); };
inline constexpr auto message_done = [](const auto& parser) { return parser.is_done(); };
// A relayed body: done, or some bytes are in the relay buffer to send.
inline constexpr auto body_bytes_ready = [](const auto& parser) {
  return parser.is_done() || parser.received() > 0;
};

// Parses (and reads) until done(parser). The request path's hot reads run next_read's loop inline
// instead: no coroutine frame.
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

inline bool is_timeout(const beast::error_code& ec) {
  return ec == beast::error::timeout || ec == asio::error::timed_out;
}

// The peer went away (closed, reset) rather than sending something wrong.
inline bool is_closed(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message ||
         ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe;
}

}  // namespace augur::proxy::session_io
