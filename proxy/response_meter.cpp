#include "proxy/response_meter.hpp"

#include <cstring>

namespace augur::proxy {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

constexpr std::uint8_t overflowed = 0xff;  // token_len_ when the string is not a key we want

}  // namespace

void ResponseMeter::end_string() {
  last_string_ = Key::none;
  if (token_len_ == overflowed) return;
  const std::string_view s(token_, token_len_);
  if (s == "content") {
    last_string_ = Key::content;
  } else if (s == "text") {
    last_string_ = Key::text;
  } else if (s == "completion_tokens") {
    last_string_ = Key::completion_tokens;
  }
}

bool ResponseMeter::feed(std::string_view piece) {
  const std::uint64_t deltas_before = deltas_;
  const char* p = piece.data();
  const char* const end = p + piece.size();
  while (p < end) {
    const char c = *p;
    switch (state_) {
      case State::out: {
        // Outside strings only a quote matters: skip to it.
        const void* q = std::memchr(p, '"', static_cast<std::size_t>(end - p));
        if (q == nullptr) return deltas_before == 0 && deltas_ > 0;
        p = static_cast<const char*>(q) + 1;
        state_ = State::in_string;
        escape_ = false;
        token_len_ = 0;
        continue;
      }
      case State::in_string:
        if (escape_) {
          escape_ = false;
          token_len_ = overflowed;  // keys we look for have no escapes
        } else if (c == '\\') {
          escape_ = true;
        } else if (c == '"') {
          end_string();
          state_ = State::after_key;
        } else if (token_len_ < sizeof token_) {
          token_[token_len_++] = c;
        } else {
          token_len_ = overflowed;
        }
        ++p;
        continue;
      case State::after_key:
        if (is_space(c)) {
          ++p;
        } else if (c == ':' && last_string_ != Key::none) {
          state_ = State::value;
          key_ = last_string_;
          value_started_ = false;
          in_number_ = false;
          number_ = 0;
          ++p;
        } else {
          state_ = State::out;  // not a key we want (or not a key): reread c outside strings
        }
        continue;
      case State::value:
        if (key_ == Key::completion_tokens) {
          if (c >= '0' && c <= '9') {
            if (number_ < (std::uint64_t{1} << 52)) number_ = number_ * 10 + (c - '0');
            in_number_ = true;
            ++p;
          } else if (is_space(c) && !in_number_) {
            ++p;
          } else {
            if (in_number_) usage_ = number_;
            state_ = State::out;
          }
          continue;
        }
        // "content" / "text": a non-empty string value is one delta.
        if (!value_started_) {
          if (is_space(c)) {
            ++p;
          } else if (c == '"') {
            value_started_ = true;
            ++p;
          } else {
            state_ = State::out;  // null, a number, an array...
          }
          continue;
        }
        if (c == '"') {
          state_ = State::out;  // ""
          ++p;
          continue;
        }
        if (stream_) ++deltas_;
        state_ = State::in_string;  // skip the rest of the value as an ordinary string
        escape_ = false;
        token_len_ = overflowed;
        continue;  // reread c inside the string (it may be a backslash)
    }
  }
  return deltas_before == 0 && deltas_ > 0;
}

std::optional<std::uint64_t> ResponseMeter::output_tokens() const {
  if (usage_) return usage_;
  if (stream_ && deltas_ > 0) return deltas_;
  return std::nullopt;
}

}  // namespace augur::proxy
