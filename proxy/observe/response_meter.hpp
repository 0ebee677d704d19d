// Reads what learning needs from a response body as it is relayed, without buffering it: the
// output token count (the usage the API dialect reports: `usage.completion_tokens` for chat
// completions and completions, `usage.output_tokens` for OpenAI Responses and Anthropic Messages,
// from a JSON body or a stream's usage event, the last value seen) and, for event streams, the
// content deltas (counted as tokens when no usage arrives; the first one is the call's first
// token). Content deltas are non-empty string values of "content" (chat), "text" (completions,
// Messages' text_delta) and "delta" (Responses' response.output_text.delta). Streams go through a
// small JSON lexer that carries its state across pieces, so a key split between two reads is still
// found. A JSON body needs only its usage key, found by a substring search (in valid JSON an
// unescaped quote followed by that name and a colon can only open that key), with the last bytes
// of each piece kept so a key split between reads is still found.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/dialect.hpp"

namespace augur::proxy {

class ResponseMeter {
 public:
  // Starts a new response; `event_stream` is whether it is text/event-stream, `dialect` the API
  // of the request it answers (none: read as chat completions).
  void reset(bool event_stream, Dialect dialect = Dialect::chat_completions) {
    *this = ResponseMeter{};
    stream_ = event_stream;
    output_tokens_ = dialect == Dialect::responses || dialect == Dialect::messages;
    capture_id_ = dialect == Dialect::responses;
    delta_keys_ = dialect == Dialect::responses  ? key_bit(Key::delta)
                  : dialect == Dialect::messages ? key_bit(Key::text)
                                                 : key_bit(Key::content) | key_bit(Key::text);
  }

  // Feeds the next piece of body as relayed. Returns true when this piece held the response's first
  // non-empty content delta (streams only). Never fails: bytes that are not JSON are skipped.
  bool feed(std::string_view piece);

  // The dialect's usage count when the body carried it (the last value seen); else, for streams,
  // the number of non-empty content deltas when there was at least one; else nullopt.
  std::optional<std::uint64_t> output_tokens() const;

  // Responses: the response's id (the body's first "id", which is the response object's in a JSON
  // body and in a stream's response.created event); "" when none was read whole.
  std::string_view response_id() const {
    return id_done_ ? std::string_view(id_, id_len_) : std::string_view();
  }

  static constexpr std::size_t kMaxIdBytes = 128;

  // The texts the response's tool calls hand out (each string value of at least kMinTaskBytes in
  // their arguments), hashed by their words (common/text_hash.hpp): a new conversation opening
  // with one of them is a sub-agent of this call's run. Read from `arguments` (chat, Responses)
  // `partial_json` (Messages streams) values and `input` objects (Messages JSON); a JSON chat or
  // Messages body is read for them only from its first `"tool_calls"` or `"tool_use"` on. At most
  // kMaxTasks, from the first kMaxArgumentBytes.
  std::vector<std::uint64_t> tool_tasks() const;
  // Whether the response made a tool call: it carried a tool call's arguments (chat, Responses;
  // Messages streams' partial_json) or a tool_use block's input (Messages), read where
  // tool_tasks() reads them. An answer without one is an agent's final answer.
  bool tool_call() const { return tool_call_; }
  static constexpr std::size_t kMaxArgumentBytes = 16 * 1024;
  static constexpr std::size_t kMaxTasks = 16;
  static constexpr std::size_t kMinTaskBytes = 8;

 private:
  // raw_object: inside a tool_use block's `input` object (Messages JSON), copied whole.
  enum class State : std::uint8_t { out, in_string, after_key, value, raw_object };
  enum class Key : std::uint8_t {
    none,
    content,
    text,
    delta,
    completion_tokens,
    output_tokens,
    id,
    arguments,
    partial_json,
    input
  };

  static Key key_of(std::string_view s) noexcept;
  static constexpr std::uint8_t key_bit(Key k) {
    return std::uint8_t(1u << unsigned(k));
  }  // a closed string's key, if one we want
  void lex(std::string_view piece);
  void capture(const char* p, std::size_t n, bool closed);
  void find_usage(std::string_view piece);
  // Reads `"<usage key>" ws : ws digits` at `key` in [begin, end); false when the data ends
  // before the value does. `before` is what precedes `begin` (for counting backslashes).
  bool read_usage(const char* begin, const char* key, const char* end, std::string_view before);

  void capture_args(const char* p, std::size_t n);
  const char* copy_object(const char* p, const char* end);
  void start_lexing_json(std::string_view piece);

  bool stream_ = false;
  bool lex_json_ = false;        // a JSON body with tool calls: lexed from there on
  bool args_capturing_ = false;  // inside a tool call's arguments string
  bool tool_call_ = false;       // a tool call's arguments or input was reached
  std::string args_;             // their raw (still escaped) contents, concatenated
  std::string objects_;          // Messages' tool_use inputs, as JSON text
  std::uint32_t object_depth_ = 0;
  bool object_in_string_ = false;
  bool object_escape_ = false;
  bool output_tokens_ = false;
  // Responses: JSON bodies go through the lexer too, and the first "id" value is kept.
  bool capture_id_ = false;
  bool capturing_ = false;  // inside the id's string value
  bool id_tried_ = false;   // the first id's value was reached (kept or not)
  bool id_done_ = false;
  std::uint8_t id_len_ = 0;
  char id_[kMaxIdBytes] = {};  // usage is "output_tokens" (else "completion_tokens")
  // The keys whose string values are content deltas (key_bit).
  std::uint8_t delta_keys_ = key_bit(Key::content) | key_bit(Key::text);
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
  // JSON bodies: the last bytes fed, so a key split between pieces is searched again whole.
  static constexpr std::size_t kCarry = 128;
  std::uint8_t carry_len_ = 0;
  char carry_[kCarry] = {};
};

}  // namespace augur::proxy
