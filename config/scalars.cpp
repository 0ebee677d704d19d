// Parsers for single config values (durations, sizes, endpoints, URLs). They know nothing of YAML,
// so they can be unit-tested and fuzzed on plain strings; config.cpp adds file, line and key.
#include "config/scalars.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <vector>

namespace augur::config {
namespace detail {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void skip_spaces(std::string_view s, std::size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

bool valid_ipv4(std::string_view s) {
  in_addr addr{};
  return inet_pton(AF_INET, std::string(s).c_str(), &addr) == 1;
}

// An IPv6 address as written between brackets; a zone ("fe80::1%eth0") is allowed because
// link-local upstreams need one.
bool valid_ipv6(std::string_view s) {
  std::string_view zone;
  if (auto pct = s.find('%'); pct != std::string_view::npos) {
    zone = s.substr(pct + 1);
    s = s.substr(0, pct);
    if (zone.empty()) return false;
    for (char c : zone)
      if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '-' && c != '.') return false;
  }
  in6_addr addr{};
  return inet_pton(AF_INET6, std::string(s).c_str(), &addr) == 1;
}

// A DNS name or dotted IPv4 address (IPv6 is handled by the callers, which see the brackets).
std::string host_error(std::string_view host) {
  if (host.empty()) return "has no host";
  if (host.size() > 253) return "host name is longer than 253 characters";
  bool numeric = true;
  char prev = '.';
  for (char c : host) {
    if (c == ':') return "IPv6 addresses must be written in brackets, e.g. [::1]:8080";
    if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.' && c != '_')
      return "host \"" + std::string(host) + "\" has an invalid character '" + std::string(1, c) +
             "'";
    if (c == '.' && prev == '.') return "host \"" + std::string(host) + "\" has an empty label";
    if (!is_digit(c) && c != '.') numeric = false;
    prev = c;
  }
  if (host.back() == '.') return "host \"" + std::string(host) + "\" ends with a dot";
  if (numeric && !valid_ipv4(host))
    return "\"" + std::string(host) + "\" is not a valid IPv4 address";
  return {};
}

Parsed<std::uint16_t> port(std::string_view s, bool allow_zero) {
  if (s.empty()) return Parsed<std::uint16_t>::bad("has an empty port");
  auto n = count(s);
  if (!n.value || *n.value > 65535)
    return Parsed<std::uint16_t>::bad("port \"" + std::string(s) +
                                      "\" is not a number from 0 to 65535");
  if (*n.value == 0 && !allow_zero) return Parsed<std::uint16_t>::bad("port must not be 0");
  return Parsed<std::uint16_t>::ok(static_cast<std::uint16_t>(*n.value));
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (lower(a[i - 1]) != lower(b[j - 1]))});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

Parsed<Duration> duration(std::string_view text) {
  using R = Parsed<Duration>;
  // Ten years: far beyond any sensible timeout, and small enough that adding it to a nanosecond
  // steady_clock time point cannot overflow.
  constexpr std::uint64_t kMaxUs = 10ULL * 365 * 24 * 3600 * 1000000;
  const std::string_view s = trim(text);
  if (s.empty()) return R::bad("is empty (e.g. 30s, 250ms, 2m)");
  if (s.front() == '-') return R::bad("must not be negative");

  std::uint64_t total_us = 0;
  std::size_t i = 0;
  int parts = 0;
  while (i < s.size()) {
    std::uint64_t whole = 0;
    std::uint64_t frac = 0;
    std::uint64_t frac_scale = 1;
    bool digits = false;
    for (; i < s.size() && is_digit(s[i]); ++i, digits = true) {
      whole = whole * 10 + static_cast<std::uint64_t>(s[i] - '0');
      if (whole > kMaxUs) return R::bad("is too large (at most ten years)");
    }
    if (i < s.size() && s[i] == '.') {
      for (++i; i < s.size() && is_digit(s[i]); ++i, digits = true) {
        // Nine places are below a nanosecond even for hours; later digits cannot matter.
        if (frac_scale < 1000000000) {
          frac = frac * 10 + static_cast<std::uint64_t>(s[i] - '0');
          frac_scale *= 10;
        }
      }
    }
    if (!digits) return R::bad("expected a number followed by a unit (us, ms, s, m, h)");
    skip_spaces(s, i);
    const std::size_t unit_start = i;
    while (i < s.size() && (is_alpha(s[i]) || static_cast<unsigned char>(s[i]) >= 0x80)) ++i;
    const std::string unit = lowered(s.substr(unit_start, i - unit_start));
    std::uint64_t unit_us = 0;
    if (unit.empty()) {
      // A bare number means milliseconds, the unit every timeout is kept in; only alone, since
      // "1m30" is more likely a typo than 1 minute and 30 milliseconds.
      if (parts > 0 || i < s.size()) return R::bad("a unit is missing (us, ms, s, m, h)");
      unit_us = 1000;
    } else if (unit == "us" || unit == "\xc2\xb5s") {
      unit_us = 1;
    } else if (unit == "ms") {
      unit_us = 1000;
    } else if (unit == "s") {
      unit_us = 1000000;
    } else if (unit == "m") {
      unit_us = 60000000;
    } else if (unit == "h") {
      unit_us = 3600000000ULL;
    } else {
      return R::bad("unknown unit \"" + unit + "\" (use us, ms, s, m or h)");
    }
    if (whole > kMaxUs / unit_us) return R::bad("is too large (at most ten years)");
    // frac < 1e9 and unit_us <= 3.6e9, so the product fits in 64 bits.
    const std::uint64_t part = whole * unit_us + (frac * unit_us + frac_scale - 1) / frac_scale;
    total_us += part;
    if (total_us > kMaxUs) return R::bad("is too large (at most ten years)");
    ++parts;
    skip_spaces(s, i);
  }
  return R::ok(Duration{static_cast<Duration::rep>((total_us + 999) / 1000)});
}

Parsed<std::size_t> size(std::string_view text) {
  using R = Parsed<std::size_t>;
  const std::string_view s = trim(text);
  if (s.empty()) return R::bad("is empty");
  if (s.front() == '-') return R::bad("must not be negative");
  std::size_t i = 0;
  while (i < s.size() && is_digit(s[i])) ++i;
  if (i == 0)
    return R::bad("expected a whole number of bytes, optionally with a unit (64KiB, 1MB)");
  auto n = count(s.substr(0, i));
  if (!n.value) return R::bad("is too large");
  skip_spaces(s, i);
  const std::string unit = lowered(s.substr(i));
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "b") {
    scale = 1;
  } else if (unit == "k" || unit == "kib") {
    scale = 1ULL << 10;
  } else if (unit == "m" || unit == "mib") {
    scale = 1ULL << 20;
  } else if (unit == "g" || unit == "gib") {
    scale = 1ULL << 30;
  } else if (unit == "kb") {
    scale = 1000;
  } else if (unit == "mb") {
    scale = 1000000;
  } else if (unit == "gb") {
    scale = 1000000000;
  } else {
    return R::bad("unknown unit \"" + std::string(s.substr(i)) +
                  "\" (use B, KiB, MiB, GiB, KB, MB or GB)");
  }
  if (*n.value > std::numeric_limits<std::size_t>::max() / scale) return R::bad("is too large");
  return R::ok(static_cast<std::size_t>(*n.value * scale));
}

