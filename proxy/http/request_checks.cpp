#include "proxy/http/request_checks.hpp"

#include <array>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include "common/printable.hpp"

namespace augur::proxy {

namespace http = boost::beast::http;

namespace {

constexpr bool is_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// RFC 3986 reg-name characters: unreserved, sub-delims and '%' (pct-encoded). A table: every
// request's Host is checked.
constexpr std::array<bool, 256> kRegName = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = is_alnum(static_cast<char>(c));
  for (const char c : std::string_view("-._~!$&'()*+,;=%")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();
bool reg_name_char(char c) { return kRegName[static_cast<unsigned char>(c)]; }

// The transfer codings of every Transfer-Encoding line name exactly one coding, chunked, without
// parameters (empty list elements are allowed and ignored, RFC 9110 5.6.1).
bool only_chunked(const RequestHead& head) {
  int chunked = 0;
  bool other = false;
  head.for_each([&](http::field id, std::string_view, std::string_view value) {
    if (id != http::field::transfer_encoding) return;
    while (!value.empty()) {
      const auto comma = value.find(',');
      std::string_view item = value.substr(0, comma);
      value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (item.empty()) continue;
      if (ascii_iequals(item, "chunked")) {
        ++chunked;
      } else {
        other = true;
      }
    }
  });
  return chunked == 1 && !other;
}

// The request target's form (RFC 9112 3.2): "" when it is origin-form or was rewritten from
// absolute-form to origin-form, else why it is refused.
std::string_view check_target(RequestHead& head) {
  const std::string_view target = head.target();
  // The parser let only visible bytes through (no controls, no space): all ASCII, or not.
  if (!printable_ascii(target)) return "the request target is not ASCII";
  if (head.method() == http::verb::connect) return "augur is not a forward proxy: no CONNECT";
  if (!target.empty() && target.front() == '/') return "";
  // absolute-form: scheme "://" authority [path-abempty] ["?" query]
  const auto scheme_end = target.find("://");
  const std::string_view scheme = target.substr(0, scheme_end);
  if (scheme_end != std::string_view::npos &&
      (ascii_iequals(scheme, "http") || ascii_iequals(scheme, "https"))) {
    const std::string_view rest = target.substr(scheme_end + 3);
    const auto path = rest.find_first_of("/?");
    if (path == 0 || rest.empty()) return "the request target has no host";
    if (path == std::string_view::npos) {
      head.target("/");
    } else if (rest[path] == '?') {
      head.target("/" + std::string(rest.substr(path)));
    } else {
      head.target(std::string(rest.substr(path)));
    }
    return "";
  }
  if (target == "*") return "asterisk-form is for OPTIONS requests to a server, not a proxy";
  return "the request target must be a path (/...) or an absolute http(s) URL";
}

}  // namespace

bool valid_host(std::string_view v) {
  if (v.empty()) return false;
  std::size_t end = v.size();
  if (v.front() == '[') {  // IP-literal
    const auto close = v.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (const char c : v.substr(1, close - 1)) {
      if (!is_alnum(c) && c != ':' && c != '.') return false;
    }
    end = close + 1;
    if (end < v.size() && v[end] != ':') return false;
  } else {
    end = v.find(':');
    if (end == std::string_view::npos) end = v.size();
    for (const char c : v.substr(0, end)) {
      if (!reg_name_char(c)) return false;
    }
  }
  if (end == v.size()) return true;
  const std::string_view port = v.substr(end + 1);  // may be empty (RFC 3986: port = *DIGIT)
  for (const char c : port) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string_view check_request(RequestHead& head, bool chunked) {
  const unsigned version = head.version();
  std::size_t te = 0, hosts = 0;
  std::string_view host;
  head.for_each([&](http::field id, std::string_view, std::string_view value) {
    if (id == http::field::host) {
      ++hosts;
      host = value;
    } else if (id == http::field::transfer_encoding) {
      ++te;
    }
  });
  if (te != 0) {
    // RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 is faulty framing.
    if (version < 11) return "Transfer-Encoding is not allowed in an HTTP/1.0 request";
    if (!chunked || !only_chunked(head)) return "unsupported transfer-encoding: only chunked";
  }
  // RFC 9112 3.2: exactly one Host in HTTP/1.1 (at most one in 1.0), with a valid value.
  if (hosts > 1) return "more than one Host header field";
  if (hosts == 0 && version >= 11) return "an HTTP/1.1 request needs a Host header field";
  if (hosts == 1 && !valid_host(host)) return "invalid Host header field";
  return check_target(head);
}

}  // namespace augur::proxy
