// Http1Parser held to Beast's basic_parser (the parser it replaced): both wrapped to collect what a
// user of a parser sees (head, body, framing), fed the way augur's session feeds them, and compared
// with the deliberate differences (http1_parser.hpp) excluded. Shared by the differential unit test
// (proxy/http1_parser_diff_test.cpp) and the fuzzer (fuzz/fuzz_http1_parser.cpp).
#pragma once

#include <algorithm>
#include <boost/beast/http/basic_parser.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/http1_parser.hpp"

namespace augur::http1_reference {

namespace http = boost::beast::http;
using boost::beast::error_code;

// What a parse gives a user of the parser.
struct Outcome {
  error_code ec;     // the first error other than need_more / need_buffer; partial_message at EOF
  std::string head;  // start line and fields as delivered, one per line
  std::string body;
  bool keep_alive = false, chunked = false, upgrade = false, need_eof = false;
  std::string content_length;
  // Bytes the message took: where the next pipelined message would start. A disagreement here is
  // a request smuggling gap even when heads and bodies match.
  std::size_t consumed = 0;

  bool operator==(const Outcome&) const = default;
};

inline std::string describe(const Outcome& o) {
  return "ec=" + o.ec.message() + " head=[" + o.head + "] body=" + std::to_string(o.body.size()) +
         " ka=" + std::to_string(o.keep_alive) + " ch=" + std::to_string(o.chunked) +
         " up=" + std::to_string(o.upgrade) + " eof=" + std::to_string(o.need_eof) +
         " cl=" + o.content_length + " consumed=" + std::to_string(o.consumed);
}

// Beast's id for a name, as Http1Parser reports it (only the ids augur looks up are kept).
inline int reported_id(http::field f) {
  return augur::proxy::is_classified(f) ? static_cast<int>(f)
                                        : static_cast<int>(http::field::unknown);
}

inline void add_field(std::string& head, int id, std::string_view name, std::string_view value) {
  head += std::to_string(id);
  head += '|';
  head += name;
  head += '|';
  head += value;
  head += '\n';
}

// Body bytes are taken at most `cap` at a time (the relay's full output buffer: need_buffer).
inline std::size_t take(std::string& body, std::string_view data, std::size_t cap, error_code& ec) {
  const std::size_t n = std::min(data.size(), cap);
  body.append(data.data(), n);
  if (n < data.size()) ec = http::error::need_buffer;
  return n;
}

template <bool isRequest>
class BeastSide final : public http::basic_parser<isRequest> {
 public:
  std::string head, body;
  std::size_t cap = SIZE_MAX;

 private:
  void on_request_impl(http::verb v, boost::beast::string_view m, boost::beast::string_view t,
                       int version, error_code&) override {
    head += std::to_string(static_cast<int>(v)) + " " + std::string(m) + " " + std::string(t) +
            " " + std::to_string(version) + "\n";
  }
  void on_response_impl(int status, boost::beast::string_view reason, int version,
                        error_code&) override {
    head +=
        std::to_string(status) + " " + std::string(reason) + " " + std::to_string(version) + "\n";
  }
  void on_field_impl(http::field f, boost::beast::string_view name, boost::beast::string_view value,
                     error_code&) override {
    add_field(head, reported_id(f), {name.data(), name.size()}, {value.data(), value.size()});
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(boost::beast::string_view data, error_code& ec) override {
    return take(body, {data.data(), data.size()}, cap, ec);
  }
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view data,
                                 error_code& ec) override {
    return take(body, {data.data(), data.size()}, cap, ec);
  }
  void on_finish_impl(error_code&) override {}
};

template <bool isRequest>
class OurSide final : public augur::proxy::Http1Parser<isRequest> {
 public:
  std::string head, body;
  std::size_t cap = SIZE_MAX;