Parsed<std::uint64_t> count(std::string_view s) {
  using R = Parsed<std::uint64_t>;
  if (s.empty()) return R::bad("is empty");
  if (s.front() == '-') return R::bad("must not be negative");
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) return R::bad("is too large");
  if (ec != std::errc() || end != s.data() + s.size()) return R::bad("expected a whole number");
  return R::ok(v);
}

Parsed<double> number(std::string_view s) {
  using R = Parsed<double>;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v))
    return R::bad("expected a number");
  return R::ok(v);
}

Parsed<bool> boolean(std::string_view text) {
  const std::string s = lowered(text);
  if (s == "true" || s == "yes" || s == "on" || s == "y") return Parsed<bool>::ok(true);
  if (s == "false" || s == "no" || s == "off" || s == "n") return Parsed<bool>::ok(false);
  return Parsed<bool>::bad("expected true or false");
}

Parsed<Endpoint> endpoint(std::string_view s) {
  using R = Parsed<Endpoint>;
  const std::string_view usage = " (expected host:port, [IPv6]:port or :port)";
  Endpoint ep;
  std::string_view port_text;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return R::bad("has no closing ']'" + std::string(usage));
    const std::string_view host = s.substr(1, close - 1);
    if (!valid_ipv6(host))
      return R::bad("\"" + std::string(host) + "\" is not a valid IPv6 address");
    if (close + 1 >= s.size() || s[close + 1] != ':')
      return R::bad("has no port" + std::string(usage));
    ep.host = std::string(host);
    port_text = s.substr(close + 2);
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return R::bad("has no port" + std::string(usage));
    const std::string_view host = s.substr(0, colon);
    if (host.empty()) {
      ep.host = "0.0.0.0";  // ":8080" means every IPv4 interface, as in most servers' configs
    } else {
      if (auto e = host_error(host); !e.empty()) return R::bad(e);
      ep.host = std::string(host);
    }
    port_text = s.substr(colon + 1);
  }
  // Port 0 is allowed: tests listen on port 0 and read back the port the kernel chose.
  auto p = port(port_text, /*allow_zero=*/true);
  if (!p.value) return R::bad(p.error);
  ep.port = *p.value;
  return R::ok(std::move(ep));
}

