// HTTP/1.1 proxy mechanics that do not need a socket: the request sent upstream (hop-by-hop
// fields removed per RFC 9110 7.6.1, X-Forwarded-*), response body framing for the client, and the
// tail of an SSE stream (so an error event after an upstream failure starts on an event boundary).
#pragma once

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "proxy/http/request_head.hpp"

namespace augur::proxy {

namespace http = boost::beast::http;

// Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade: the fields
// RFC 9110 7.6.1 makes hop-by-hop by name (the ones Connection names come on top).
bool is_hop_by_hop(http::field f);

// Turns a client request into the one sent upstream: hop-by-hop fields (RFC 9110 7.6.1: Connection,
// the fields it names, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade),
// Expect and Host removed (the caller inserts the upstream's Host), X-Forwarded-For/-Proto
// appended, HTTP/1.1 keep-alive, Content-Length from `body`.
void prepare_upstream_request(RequestHead& head, std::string_view body, std::string_view remote);

// Frames a response body for the client as it is relayed: raw bytes for sized and
// close-delimited bodies, chunks (RFC 9112 7.1) when augur chose chunked framing.
class ResponseFramer {
 public:
  // Head, chunk-size line, data, chunk end, last chunk: at most five pieces, one write.
  struct Buffers {
    std::array<boost::asio::const_buffer, 5> pieces;
    std::size_t count = 0;
    const boost::asio::const_buffer* begin() const { return pieces.data(); }
    const boost::asio::const_buffer* end() const { return pieces.data() + count; }
  };

  explicit ResponseFramer(bool chunked) : chunked_(chunked) {}
  bool chunked() const { return chunked_; }

  // The buffers that send `head` (may be empty), then `data` (may be empty), then, when `last`,
  // the end of a chunked body. Valid until the next call; `head` and `data` must outlive the write.
  const Buffers& frame(std::string_view head, std::string_view data, bool last);

 private:
  bool chunked_;
  char size_line_[20];
  Buffers buffers_;
};

// Remembers the last two bytes of a forwarded SSE body.
class SseTail {
 public:
  void feed(const char* data, std::size_t n);
  // What must precede a new event so it is not glued to a half-sent one.
  std::string separator() const;

 private:
  char last_[2] = {'\n', '\n'};
};

}  // namespace augur::proxy
