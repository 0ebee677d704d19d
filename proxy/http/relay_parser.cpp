#include "proxy/http/relay_parser.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <cstring>

#include "proxy/http/http_util.hpp"
#include "proxy/http/request_head.hpp"  // ascii_iequals

namespace augur::proxy {

namespace http = boost::beast::http;

RelayResponseParser::RelayResponseParser(Scratch& scratch) : scratch_(scratch) {
  scratch_.arena.clear();
  if (scratch_.arena.capacity() > 16 * 1024) std::string().swap(scratch_.arena);  // one huge head
  scratch_.fields.clear();
  scratch_.connection.clear();
  body_limit(boost::none);
  header_limit(64 * 1024);
}

void RelayResponseParser::on_response(int code, std::string_view reason, int) {
  status_ = static_cast<unsigned>(code);
  auto& line = scratch_.arena;  // empty: the fields follow
  line = "HTTP/1.1 ";
  line += static_cast<char>('0' + code / 100 % 10);
  line += static_cast<char>('0' + code / 10 % 10);
  line += static_cast<char>('0' + code % 10);
  line += ' ';
  line.append(reason.data(), reason.size());
  line += "\r\n";
  status_line_length_ = line.size();
}

void RelayResponseParser::on_field(field name, std::string_view name_string,
                                   std::string_view value) {
  if (name == http::field::connection) {
    if (!scratch_.connection.empty()) scratch_.connection += ',';
    scratch_.connection.append(value.data(), value.size());
  }
  if (name == http::field::content_type && value.size() >= 17 &&
      ascii_iequals(value.substr(0, 17), "text/event-stream")) {
    event_stream_ = true;
  }
  if (is_hop_by_hop(name)) return;
  // One resize and plain copies (four appends cost twice as much, per field).
  const std::size_t offset = scratch_.arena.size();
  const std::size_t length = name_string.size() + value.size() + 4;
  scratch_.arena.resize(offset + length);
  char* out = scratch_.arena.data() + offset;
  std::memcpy(out, name_string.data(), name_string.size());
  out += name_string.size();
  *out++ = ':';
  *out++ = ' ';
  std::memcpy(out, value.data(), value.size());
  out += value.size();
  *out++ = '\r';
  *out = '\n';
  scratch_.fields.push_back({static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(length),
                             static_cast<std::uint32_t>(name_string.size())});
}

std::size_t RelayResponseParser::on_body(std::string_view body, boost::beast::error_code& ec) {
  if (!out_) {
    ec = http::error::need_buffer;
    return 0;
  }
  const std::size_t n = std::min(body.size(), capacity_ - received_);
  std::memcpy(out_ + received_, body.data(), n);
  received_ += n;
  if (n < body.size()) ec = http::error::need_buffer;
  return n;
}

bool RelayResponseParser::named_by_connection(std::string_view name) const {
  if (scratch_.connection.empty()) return false;
  for (const auto token : http::token_list{scratch_.connection}) {
    if (ascii_iequals({token.data(), token.size()}, name)) {
      return true;
    }
  }
  return false;
}

bool RelayResponseParser::write_head(std::string& out, bool head, unsigned client_version,
                                     bool client_keep_alive, bool& chunked) {
  if (scratch_.connection.empty()) {
    out.swap(scratch_.arena);  // status line and fields, as they are
  } else {                     // rare: leave out the fields the upstream's Connection names
    out.assign(scratch_.arena, 0, status_line_length_);
    for (const auto& f : scratch_.fields) {
      const std::string_view line(scratch_.arena.data() + f.offset, f.length);
      if (named_by_connection(line.substr(0, f.name_length))) continue;
      out.append(line);
    }
  }
  const bool bodiless = head || status_ < 200 || status_ == 204 || status_ == 304;
  chunked = false;
  if (!bodiless && !content_length()) {
    if (client_version >= 11) {
      chunked = true;
      out += "Transfer-Encoding: chunked\r\n";
    } else {
      client_keep_alive = false;  // HTTP/1.0: the end of the body is the end of the connection
    }
  }
  if (event_stream_) out += "x-accel-buffering: no\r\n";
  if (!client_keep_alive) {
    out += "Connection: close\r\n";
  } else if (client_version == 10) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  return client_keep_alive;
}

}  // namespace augur::proxy
