#include "proxy/http_util.hpp"

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
  head.erase_if([&](http::field id, std::string_view name) {
    if (is_hop_by_hop(id) || id == http::field::expect) return true;  // Expect: augur has the body
    return std::any_of(named.begin(), named.end(),
                       [&](const std::string& n) { return ascii_iequals(name, n); });
  });
  // Neither name is one Beast knows (request_head_test checks), so no name lookup is needed.
  constexpr auto unknown = http::field::unknown;
  if (!remote.empty()) {
    if (const auto prior = head.find("x-forwarded-for"); prior && !prior->empty()) {
      std::string chain(*prior);
      chain += ", ";
      chain += remote;
      head.set(unknown, "x-forwarded-for", chain);
    } else {
      head.set(unknown, "x-forwarded-for", remote);
    }
  }
  if (!head.find("x-forwarded-proto")) head.insert(unknown, "x-forwarded-proto", "http");
  const auto method = head.method();
  if (!body.empty() || method == http::verb::post || method == http::verb::put ||
      method == http::verb::patch) {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, body.size());
    head.set(http::field::content_length, std::string_view(digits, end - digits));
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
