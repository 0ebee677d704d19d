// Parses an upstream response for relaying without building a field container: the status line
// and the fields that may be forwarded are copied once into a per-exchange arena that becomes the
// client's response head, and body bytes
// go straight into the caller's relay buffer (buffer_body semantics). Beast's response_parser
// allocated a tree node per header field and augur then erased hop-by-hop fields from it one by
// one; this keeps basic_parser's semantics (Http1Parser) and drops that work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/http1_parser.hpp"

namespace augur::proxy {

class RelayResponseParser final : public Http1Parser<false> {
 public:
  struct Field {
    std::uint32_t offset;  // into the arena: "name: value\r\n"
    std::uint32_t length;
    std::uint32_t name_length;
  };
  // Storage that outlives one parser (Beast parsers cannot be reset), so a connection's
  // responses reuse the same buffers instead of allocating them per response.
  struct Scratch {
    std::string arena;  // the status line as augur sends it, then the forwardable field lines
    std::vector<Field> fields;
    std::string connection;  // the upstream's Connection value(s), for the fields it names
  };

  explicit RelayResponseParser(Scratch& scratch);

  unsigned status() const { return status_; }
  bool event_stream() const { return event_stream_; }

  // Where the next body bytes go; received() says how many arrived since.
  void set_output(char* data, std::size_t capacity) {
    out_ = data;
    capacity_ = capacity;
    received_ = 0;
  }
  std::size_t received() const { return received_; }

  // Writes the response head for the client into `out`: the status line, every field except the
  // hop-by-hop ones (RFC 9110 7.6.1, and those the upstream's Connection names), then augur's own
  // framing: the upstream Content-Length is kept; otherwise chunked for HTTP/1.1 clients, or
  // close-delimited for HTTP/1.0; `X-Accel-Buffering: no` on event streams. `head` is true for a
  // HEAD request. Returns whether the client connection can stay open, and sets `chunked`.
  // Consumes the parsed head: the usual one (no Connection-named fields) is swapped into `out`,
  // not copied.
  bool write_head(std::string& out, bool head, unsigned client_version, bool client_keep_alive,
                  bool& chunked);

 private:
  void on_response(int code, std::string_view reason, int version) override;
  void on_field(field id, std::string_view name, std::string_view value) override;
  std::size_t on_body(std::string_view body, boost::beast::error_code& ec) override;

  bool named_by_connection(std::string_view name) const;

  unsigned status_ = 0;
  std::size_t status_line_length_ = 0;  // where the fields start in the arena
  bool event_stream_ = false;
  Scratch& scratch_;
  char* out_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t received_ = 0;
};

}  // namespace augur::proxy
