#include "loadtest/mock/request.hpp"

#include <algorithm>

namespace augur::mock {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c | 0x20) : c; };
           return lower(x) == lower(y);
         });
}

}  // namespace

std::string_view Request::find(std::string_view name) const {
  for (const auto& [n, v] : fields) {
    if (iequals(n, name)) return v;
  }
  return {};
}

RequestParser::RequestParser(RequestStorage& storage, bool all_fields)
    : s_(storage), all_fields_(all_fields) {
  s_.head.clear();
  s_.body.clear();
  s_.fields.clear();
}

RequestStorage::Span RequestParser::keep(string_view text) {
  const RequestStorage::Span span{static_cast<std::uint32_t>(s_.head.size()),
                                  static_cast<std::uint32_t>(text.size())};
  s_.head.append(text.data(), text.size());
  return span;
}

void RequestParser::on_request_impl(boost::beast::http::verb, string_view method,
                                    string_view target, int, error_code&) {
  s_.method = keep(method);
  s_.target = keep(target);
}

void RequestParser::on_field_impl(boost::beast::http::field id, string_view name, string_view value,
                                  error_code&) {
  if (!all_fields_ && id != boost::beast::http::field::expect &&
      !(name.size() > 7 && iequals({name.data(), 7}, "x-mock-"))) {
    return;
  }
  const auto n = keep(name);
  s_.fields.emplace_back(n, keep(value));
}

void RequestParser::on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) {
  if (length) s_.body.reserve(static_cast<std::size_t>(*length));
}

std::size_t RequestParser::on_body_impl(string_view data, error_code&) {
  s_.body.append(data.data(), data.size());
  return data.size();
}

std::size_t RequestParser::on_chunk_body_impl(std::uint64_t, string_view data, error_code&) {
  s_.body.append(data.data(), data.size());
  return data.size();
}

const Request& RequestParser::request() {
  Request& r = s_.request;
  const std::string_view head = s_.head;
  const auto at = [&](RequestStorage::Span x) { return head.substr(x.at, x.size); };
  r.method = at(s_.method);
  r.target = at(s_.target);
  r.body = s_.body;
  r.keep_alive = keep_alive();
  r.fields.clear();
  for (const auto& [n, v] : s_.fields) r.fields.emplace_back(at(n), at(v));
  return r;
}

}  // namespace augur::mock
