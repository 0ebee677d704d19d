// HTTP/1.1 proxy mechanics that do not need a socket: hop-by-hop header handling (RFC 9110 7.6.1),
// X-Forwarded-*, response framing for the client, and the tail of an SSE stream (so an error event
// injected after an upstream failure starts on an event boundary).
#pragma once

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <string>
#include <string_view>

namespace augur::proxy {

namespace http = boost::beast::http;

// Removes Connection, the fields it names, Keep-Alive, Proxy-Connection, TE, Trailer,
// Transfer-Encoding and Upgrade.
void strip_hop_by_hop(http::fields& fields);

// Turns a client request into the one sent upstream: hop-by-hop and Expect removed,
// X-Forwarded-For/-Proto appended, HTTP/1.1 keep-alive, Content-Length from the body.
void prepare_upstream_request(http::request<http::string_body>& req, std::string_view remote);

// Prepares an upstream response's header for the client: hop-by-hop removed, framing chosen
// (upstream Content-Length kept; otherwise chunked for HTTP/1.1 clients or close-delimited for
// HTTP/1.0), `X-Accel-Buffering: no` on event streams. Returns whether the client connection
// can stay open afterwards.
bool shape_response(http::response<http::buffer_body>& res, bool has_content_length, bool head,
                    unsigned client_version, bool client_keep_alive);

bool is_event_stream(const http::fields& fields);

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
