// The errors augur itself produces, in the OpenAI envelope agents already parse:
// {"error": {"message", "type", "param", "code"}} before a response starts, and one SSE
// `data: {"error": ...}` event once a stream has started (DESIGN.md, Errors).
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>
#include <string_view>

namespace augur::proxy {

namespace http = boost::beast::http;

// What went wrong, which fixes the status, `type` and `code` written.
enum class ProxyError {
  bad_request,        // 400
  client_timeout,     // 408
  body_too_large,     // 413
  headers_too_large,  // 431
  upstream_refused,   // 502: refused, reset, closed early
  upstream_invalid,   // 502: not valid HTTP
  no_upstream,        // 503
  upstream_timeout,   // 504
  shutting_down,      // 503
  not_found,          // 404 (admin listener)
  unauthorized,       // 401 (admin listener)
};

http::status status_of(ProxyError e);

// The JSON envelope for `e` with a human-readable message. Never throws past allocation.
std::string error_json(ProxyError e, std::string_view message);

// A complete response carrying error_json; `keep_alive` false adds `Connection: close`.
http::response<http::string_body> error_response(ProxyError e, std::string_view message,
                                                 unsigned version, bool keep_alive);

// One SSE event `data: {"error": ...}\n\n` for a stream that already started.
std::string sse_error_event(ProxyError e, std::string_view message);

}  // namespace augur::proxy
