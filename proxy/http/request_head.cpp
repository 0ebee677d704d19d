#include "proxy/http/request_head.hpp"

#include <algorithm>
#include <boost/beast/http/field.hpp>
#include <cstring>

namespace augur::proxy {

namespace http = boost::beast::http;

namespace {

// What an idle connection keeps after one huge head: memory per connection stays small.
constexpr std::size_t kKeptArenaBytes = 16 * 1024;
constexpr std::size_t kKeptFields = 256;

std::string_view view(boost::beast::string_view s) { return {s.data(), s.size()}; }

}  // namespace

void RequestHead::clear() {
  arena_.clear(kKeptArenaBytes);
  fields_.clear();
  if (fields_.capacity() > kKeptFields) std::vector<Field>().swap(fields_);
  method_ = verb::unknown;
  method_text_ = target_ = {};
  version_ = 11;
}

RequestHead::Span RequestHead::append(std::string_view s) {
  const Span span{static_cast<std::uint32_t>(arena_.size()), static_cast<std::uint32_t>(s.size())};
  if (!s.empty()) std::memcpy(arena_.extend(s.size()), s.data(), s.size());
  return span;
}

void RequestHead::start(verb method, std::string_view method_text, std::string_view target,
                        unsigned version) {
  method_ = method;
  method_text_ = append(method_text);
  target_ = append(target);
  version_ = version;
}

void RequestHead::target(std::string_view t) { target_ = append(t); }

void RequestHead::Arena::grow(std::size_t n) {
  const std::size_t capacity = std::max({capacity_ * 2, size_ + n, std::size_t{1024}});
  auto bytes = std::make_unique_for_overwrite<char[]>(capacity);
  if (size_ > 0) std::memcpy(bytes.get(), bytes_.get(), size_);
  bytes_ = std::move(bytes);
  capacity_ = capacity;
}

void RequestHead::Arena::clear(std::size_t keep_capacity) {
  size_ = 0;
  if (capacity_ > keep_capacity) {
    bytes_.reset();
    capacity_ = 0;
  }
}

void RequestHead::insert(field id, std::string_view name, std::string_view value) {
  const std::size_t offset = arena_.size();
  const std::size_t length = name.size() + value.size() + 4;
  char* out = arena_.extend(length);
  // An empty view may have a null data(), which memcpy must not get even for 0 bytes.
  if (!name.empty()) std::memcpy(out, name.data(), name.size());
  out += name.size();
  *out++ = ':';
  *out++ = ' ';
  if (!value.empty()) std::memcpy(out, value.data(), value.size());
  out += value.size();
  *out++ = '\r';
  *out = '\n';
  fields_.push_back(Field{id, false, static_cast<std::uint32_t>(offset),
                          static_cast<std::uint32_t>(name.size()),
                          static_cast<std::uint32_t>(length)});
}

void RequestHead::insert(std::string_view name, std::string_view value) {
  insert(classify_field(name), name, value);
}

void RequestHead::insert(field id, std::string_view value) {
  insert(id, view(http::to_string(id)), value);
}

void RequestHead::set(std::string_view name, std::string_view value) {
  set(classify_field(name), name, value);
}

void RequestHead::set(field id, std::string_view name, std::string_view value) {
  erase(name);
  insert(id, name, value);
}

void RequestHead::set(field id, std::string_view value) {
  erase(id);
  insert(id, value);
}

bool RequestHead::matches(const Field& f, std::string_view name) const {
  return f.name_length == name.size() && ascii_iequals(name_of(f), name);
}

std::size_t RequestHead::erase(std::string_view name) {
  return erase_if([&](field, std::string_view n) { return ascii_iequals(n, name); });
}

// Ids classify_field does not give are stored as field::unknown: those lookups compare names.
std::size_t RequestHead::erase(field id) {
  if (!is_classified(id)) return erase(view(http::to_string(id)));
  return erase_if([id](field f, std::string_view) { return f == id; });
}

std::optional<std::string_view> RequestHead::find(std::string_view name) const {
  for (const Field& f : fields_) {
    if (!f.removed && matches(f, name)) return value_of(f);
  }
  return std::nullopt;
}

std::optional<std::string_view> RequestHead::find(field id) const {
  if (!is_classified(id)) return find(view(http::to_string(id)));
  for (const Field& f : fields_) {
    if (!f.removed && f.id == id) return value_of(f);
  }
  return std::nullopt;
}

std::size_t RequestHead::count(std::string_view name) const {
  std::size_t n = 0;
  for (const Field& f : fields_) n += !f.removed && matches(f, name);
  return n;
}

std::size_t RequestHead::count(field id) const {
  if (!is_classified(id)) return count(view(http::to_string(id)));
  std::size_t n = 0;
  for (const Field& f : fields_) n += !f.removed && f.id == id;
  return n;
}

void RequestHead::serialize(std::string& out) const {
  out.clear();
  const auto method = method_string();
  const auto t = target();
  out.append(method.data(), method.size());
  out += ' ';
  out.append(t.data(), t.size());
  out += " HTTP/1.1\r\n";
  // Adjacent live lines are contiguous in the arena: copy each run of them at once.
  std::size_t run_start = 0, run_end = 0;
  for (const Field& f : fields_) {
    if (f.removed) continue;
    if (f.offset != run_end) {
      out.append(arena_.data() + run_start, run_end - run_start);
      run_start = f.offset;
    }
    run_end = f.offset + f.line_length;
  }
  out.append(arena_.data() + run_start, run_end - run_start);
  out += "\r\n";
}

RequestParser::RequestParser(RequestHead& head, std::string& body, std::size_t body_slack)
    : head_(head), body_(body), body_slack_(body_slack) {
  head_.clear();
  body_.clear();
  if (body_.capacity() > 64 * 1024) std::string().swap(body_);
}

void RequestParser::on_request(verb method, std::string_view method_text, std::string_view target,
                               int version) {
  head_.start(method, method_text, target, static_cast<unsigned>(version));
}

void RequestParser::on_field(field id, std::string_view name, std::string_view value) {
  // Trailer fields of a chunked body are dropped: augur forwards the body sized, and a trailer
  // must never become a header field upstream, past whatever filtered the client's headers.
  if (is_header_done()) return;
  head_.insert(id, name, value);
}

void RequestParser::on_body_init(const boost::optional<std::uint64_t>& length) {
  // The parser has already checked a declared length against body_limit.
  if (length) body_.reserve(static_cast<std::size_t>(*length) + body_slack_);
}

std::size_t RequestParser::on_body(std::string_view data, boost::beast::error_code&) {
  body_.append(data.data(), data.size());
  return data.size();
}

}  // namespace augur::proxy
