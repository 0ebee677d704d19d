// Reads what learning needs from a response body as it is relayed, without buffering it: the
// output token count (`usage.completion_tokens`, from a JSON body or a stream's usage chunk) and,
// for event streams, the content deltas (counted as tokens when no usage arrives; the first one is
// the call's first token). A small JSON lexer that carries its state across pieces, so a key split
// between two reads is still found.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace augur::proxy {

class ResponseMeter {
 public:
  // Starts a new response; `event_stream` is whether it is text/event-stream.
  void reset(bool event_stream) {
    *this = ResponseMeter{};
    stream_ = event_stream;
  }

  // Feeds the next piece of body as relayed. Returns true when this piece held the response's first
  // non-empty content delta (streams only). Never fails: bytes that are not JSON are skipped.
  bool feed(std::string_view piece);

  // usage.completion_tokens when the body carried it (the last value seen); else, for streams, the
  // number of non-empty content deltas when there was at least one; else nullopt.
  std::optional<std::uint64_t> output_tokens() const;

 private:
  enum class State : std::uint8_t { out, in_string, after_key, value };
  enum class Key : std::uint8_t { none, content, text, completion_tokens };

  static Key key_of(std::string_view s) noexcept;  // a closed string's key, if one we want

  bool stream_ = false;
  State state_ = State::out;
  bool escape_ = false;
  Key key_ = Key::none;          // the key whose value is being read (state value)
  Key last_string_ = Key::none;  // what the string just closed was, if it is a key we want
  std::uint8_t token_len_ = 0;   // bytes of the current string matched against the keys so far
  char token_[20] = {};
  bool value_started_ = false;  // a "content" value's opening quote was seen
  std::uint64_t number_ = 0;
  bool in_number_ = false;
  std::optional<std::uint64_t> usage_;
  std::uint64_t deltas_ = 0;
};

}  // namespace augur::proxy
