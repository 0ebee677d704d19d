// RequestHead (the request's fields as augur forwards them) and RequestParser (Beast's parser
// feeding it): parsing, basic_fields-compatible set/erase/find semantics, and the upstream head.
#include "proxy/http/request_head.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <boost/beast/http/error.hpp>
#include <random>
#include <string>
#include <string_view>

#include "proxy/http/http_util.hpp"

namespace http = boost::beast::http;
using namespace augur::proxy;

namespace {

// Parses `wire` fed in pieces of `step` bytes; returns the parser's final error.
boost::beast::error_code parse(std::string_view wire, RequestHead& head, std::string& body,
                               std::size_t step = 1 << 20) {
  RequestParser parser(head, body);
  parser.eager(true);
  std::string pending;
  boost::beast::error_code ec;
  for (std::size_t at = 0; at < wire.size() && !parser.is_done();) {
    const std::size_t n = std::min(step, wire.size() - at);
    pending.append(wire.substr(at, n));
    at += n;
    const std::size_t used = parser.put(boost::asio::buffer(pending), ec);
    pending.erase(0, used);
    if (ec == http::error::need_more) {
      ec = {};
      continue;
    }
    if (ec) return ec;
  }
  if (!parser.is_done()) return http::error::partial_message;
  return ec;
}

}  // namespace

TEST_CASE("RequestParser fills the head and body, in any piece size") {
  const std::string wire =
      "POST /v1/chat/completions?x=1 HTTP/1.1\r\n"
      "Host: augur\r\n"
      "Content-Type: application/json\r\n"
      "X-NAT-Run-Id: run-7\r\n"
      "Content-Length: 13\r\n"
      "\r\n"
      "{\"model\":\"m\"}";
  for (std::size_t step : {1, 2, 7, 64, 1 << 20}) {
    CAPTURE(step);
    RequestHead head;
    std::string body;
    REQUIRE_FALSE(parse(wire, head, body, step));
    CHECK(head.method() == http::verb::post);
    CHECK(head.method_string() == "POST");
    CHECK(head.target() == "/v1/chat/completions?x=1");
    CHECK(head.version() == 11);
    CHECK(head["x-nat-run-id"] == "run-7");  // names are case-insensitive
    CHECK(head[http::field::content_type] == "application/json");
    CHECK(head.count("HOST") == 1);
    CHECK_FALSE(head.find("x-absent"));
    CHECK(body == "{\"model\":\"m\"}");
  }
}

TEST_CASE("RequestParser decodes a chunked body and reuses its buffers") {
  RequestHead head;
  std::string body;
  REQUIRE_FALSE(
      parse("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            head, body, 5));
  CHECK(body == "abcde");
  // The next request on the connection starts from nothing.
  REQUIRE_FALSE(parse("GET /b HTTP/1.0\r\nX-A: 1\r\n\r\n", head, body));
  CHECK(head.target() == "/b");
  CHECK(head.version() == 10);
  CHECK(body.empty());
  CHECK_FALSE(head.find(http::field::transfer_encoding));
  CHECK(head["x-a"] == "1");
}

TEST_CASE("RequestParser enforces the header and body limits") {
  RequestHead head;
  std::string body;
  {
    RequestParser parser(head, body);
    parser.header_limit(64);
    boost::beast::error_code ec;
    const std::string wire = "GET / HTTP/1.1\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n";
    parser.put(boost::asio::buffer(wire), ec);
    CHECK(ec == http::error::header_limit);
  }
  {
    RequestParser parser(head, body);
    parser.body_limit(4);
    boost::beast::error_code ec;
    const std::string wire = "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    parser.put(boost::asio::buffer(wire), ec);
    CHECK(ec == http::error::body_limit);
  }
}

TEST_CASE("set, erase and find follow basic_fields") {
  RequestHead head;
  head.start(http::verb::get, "GET", "/", 11);
  head.insert("X-Dup", "1");
  head.insert("x-dup", "2");
  head.insert("Accept", "*/*");
  CHECK(head.count("x-DUP") == 2);
  CHECK(head["x-dup"] == "1");  // the first one
  head.set("X-Dup", "3");       // replaces both
  CHECK(head.count("x-dup") == 1);
  CHECK(head["x-dup"] == "3");
  CHECK(head.erase(http::field::accept) == 1);
  CHECK(head.erase("accept") == 0);
  head.set(http::field::content_length, "0");
  CHECK(head["Content-Length"] == "0");
  CHECK(ascii_iequals("Content-LENGTH", "content-length"));
  CHECK_FALSE(ascii_iequals("content-lengt", "content-length"));
  CHECK_FALSE(ascii_iequals("x-a[", "x-a{"));  // only letters fold
}

TEST_CASE("serialize writes the live fields in order, after the request line") {
  RequestHead head;
  std::string body;
  REQUIRE_FALSE(
      parse("POST /v1/x HTTP/1.1\r\nA: 1\r\nHost: client\r\nConnection: keep-alive, X-Hop\r\n"
            "X-Hop: h\r\nB: 2\r\nExpect: 100-continue\r\nC: 3\r\nContent-Length: 2\r\n"
            "\r\n{}",
            head, body));
  prepare_upstream_request(head, body, "10.0.0.9");
  head.set(http::field::host, "up:8000");
  head.target("/base/v1/x");
  std::string out;
  head.serialize(out);
  CHECK(out ==
        "POST /base/v1/x HTTP/1.1\r\n"
        "A: 1\r\nB: 2\r\nC: 3\r\n"
        "x-forwarded-for: 10.0.0.9\r\n"
        "x-forwarded-proto: http\r\n"
        "Content-Length: 2\r\n"
        "Host: up:8000\r\n"
        "\r\n");
}

TEST_CASE("prepare_upstream_request appends to X-Forwarded-For and keeps X-Forwarded-Proto") {
  RequestHead head;
  std::string body;
  REQUIRE_FALSE(
      parse("GET / HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\n"
            "TE: trailers\r\nUpgrade: h2c\r\n\r\n",
            head, body));
  prepare_upstream_request(head, body, "5.6.7.8");
  CHECK(head["x-forwarded-for"] == "1.2.3.4, 5.6.7.8");
  CHECK(head["x-forwarded-proto"] == "https");
  CHECK_FALSE(head.find(http::field::te));
  CHECK_FALSE(head.find(http::field::upgrade));
  CHECK_FALSE(head.find(http::field::content_length));  // a GET without a body gets none
}

TEST_CASE("token_equals_lower agrees with ascii_iequals on token names") {
  CHECK(token_equals_lower("X-NAT-Function-Path", "x-nat-function-path"));
  CHECK(token_equals_lower("x-nat-function-path", "x-nat-function-path"));
  CHECK_FALSE(token_equals_lower("x-nat-function-pat", "x-nat-function-path"));
  CHECK(token_equals_lower("", ""));
  // Every token byte, at a position in the 8-byte words and in the tail, against every byte of
  // the lowercase alphabet the function allows.
  const std::string tchars =
      "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const std::string lower_chars = "0123456789abcdefghijklmnopqrstuvwxyz-";
  for (std::size_t pos : {0u, 5u, 8u, 12u}) {
    std::string name = "x-nat-run-end";  // 13 bytes: one word and a 5-byte tail
    std::string lower = name;
    for (char t : tchars) {
      for (char l : lower_chars) {
        name[pos] = t;
        lower[pos] = l;
        CAPTURE(pos);
        CAPTURE(t);
        CAPTURE(l);
        CHECK(token_equals_lower(name, lower) == ascii_iequals(name, lower));
      }
    }
  }
}
