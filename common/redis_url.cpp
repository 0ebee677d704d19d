#include "common/redis_url.hpp"

#include <charconv>
#include <limits>

namespace augur {

namespace {

constexpr std::string_view kRedisScheme = "redis://";
constexpr std::string_view kUnixScheme = "unix://";

Error bad(std::string_view url, std::string_view why) {
  return Error{"bad redis URL \"" + std::string(url) + "\": " + std::string(why)};
}

// A decimal number within [lo, hi] with no sign, spaces or leading '+'.
bool parse_decimal(std::string_view s, long long lo, long long hi, long long& out) {
  if (s.empty() || s.size() > 12) return false;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
  }
  long long v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  if (v < lo || v > hi) return false;
  out = v;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view s, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

// "user:password" or ":password" (percent-encoded) into the endpoint.
std::optional<std::string> parse_userinfo(std::string_view info, RedisEndpoint& ep) {
  const std::size_t colon = info.find(':');
  if (colon == std::string_view::npos)
    return "credentials must be \":PASSWORD@\" or \"USER:PASSWORD@\"";
  if (!percent_decode(info.substr(0, colon), ep.username) ||
      !percent_decode(info.substr(colon + 1), ep.password))
    return "bad percent-encoding in the credentials";
  if (ep.password.empty()) return "empty password after ':'";
  return std::nullopt;
}

bool valid_hostname(std::string_view host) {
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string> parse_db(std::string_view text, RedisEndpoint& ep) {
  long long db = 0;
  if (!parse_decimal(text, 0, std::numeric_limits<int>::max(), db))
    return "database must be a number 0.." + std::to_string(std::numeric_limits<int>::max()) +
           ", got \"" + std::string(text) + "\"";
  ep.db = static_cast<int>(db);
  return std::nullopt;
}

// `rest` is what follows "redis://".
std::optional<std::string> parse_tcp(std::string_view rest, RedisEndpoint& ep) {
  const std::size_t authority_end = std::min(rest.find('/'), rest.size());
  std::string_view authority = rest.substr(0, authority_end);
  const std::string_view path = rest.substr(authority_end);
  if (authority.find('?') != std::string_view::npos || path.find('?') != std::string_view::npos)
    return std::string("query parameters are not supported");

  const std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    if (auto err = parse_userinfo(authority.substr(0, at), ep)) return err;
    authority.remove_prefix(at + 1);
  }

  std::string_view port_text;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::string("unclosed '[' in the IPv6 host");
    ep.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return std::string("unexpected text after the IPv6 host");
      port_text = after.substr(1);
      if (port_text.empty()) return std::string("empty port after ':'");
    }
    for (const char c : ep.host) {
      if (hex_value(c) < 0 && c != ':' && c != '.') return "bad IPv6 address \"" + ep.host + "\"";
    }
  } else {
    const std::size_t colon = authority.find(':');
    ep.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return std::string("empty port after ':'");
    }
    if (!valid_hostname(ep.host)) return "bad host \"" + ep.host + "\"";
  }
  if (ep.host.empty()) return std::string("missing host");
  if (!port_text.empty()) {
    long long port = 0;
    if (!parse_decimal(port_text, 1, 65535, port))
      return "port must be 1..65535, got \"" + std::string(port_text) + "\"";
    ep.port = static_cast<std::uint16_t>(port);
  }
  if (path.size() > 1) return parse_db(path.substr(1), ep);
  return std::nullopt;
}

// `rest` is what follows "unix://".
std::optional<std::string> parse_unix(std::string_view rest, RedisEndpoint& ep) {
  if (!rest.starts_with('/')) {
    const std::size_t at = rest.find("@/");
    if (at == std::string_view::npos)
      return std::string("expected unix:///absolute/path (three slashes)");
    if (auto err = parse_userinfo(rest.substr(0, at), ep)) return err;
    rest.remove_prefix(at + 1);
  }
  const std::size_t query = rest.find('?');
  ep.unix_path = std::string(rest.substr(0, query));
  if (ep.unix_path.size() < 2 || ep.unix_path.ends_with('/'))
    return std::string("missing socket path");
  if (query != std::string_view::npos) {
    const std::string_view q = rest.substr(query + 1);
    if (!q.starts_with("db=")) return std::string("the only query parameter is db=N");
    return parse_db(q.substr(3), ep);
  }
  return std::nullopt;
}

}  // namespace

std::string RedisEndpoint::describe() const {
  std::string out;
  if (!unix_path.empty()) {
    out = "unix:" + unix_path;
  } else if (host.find(':') != std::string::npos) {
    out = "[" + host + "]:" + std::to_string(port);
  } else {
    out = host + ":" + std::to_string(port);
  }
  if (db != 0) out += "/" + std::to_string(db);
  return out;
}

Result<RedisEndpoint> parse_redis_url(std::string_view url) {
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      return bad(url, "spaces and control characters are not allowed");
  }
  if (url.find('#') != std::string_view::npos) return bad(url, "fragments ('#') are not allowed");
  RedisEndpoint ep;
  std::optional<std::string> err;
  if (url.starts_with(kRedisScheme)) {
    err = parse_tcp(url.substr(kRedisScheme.size()), ep);
  } else if (url.starts_with(kUnixScheme)) {
    err = parse_unix(url.substr(kUnixScheme.size()), ep);
  } else if (url.starts_with("rediss://")) {
    err = "rediss:// (TLS) is not supported: augur's Redis client (hiredis 0.14) has no TLS";
  } else {
    err = "expected redis://[:PASSWORD@]HOST[:PORT][/DB] or unix:///PATH";
  }
  if (err) return bad(url, *err);
  return ep;
}

}  // namespace augur
