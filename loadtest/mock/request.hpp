// A request as the mock reads it: Beast's HTTP/1.1 parser (an implementation independent of
// augur's own, so the mock still checks what augur sends), with the fields kept in one buffer the
// connection reuses. Beast's basic_fields allocates a node per field, so a proxied request with
// hint headers would cost the mock noticeably more than one without them, and since the mock
// shares a CPU with the proxy under test in loadtest/bench_proxy.sh, that cost would be charged
// to the proxy that sends richer requests.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace augur::mock {

// One parsed request: views into its connection's RequestStorage, valid until the next request.
struct Request {
  std::string_view method;
  std::string_view target;
  std::string_view body;
  bool keep_alive = true;
  std::vector<std::pair<std::string_view, std::string_view>> fields;  // (name, value), in order

  // The first field named `name` (ASCII case-insensitive); empty when there is none.
  std::string_view find(std::string_view name) const;
};

// What a connection keeps across its requests, so a request allocates nothing once warm.
struct RequestStorage {
  struct Span {
    std::uint32_t at = 0, size = 0;
  };
  std::string head;  // method, target, then each field's name and value, back to back
  std::string body;
  Span method, target;
  std::vector<std::pair<Span, Span>> fields;
  Request request;
};

// Parses one request into `storage` (cleared first). Limits and errors are Beast's.
class RequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  // all_fields false: only the fields the mock acts on are kept (x-mock-*, Expect); the echo and
  // a behaviour model need them all.
  RequestParser(RequestStorage& storage, bool all_fields);

  // The request parsed so far (the body once is_done()); call after is_header_done().
  const Request& request();

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

  RequestStorage::Span keep(string_view text);

  void on_request_impl(boost::beast::http::verb, string_view method, string_view target, int,
                       error_code&) override;
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(boost::beast::http::field, string_view name, string_view value,
                     error_code&) override;
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override;
  std::size_t on_body_impl(string_view data, error_code&) override;
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view data, error_code&) override;
  void on_finish_impl(error_code&) override {}

  RequestStorage& s_;
  bool all_fields_;
};

}  // namespace augur::mock
