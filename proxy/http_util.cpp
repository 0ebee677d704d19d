#include "proxy/http_util.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <cstdio>
#include <vector>

namespace augur::proxy {

bool is_hop_by_hop(http::field f) {
  switch (f) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
      return true;
    default:
      return false;
  }
}

void strip_hop_by_hop(http::fields& fields) {
  // Fields the Connection header names are hop-by-hop too (rare: only looked at when present).
  std::vector<std::string> named;
  const auto connection = fields[http::field::connection];
  if (!connection.empty()) {
    for (const auto token : http::token_list{connection}) named.emplace_back(token);
  }
  for (auto it = fields.begin(); it != fields.end();) {
    bool drop = is_hop_by_hop(it->name());
    for (const auto& n : named) drop = drop || boost::beast::iequals(it->name_string(), n);
    it = drop ? fields.erase(it) : std::next(it);
  }
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
  if (!req.body().empty() || req.method() == http::verb::post || req.method() == http::verb::put ||
      req.method() == http::verb::patch) {
    req.content_length(req.body().size());
  }
}

namespace {
void append_fields(const http::fields& fields, std::string& out) {
  for (const auto& f : fields) {
    const auto name = f.name_string();
    const auto value = f.value();
    out.append(name.data(), name.size());
    out += ": ";
    out.append(value.data(), value.size());
    out += "\r\n";
  }
  out += "\r\n";
}
}  // namespace

void serialize_request_head(const http::request<http::string_body>& req, std::string& out) {
  out.clear();
  const auto method = req.method_string();
  const auto target = req.target();
  out.append(method.data(), method.size());
  out += ' ';
  out.append(target.data(), target.size());
  out += " HTTP/1.1\r\n";
  append_fields(req, out);
}

const ResponseFramer::Buffers& ResponseFramer::frame(std::string_view head, std::string_view data,
                                                     bool last) {
  static constexpr std::string_view crlf = "\r\n";
  static constexpr std::string_view last_chunk = "0\r\n\r\n";
  auto& b = buffers_;
  b.count = 0;
  if (!head.empty()) b.pieces[b.count++] = boost::asio::buffer(head);
  if (!data.empty()) {
    if (chunked_) {
      const int n = std::snprintf(size_line_, sizeof size_line_, "%zx\r\n", data.size());
      b.pieces[b.count++] = boost::asio::buffer(size_line_, static_cast<std::size_t>(n));
    }
    b.pieces[b.count++] = boost::asio::buffer(data);
    if (chunked_) b.pieces[b.count++] = boost::asio::buffer(crlf);
  }
  if (last && chunked_) b.pieces[b.count++] = boost::asio::buffer(last_chunk);
  return b;
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
