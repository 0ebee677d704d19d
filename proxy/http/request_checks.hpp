// The RFC 9112 rules a request head must meet before augur forwards it, beyond what the parser
// checks on its own: one valid Host, plain chunked as the only transfer coding, a target in a form
// a reverse proxy serves. Pure functions over a parsed RequestHead; unit-tested without sockets.
#pragma once

#include <string_view>

#include "proxy/http/request_head.hpp"

namespace augur::proxy {

// Why `head` must be refused with 400 (a message for the client), or "" when it may be forwarded.
// `chunked` is the parser's verdict that chunked is the final transfer coding. Also rewrites an
// absolute-form target ("http://host/path?q") to origin-form ("/path?q"), the form augur sends
// upstream (RFC 9112 3.2.2: a server must accept it). Not thread-safe (edits `head`).
std::string_view check_request(RequestHead& head, bool chunked);

// Whether `value` is a valid Host field value: uri-host [":" port] (RFC 9110 7.2, RFC 3986).
bool valid_host(std::string_view value);

}  // namespace augur::proxy
