// Value parsers on plain strings: durations, sizes, endpoints (IPv6 included) and upstream URLs as
// a user writes them in a config.
#include "config/scalars.hpp"

#include <doctest/doctest.h>

#include "config/config.hpp"

using namespace augur::config;
using std::chrono::milliseconds;

TEST_CASE("durations: units, bare milliseconds, fractions and sums") {
  CHECK(parse_duration("30s") == milliseconds(30000));
  CHECK(parse_duration("250ms") == milliseconds(250));
  CHECK(parse_duration("2m") == milliseconds(120000));
  CHECK(parse_duration("1h") == milliseconds(3600000));
  CHECK(parse_duration("1500us") == milliseconds(2));  // rounded up, never down to 0
  CHECK(parse_duration("1us") == milliseconds(1));
  CHECK(parse_duration("250") == milliseconds(250));
  CHECK(parse_duration("0") == milliseconds(0));
  CHECK(parse_duration("0s") == milliseconds(0));
  CHECK(parse_duration("1.5s") == milliseconds(1500));
  CHECK(parse_duration("0.1s") == milliseconds(100));
  CHECK(parse_duration("1m30s") == milliseconds(90000));
  CHECK(parse_duration("1h 2m") == milliseconds(3720000));
  CHECK(parse_duration(" 30 s ") == milliseconds(30000));
  CHECK(parse_duration("87600h") == milliseconds(87600LL * 3600000));
}

TEST_CASE("durations: bad text is rejected") {
  for (const char* bad : {"", "-1s", "-5", "s", "30x", "30 seconds", "1m30", "1..5s", "abc",
                          "87601h", "99999999999999999999999s", "1e3s"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad).has_value());
  }
  CHECK(detail::duration("-1s").error == "must not be negative");
}

TEST_CASE("sizes: plain bytes, binary and decimal units") {
  CHECK(parse_size("65536") == 65536u);
  CHECK(parse_size("64KiB") == 64u * 1024);
  CHECK(parse_size("64K") == 64u * 1024);
  CHECK(parse_size("32MiB") == 32u * 1024 * 1024);
  CHECK(parse_size("32mib") == 32u * 1024 * 1024);
  CHECK(parse_size("1MB") == 1000000u);
  CHECK(parse_size("2 GB") == 2000000000u);
  CHECK(parse_size("1GiB") == 1024u * 1024 * 1024);
  CHECK(parse_size("512B") == 512u);
  CHECK(parse_size("0") == 0u);
  for (const char* bad :
       {"", "-1", "KiB", "1.5MiB", "64 KiBs", "1TB", "99999999999999999999", "20000000000GiB"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_size(bad).has_value());
  }
}

TEST_CASE("endpoints: names, IPv4, bracketed IPv6, any-address shorthand") {
  auto ep = parse_endpoint("127.0.0.1:8080");
  REQUIRE(ep);
  CHECK(ep->host == "127.0.0.1");
  CHECK(ep->port == 8080);
  CHECK(ep->to_string() == "127.0.0.1:8080");

  ep = parse_endpoint("localhost:9464");
  REQUIRE(ep);
  CHECK(ep->host == "localhost");

  ep = parse_endpoint("[::1]:8080");
  REQUIRE(ep);
  CHECK(ep->host == "::1");  // ready for a resolver
  CHECK(ep->port == 8080);
  CHECK(ep->to_string() == "[::1]:8080");

  ep = parse_endpoint("[fe80::1%eth0]:80");
  REQUIRE(ep);
  CHECK(ep->host == "fe80::1%eth0");

  ep = parse_endpoint(":8080");
  REQUIRE(ep);
  CHECK(ep->host == "0.0.0.0");
  CHECK(ep->port == 8080);

  ep = parse_endpoint("127.0.0.1:0");  // tests listen on an ephemeral port
  REQUIRE(ep);
  CHECK(ep->port == 0);

  for (const char* bad : {"", "8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "host:-1",
                          "::1:8080", "[::1]", "[::1]8080", "[::1:8080", "[nothex::]:80",
                          "999.1.1.1:80", "bad host:80", "a..b:80", "host:80x"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_endpoint(bad).has_value());
  }
}

