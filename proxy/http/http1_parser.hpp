// An incremental HTTP/1.1 parser with Beast's basic_parser interface and semantics (the same
// messages accepted, the same error codes, the same framing), written to scan a head with table
// and SSE2 loops instead of Beast's character-at-a-time ones. RequestParser and
// RelayResponseParser derive from it; the differential test holds it to Beast's behaviour.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/optional.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace augur::proxy {

// The field id for the names augur or message framing look up by id (Connection, Content-Length,
// Host, Expect, the hop-by-hop ones...: see http1_parser.cpp), field::unknown for any other name.
// Cheaper than Beast's string_to_field, which hashes every name. Thread-safe.
boost::beast::http::field classify_field(std::string_view name);
// Whether classify_field can return `id` (lookups by other ids must compare names).
bool is_classified(boost::beast::http::field id);

// Whether `name`, a field name as parsed (an RFC 9110 token), equals `lower`, which holds only
// lowercase letters, digits and '-', ignoring case. For token bytes, setting bit 0x20 folds
// exactly the letters, so the names compare 8 bytes at a time.
inline bool token_equals_lower(std::string_view name, std::string_view lower) {
  if (name.size() != lower.size()) return false;
  constexpr std::uint64_t kFold = 0x2020202020202020ull;
  std::size_t i = 0;
  for (; i + 8 <= name.size(); i += 8) {
    std::uint64_t a = 0, b = 0;
    std::memcpy(&a, name.data() + i, 8);
    std::memcpy(&b, lower.data() + i, 8);
    if ((a | kFold) != b) return false;
  }
  for (; i < name.size(); ++i) {
    if ((name[i] | 0x20) != lower[i]) return false;
  }
  return true;
}

// The longest chunk line (size, extensions) accepted; longer ones are bad_chunk.
inline constexpr std::size_t kMaxChunkLine = 4096;

// Differences from basic_parser, all deliberate:
// - while the head is incomplete put() consumes nothing (returns 0, need_more): the caller keeps
//   the unconsumed bytes and passes them again with more, as Beast's own read loops do;
// - header_limit gives the same result however the head is split: the start line and the field
//   block must each fit in it, which is what basic_parser does when a head arrives in one piece
//   (split across puts, basic_parser's limit varies with the split);
// - field ids are classify_field's, not string_to_field's;
// - bounds basic_parser lacks: a chunk line over kMaxChunkLine is bad_chunk, a trailer section
//   over header_limit is header_limit (both would otherwise wait in the read buffer unbounded);
//   a quoted chunk extension with a control byte is bad_chunk_extension;
// - HTTP/1.2 and later minor versions parse as HTTP/1.1 (RFC 9110 6.2), not bad_version.
// Not thread-safe (one parser per message, like basic_parser).
template <bool isRequest>
class Http1Parser {
 public:
  using error_code = boost::beast::error_code;
  using field = boost::beast::http::field;
  using verb = boost::beast::http::verb;

  virtual ~Http1Parser() = default;
  Http1Parser(const Http1Parser&) = delete;
  Http1Parser& operator=(const Http1Parser&) = delete;

  // Parses from `buffer`; returns how many bytes it used. ec: need_more (more bytes wanted; the
  // unused ones must be passed again), need_buffer (on_body took less: the output is full),
  // stale_parser after is_done(), or the parse error (bad_*, header_limit, body_limit...).
  std::size_t put(boost::asio::const_buffer buffer, error_code& ec);
  // The connection ended: completes a close-delimited body, else partial_message if incomplete.
  void put_eof(error_code& ec);

  bool got_some() const { return state_ != State::nothing_yet; }
  bool is_header_done() const { return state_ > State::fields; }
  bool is_done() const { return state_ == State::complete; }
  // Only meaningful once is_header_done().
  bool keep_alive() const;
  bool chunked() const { return (f_ & kChunked) != 0; }
  bool upgrade() const { return (f_ & kConnectionUpgrade) != 0; }
  bool need_eof() const { return (f_ & kNeedEof) != 0; }
  boost::optional<std::uint64_t> content_length() const {
    return boost::make_optional((f_ & kContentLength) != 0, len0_);
  }

  void skip(bool v) { f_ = v ? f_ | kSkipBody : f_ & ~kSkipBody; }  // no body (HEAD response)
  bool skip() const { return (f_ & kSkipBody) != 0; }
  void eager(bool v) { f_ = v ? f_ | kEager : f_ & ~kEager; }
  bool eager() const { return (f_ & kEager) != 0; }
  void header_limit(std::uint32_t v) { header_limit_ = v; }
  void body_limit(boost::optional<std::uint64_t> v) { body_limit_ = v; }

 protected:
  Http1Parser() = default;

  virtual void on_request(verb, std::string_view /*method*/, std::string_view /*target*/,
                          int /*version*/) {}
  virtual void on_response(int /*status*/, std::string_view /*reason*/, int /*version*/) {}
  // Every field, trailers of a chunked body included (as basic_parser's on_field_impl).
  virtual void on_field(field id, std::string_view name, std::string_view value) = 0;
  virtual void on_body_init(const boost::optional<std::uint64_t>& /*content_length*/) {}
  // Takes what it can of `data`; returns how many bytes (setting ec to stop the parse).
  virtual std::size_t on_body(std::string_view data, error_code& ec) = 0;

 private:
  enum class State : std::uint8_t {
    nothing_yet,
    start_line,
    fields,
    body0,
    body,
    body_to_eof0,
    body_to_eof,
    chunk_header0,
    chunk_header,
    chunk_body,
    complete
  };
  // Framing flags, as basic_parser's.
  static constexpr unsigned kSkipBody = 1u << 0, kEager = 1u << 1, kHttp11 = 1u << 4,
                            kNeedEof = 1u << 5, kExpectCrlf = 1u << 6, kConnectionClose = 1u << 7,
                            kConnectionUpgrade = 1u << 8, kConnectionKeepAlive = 1u << 9,
                            kContentLength = 1u << 10, kChunked = 1u << 11, kUpgrade = 1u << 12,
                            kFinalChunk = 1u << 13;
  std::size_t parse_head(const char* base, std::size_t n, error_code& ec);
  const char* parse_start_line(const char* p, const char* last, error_code& ec);
  const char* parse_fields(const char* p, const char* last, error_code& ec);
  void do_field(field id, std::string_view value, error_code& ec);
  void finish_header(error_code& ec);
  void parse_chunk_header(const char*& p, std::size_t n, error_code& ec);

  boost::optional<std::uint64_t> body_limit_{isRequest ? 1024 * 1024 : 8 * 1024 * 1024};
  std::uint64_t len_ = 0;   // what is left of the body or chunk
  std::uint64_t len0_ = 0;  // Content-Length
  // Head progress, as offsets from the head's first byte (nothing is consumed before it ends).
  std::size_t line_end_ = 0;  // after the start line's CRLF; 0 until it is parsed
  std::size_t next_ = 0;      // the next unparsed field line
  std::size_t scan_ = 0;      // how far a line that wanted more bytes was searched for its end
  bool retry_ = false;        // the current line wanted more bytes: search before parsing
  std::size_t skip_ = 0;      // chunk headers: where to resume the search (basic_parser's skip_)
  std::size_t chunk_eol_ = 0, chunk_ext_ = 0;  // last chunk: its line end, its extensions
  std::uint32_t header_limit_ = 8192;
  unsigned short status_ = 0;
  State state_ = State::nothing_yet;
  unsigned f_ = 0;
};

extern template class Http1Parser<true>;
extern template class Http1Parser<false>;

}  // namespace augur::proxy
