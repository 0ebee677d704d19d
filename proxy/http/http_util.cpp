#include "proxy/http/http_util.hpp"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <charconv>
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

void prepare_upstream_request(RequestHead& head, std::string_view body, std::string_view remote) {
  // Fields the Connection header names are hop-by-hop too (rare: only looked at when present).
  std::vector<std::string> named;
  if (const auto connection = head.find(http::field::connection)) {
    for (const auto token : http::token_list{*connection}) named.emplace_back(token);
  }
  const auto method = head.method();
  const bool sized = !body.empty() || method == http::verb::post || method == http::verb::put ||
                     method == http::verb::patch;
  // Neither X-Forwarded-* name is one Beast knows (request_head_test checks): both are
  // field::unknown, and compared by name.
  constexpr auto unknown = http::field::unknown;
  // One pass over the fields: hop-by-hop ones out, a Content-Length augur rewrites out, the
  // client's X-Forwarded-For out (its first value noted, to extend), X-Forwarded-Proto noted.
  bool forwarded_for_seen = false, proto_seen = false;
  std::string chain;  // the client's X-Forwarded-For and ", ", when it sent a non-empty one
  head.erase_if([&](http::field id, std::string_view name, std::string_view value) {
    // Expect: augur has the body. Host: the caller sets the upstream's.
    if (is_hop_by_hop(id) || id == http::field::expect || id == http::field::host) return true;
    if (!named.empty() && std::any_of(named.begin(), named.end(), [&](const std::string& n) {
          return ascii_iequals(name, n);
        })) {
      return true;
    }
    if (id == http::field::content_length) return sized;
    if (id != unknown) return false;
    if (!remote.empty() && token_equals_lower(name, "x-forwarded-for")) {
      if (!forwarded_for_seen && !value.empty()) (chain = value) += ", ";
      forwarded_for_seen = true;
      return true;
    }
    if (token_equals_lower(name, "x-forwarded-proto")) proto_seen = true;
    return false;
  });
  if (!remote.empty()) {
    if (chain.empty()) {
      head.insert(unknown, "x-forwarded-for", remote);
    } else {
      chain += remote;
      head.insert(unknown, "x-forwarded-for", chain);
    }
  }
  if (!proto_seen) head.insert(unknown, "x-forwarded-proto", "http");
  if (sized) {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, body.size());
    head.insert(http::field::content_length, std::string_view(digits, end - digits));
  }
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