TEST_CASE("upstream URLs: scheme, host, default ports, base path") {
  auto u = detail::url("http://127.0.0.1:8000");
  REQUIRE(u.value);
  CHECK_FALSE(u.value->https);
  CHECK(u.value->host == "127.0.0.1");
  CHECK(u.value->port == 8000);
  CHECK(u.value->base_path == "");

  u = detail::url("https://api.example.com/openai/v1/");
  REQUIRE(u.value);
  CHECK(u.value->https);
  CHECK(u.value->host == "api.example.com");
  CHECK(u.value->port == 443);
  CHECK(u.value->base_path == "/openai/v1");

  u = detail::url("HTTP://dynamo/");
  REQUIRE(u.value);
  CHECK(u.value->port == 80);
  CHECK(u.value->base_path == "");

  u = detail::url("http://[::1]:8000/v1");
  REQUIRE(u.value);
  CHECK(u.value->host == "::1");
  CHECK(u.value->port == 8000);
  CHECK(u.value->base_path == "/v1");

  u = detail::url("https://[2001:db8::5]");
  REQUIRE(u.value);
  CHECK(u.value->host == "2001:db8::5");
  CHECK(u.value->port == 443);

  for (const char* bad :
       {"", "127.0.0.1:8000", "ftp://host", "http://", "http://:80", "http://host:0",
        "http://host:", "http://host:99999", "http://::1:80", "http://host/v1?x=1",
        "http://host/#frag", "http://user@host", "http://ho st", "http://[::1", "http://[::1]x"}) {
    CAPTURE(bad);
    CHECK_FALSE(detail::url(bad).value.has_value());
  }
}

TEST_CASE("typo suggestions pick the close word and only a close one") {
  const std::string_view keys[] = {"connect", "response_headers", "stream_idle", "write", "total"};
  CHECK(detail::nearest("conect", keys) == "connect");
  CHECK(detail::nearest("Total", keys) == "total");
  CHECK(detail::nearest("banana", keys) == "");
}

TEST_CASE("expand_env: ${NAME} textually, $${ as a literal ${, a lone $ kept") {
  const auto env = [](const std::string& name) -> const char* {
    if (name == "A") return "alpha";
    if (name == "_b1") return "${A}";
    if (name == "EMPTY") return "";
    return nullptr;
  };
  const auto ok = [&](std::string_view in) {
    auto r = detail::expand_env(in, env);
    CAPTURE(in);
    CAPTURE(r.error);
    REQUIRE(r.value.has_value());
    return *r.value;
  };
  CHECK(ok("") == "");
  CHECK(ok("plain") == "plain");
  CHECK(ok("${A}") == "alpha");
  CHECK(ok("x${A}y${A}") == "xalphayalpha");
  CHECK(ok("${_b1}") == "${A}");  // a value is not expanded again
  CHECK(ok("[${EMPTY}]") == "[]");
  CHECK(ok("$${A}") == "${A}");
  CHECK(ok("$$${A}") == "$${A}");  // left to right: a lone $, then the $${ escape
  CHECK(ok("$A $ {A} cost$5 $") == "$A $ {A} cost$5 $");
  CHECK(ok("}{$") == "}{$");

  CHECK(detail::expand_env("${NOPE}", env).error == "environment variable NOPE is not set");
  for (const char* bad : {"${", "${A", "x${A${A}", "${}", "${1A}", "${A-B}", "${A B}", "${ A}"}) {
    CAPTURE(bad);
    CHECK_FALSE(detail::expand_env(bad, env).value.has_value());
  }
  CHECK(detail::expand_env("${A", env).error.find("unterminated") != std::string::npos);
  CHECK(detail::expand_env("${A-B}", env).error.find("\"A-B\"") != std::string::npos);
}
