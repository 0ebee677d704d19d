#include "proxy/http/http_errors.hpp"

#include <boost/beast/http/field.hpp>

#include "common/json_string.hpp"

namespace augur::proxy {

namespace {

struct ErrorKind {
  http::status status;
  std::string_view type;
  std::string_view code;
};

ErrorKind kind_of(ProxyError e) {
  switch (e) {
    case ProxyError::bad_request:
      return {http::status::bad_request, "invalid_request_error", "bad_request"};
    case ProxyError::client_timeout:
      return {http::status::request_timeout, "invalid_request_error", "request_timeout"};
    case ProxyError::body_too_large:
      return {http::status::payload_too_large, "invalid_request_error", "request_too_large"};
    case ProxyError::headers_too_large:
      return {http::status::request_header_fields_too_large, "invalid_request_error",
              "headers_too_large"};
    case ProxyError::upstream_refused:
      return {http::status::bad_gateway, "upstream_error", "upstream_unavailable"};
    case ProxyError::upstream_invalid:
      return {http::status::bad_gateway, "upstream_error", "upstream_invalid_response"};
    case ProxyError::no_upstream:
      return {http::status::service_unavailable, "upstream_error", "no_upstream"};
    case ProxyError::upstream_timeout:
      return {http::status::gateway_timeout, "timeout", "upstream_timeout"};
    case ProxyError::shutting_down:
      return {http::status::service_unavailable, "server_error", "shutting_down"};
    case ProxyError::not_found:
      return {http::status::not_found, "invalid_request_error", "not_found"};
    case ProxyError::unauthorized:
      return {http::status::unauthorized, "invalid_request_error", "unauthorized"};
  }
  return {http::status::internal_server_error, "server_error", "internal_error"};
}

void append_error_object(std::string& out, ProxyError e, std::string_view message) {
  const ErrorKind k = kind_of(e);
  out += R"({"error":{"message":)";
  append_json_string(out, message);
  out += R"(,"type":")";
  out += k.type;
  out += R"(","param":null,"code":")";
  out += k.code;
  out += R"("}})";
}

}  // namespace

http::status status_of(ProxyError e) { return kind_of(e).status; }

std::string error_json(ProxyError e, std::string_view message) {
  std::string out;
  out.reserve(128 + message.size());
  append_error_object(out, e, message);
  return out;
}

http::response<http::string_body> error_response(ProxyError e, std::string_view message,
                                                 unsigned version, bool keep_alive) {
  http::response<http::string_body> res{status_of(e), version};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::server, "augur");
  res.body() = error_json(e, message);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

std::string sse_error_event(ProxyError e, std::string_view message) {
  std::string out = "data: ";
  append_error_object(out, e, message);
  out += "\n\n";
  return out;
}

}  // namespace augur::proxy