Parsed<Url> url(std::string_view s) {
  using R = Parsed<Url>;
  const std::string usage = " (expected http://host[:port][/path] or https://...)";
  for (char c : s)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return R::bad("contains a space or control character");
  const auto sep = s.find("://");
  if (sep == std::string_view::npos) return R::bad("has no scheme" + usage);
  Url u;
  const std::string scheme = lowered(s.substr(0, sep));
  if (scheme == "https") {
    u.https = true;
  } else if (scheme != "http") {
    return R::bad("scheme \"" + scheme + "\" is not supported" + usage);
  }
  std::string_view rest = s.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos)
    return R::bad("must not have a query or fragment; only a base path");
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos)
    return R::bad("must not carry credentials (user@host); use tls or a header instead");
  if (authority.empty()) return R::bad("has no host" + usage);

  std::string_view port_text;
  bool has_port = false;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return R::bad("has no closing ']' after the IPv6 address");
    const std::string_view host = authority.substr(1, close - 1);
    if (!valid_ipv6(host))
      return R::bad("\"" + std::string(host) + "\" is not a valid IPv6 address");
    u.host = std::string(host);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return R::bad("has junk after the IPv6 address" + usage);
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    const auto colon = authority.find(':');
    const std::string_view host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
      if (port_text.find(':') != std::string_view::npos)
        return R::bad("IPv6 addresses must be written in brackets, e.g. http://[::1]:8000");
    }
    if (auto e = host_error(host); !e.empty()) return R::bad(e);
    u.host = std::string(host);
  }
  if (has_port) {
    auto p = port(port_text, /*allow_zero=*/false);
    if (!p.value) return R::bad(p.error);
    u.port = *p.value;
  } else {
    u.port = u.https ? 443 : 80;
  }
  // The base path is prepended to request targets that start with '/', so its trailing slashes
  // would double up.
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  u.base_path = std::string(path);
  return R::ok(std::move(u));
}

Parsed<std::string> expand_env(std::string_view text,
                               const std::function<const char*(const std::string&)>& lookup) {
  const auto name_start = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  };
  const auto name_char = [&](char c) { return name_start(c) || (c >= '0' && c <= '9'); };
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t dollar = text.find('$', i);
    if (dollar == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, dollar - i));
    const std::string_view rest = text.substr(dollar);
    if (rest.starts_with("$${")) {  // the escape: a literal ${
      out.append("${");
      i = dollar + 3;
      continue;
    }
    if (!rest.starts_with("${")) {  // a lone $ (a password's, a regex's) is just a character
      out.push_back('$');
      i = dollar + 1;
      continue;
    }
    const std::size_t close = rest.find('}', 2);
    if (close == std::string_view::npos)
      return Parsed<std::string>::bad("unterminated ${ (no closing }; write $${ for a literal ${)");
    const std::string name(rest.substr(2, close - 2));
    if (name.empty() || !name_start(name.front()) ||
        !std::all_of(name.begin(), name.end(), name_char)) {
      return Parsed<std::string>::bad("bad environment variable name \"" + name +
                                      "\" in ${...} (letters, digits and _, not starting with a "
                                      "digit; write $${ for a literal ${)");
    }
    const char* value = lookup(name);
    if (value == nullptr)
      return Parsed<std::string>::bad("environment variable " + name + " is not set");
    out.append(value);
    i = dollar + close + 1;
  }
  return Parsed<std::string>::ok(std::move(out));
}

std::string nearest(std::string_view word, std::span<const std::string_view> candidates) {
  std::string best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (std::string_view c : candidates) {
    const std::size_t d = edit_distance(word, c);
    // About one edit in three characters still reads as the same word; more is a different one.
    const std::size_t allowed = std::max<std::size_t>(1, (std::max(word.size(), c.size()) + 2) / 3);
    if (d <= allowed && d < best_distance) {
      best = std::string(c);
      best_distance = d;
    }
  }
  return best;
}

}  // namespace detail

std::string Endpoint::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<Duration> parse_duration(const std::string& text) {
  return detail::duration(text).value;
}

std::optional<std::size_t> parse_size(const std::string& text) { return detail::size(text).value; }

std::optional<Endpoint> parse_endpoint(const std::string& text) {
  return detail::endpoint(text).value;
}

}  // namespace augur::config