 private:
  void on_request(http::verb v, std::string_view m, std::string_view t, int version) override {
    head += std::to_string(static_cast<int>(v)) + " " + std::string(m) + " " + std::string(t) +
            " " + std::to_string(version) + "\n";
  }
  void on_response(int status, std::string_view reason, int version) override {
    head +=
        std::to_string(status) + " " + std::string(reason) + " " + std::to_string(version) + "\n";
  }
  void on_field(http::field f, std::string_view name, std::string_view value) override {
    add_field(head, static_cast<int>(f), name, value);
  }
  std::size_t on_body(std::string_view data, error_code& ec) override {
    return take(body, data, cap, ec);
  }
};

// The parser settings of one case.
struct Setup {
  std::uint32_t header_limit = 8192;
  boost::optional<std::uint64_t> body_limit;  // none: unlimited
  bool skip = false, eager = false;           // skip: the response to a HEAD request
  std::size_t cap = SIZE_MAX;                 // body bytes taken per on_body call
};

// Feeds `pieces` the way augur's session does: unconsumed bytes stay buffered and are passed again
// with the next piece; EOF after the last piece.
template <class Parser>
Outcome run(const std::vector<std::string_view>& pieces, const Setup& s) {
  Parser parser;
  parser.header_limit(s.header_limit);
  parser.body_limit(s.body_limit);
  parser.eager(s.eager);
  if (s.skip) parser.skip(true);
  parser.cap = s.cap;
  Outcome out;
  std::string pending;
  std::size_t consumed = 0;
  error_code ec;
  for (const auto piece : pieces) {
    pending += piece;
    while (!parser.is_done() && !pending.empty()) {
      const std::size_t used = parser.put(boost::asio::buffer(pending), ec);
      pending.erase(0, used);
      consumed += used;
      if (ec == http::error::need_more) break;
      if (ec == http::error::need_buffer) ec = {};
      if (ec) break;
      if (used == 0) break;
    }
    if ((ec && ec != http::error::need_more) || parser.is_done()) break;
  }
  if (ec == http::error::need_more) ec = {};
  if (!ec && !parser.is_done()) {
    if (parser.got_some()) {
      parser.put_eof(ec);
    } else {
      ec = http::error::end_of_stream;
    }
  }
  out.ec = ec;
  out.head = parser.head;
  if (ec) return out;  // what a rejected message delivered does not matter
  out.body = parser.body;
  out.keep_alive = parser.keep_alive();
  out.chunked = parser.chunked();
  out.upgrade = parser.upgrade();
  out.need_eof = parser.need_eof();
  if (const auto cl = parser.content_length()) out.content_length = std::to_string(*cl);
  out.consumed = consumed;
  return out;
}

// The longest line of `msg` after its head (chunk lines and trailer fields). Lines end at CRLF,
// as both parsers find a chunk line's end: a bare LF is a byte of the line.
inline std::size_t longest_body_line(std::string_view msg) {
  const auto head_end = msg.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return 0;
  std::size_t longest = 0;
  for (std::size_t at = head_end + 4; at < msg.size();) {
    auto eol = msg.find("\r\n", at);
    if (eol == std::string_view::npos) eol = msg.size();
    longest = std::max(longest, eol - at);
    at = eol + 2;
  }
  return longest;
}

// Whether Http1Parser's outcome matches basic_parser's, with the deliberate differences
// (http1_parser.hpp) allowed:
// - a quoted chunk extension running past its line's CR, which Beast keeps reading (then waits
//   for bytes forever), or holding a control byte, which Beast accepts: bad_chunk_extension;
// - a chunk line over kMaxChunkLine (bad_chunk) and a trailer section over header_limit
//   (header_limit), which Beast reads however long they are;
// - HTTP/1.2 and later minor versions, which Beast rejects and Http1Parser reads as HTTP/1.1: it
//   then accepts the message, or rejects it for what follows the version, which Beast never read.
inline bool same_outcome(const Outcome& ours, const Outcome& beast, std::string_view msg,
                         const Setup& setup) {
  if (ours == beast) return true;
  const bool same_head_so_far = beast.head.starts_with(ours.head);
  if (ours.ec == http::error::bad_chunk_extension && same_head_so_far) return true;
  if (ours.ec == http::error::bad_chunk && same_head_so_far &&
      longest_body_line(msg) > augur::proxy::kMaxChunkLine) {
    return true;
  }
  // The start line and the field block are each limited by header_limit (as basic_parser does).
  const auto line_end = msg.find("\r\n") + 2;
  const auto head_end = msg.find("\r\n\r\n");
  if (ours.ec == http::error::header_limit && same_head_so_far &&
      head_end != std::string_view::npos && line_end <= setup.header_limit &&
      head_end + 4 - line_end <= setup.header_limit) {
    return true;  // a head within the limit: the trailer section is over it
  }
  // The start line's version: a status line's first word, a request line's third (after the
  // method's and the target's spaces; a method never holds '/').
  const auto first_line = msg.substr(0, msg.find('\n'));
  std::size_t at = 0;
  if (!first_line.starts_with("HTTP/")) {
    const auto method_end = first_line.find(' ');
    const auto target_end =
        method_end == std::string_view::npos ? method_end : first_line.find(' ', method_end + 1);
    at = target_end == std::string_view::npos ? first_line.size() : target_end + 1;
  }
  const auto version = first_line.substr(at, 8);
  return beast.ec == http::error::bad_version && version.size() == 8 &&
         version.starts_with("HTTP/1.") && version[7] >= '2' && version[7] <= '9';
}

// The result of one differential case.
struct Verdict {
  bool accepted = false;  // basic_parser accepted the message fed whole
  std::string mismatch;   // empty when the parsers agree; else both outcomes
};

// Parses `msg` fed whole with both parsers, and fed in each of `splits` with Http1Parser alone
// (basic_parser's header_limit varies with the split, Http1Parser's does not: http1_parser.hpp).
// Whole, the outcomes must be the same (up to the deliberate differences); split, Http1Parser must
// accept or reject as it did whole, and when it accepts, give the same outcome. Thread-safe (no
// shared state).
template <bool isRequest>
Verdict compare(std::string_view msg, Setup s,
                const std::vector<std::vector<std::string_view>>& splits) {
  // basic_parser counts a close-delimited body's untaken bytes against body_limit again on each put
  // (Http1Parser counts what was taken): with need_buffer the two differ by design. Only responses
  // have close-delimited bodies.
  if (!isRequest && s.cap != SIZE_MAX) s.body_limit = boost::none;
  Verdict v;
  const std::vector<std::string_view> whole{msg};
  const Outcome beast = run<BeastSide<isRequest>>(whole, s);
  const Outcome ours = run<OurSide<isRequest>>(whole, s);
  v.accepted = !beast.ec;
  if (!same_outcome(ours, beast, msg, s)) {
    v.mismatch = "fed whole:\n  beast: " + describe(beast) + "\n  ours:  " + describe(ours);
    return v;
  }
  for (const auto& pieces : splits) {
    const Outcome split = run<OurSide<isRequest>>(pieces, s);
    // Against our own whole outcome, which matched basic_parser's up to the deliberate
    // differences: a split must never change the verdict.
    if (static_cast<bool>(split.ec) != static_cast<bool>(ours.ec) || (!ours.ec && split != ours)) {
      v.mismatch = "fed in " + std::to_string(pieces.size()) +
                   " pieces:\n  beast (whole): " + describe(beast) +
                   "\n  ours (whole):  " + describe(ours) + "\n  ours (split):  " + describe(split);
      return v;
    }
  }
  return v;
}

}  // namespace augur::http1_reference
