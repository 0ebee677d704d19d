#include "proxy/http_util.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <vector>

namespace augur::proxy {

void strip_hop_by_hop(http::fields& fields) {
  const auto connection = fields[http::field::connection];
  if (!connection.empty()) {
    std::vector<std::string> named;
    for (const auto token : http::token_list{connection}) named.emplace_back(token);
    for (const auto& name : named) fields.erase(name);
  }
  fields.erase(http::field::connection);
  fields.erase(http::field::keep_alive);
  fields.erase(http::field::proxy_connection);
  fields.erase(http::field::te);
  fields.erase(http::field::trailer);
  fields.erase(http::field::transfer_encoding);
  fields.erase(http::field::upgrade);
}

void prepare_upstream_request(http::request<http::string_body>& req, std::string_view remote) {
  strip_hop_by_hop(req);
  req.erase(http::field::expect);  // augur already holds the whole body
  if (!remote.empty()) {
    const auto prior = req["x-forwarded-for"];
    if (prior.empty()) {
      req.set("x-forwarded-for", remote);
    } else {
      std::string chain(prior);
      chain += ", ";
      chain += remote;
      req.set("x-forwarded-for", chain);
    }
  }
  if (req.find("x-forwarded-proto") == req.end()) req.set("x-forwarded-proto", "http");
  req.version(11);
  if (!req.body().empty() || req.method() == http::verb::post ||
      req.method() == http::verb::put || req.method() == http::verb::patch) {
    req.content_length(req.body().size());
  }
}

bool shape_response(http::response<http::buffer_body>& res, bool has_content_length, bool head,
                    unsigned client_version, bool client_keep_alive) {
  const unsigned status = res.result_int();
  const bool bodiless = head || status < 200 || status == 204 || status == 304;
  strip_hop_by_hop(res);
  if (!bodiless && !has_content_length) {
    if (client_version >= 11) {
      res.chunked(true);
    } else {
      client_keep_alive = false;  // HTTP/1.0: the end of the body is the end of the connection
    }
  }
  if (is_event_stream(res)) res.set("x-accel-buffering", "no");
  res.version(11);
  res.keep_alive(client_keep_alive);
  if (client_keep_alive && client_version == 10) res.set(http::field::connection, "keep-alive");
  return client_keep_alive;
}

bool is_event_stream(const http::fields& fields) {
  const auto type = fields[http::field::content_type];
  return type.size() >= 17 && boost::beast::iequals(type.substr(0, 17), "text/event-stream");
}

void SseTail::feed(const char* data, std::size_t n) {
  if (n >= 2) {
    last_[0] = data[n - 2];
    last_[1] = data[n - 1];
  } else if (n == 1) {
    last_[0] = last_[1];
    last_[1] = data[0];
  }
}

std::string SseTail::separator() const {
  if (last_[1] != '\n') return "\n\n";
  if (last_[0] != '\n') return "\n";
  return {};
}

}  // namespace augur::proxy
