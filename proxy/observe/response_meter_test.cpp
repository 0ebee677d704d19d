#include "proxy/observe/response_meter.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "common/text_hash.hpp"

using augur::proxy::ResponseMeter;

namespace {

// Feeds `body` in pieces of `step` bytes; returns the index of the piece that held the first token.
int feed_in_pieces(ResponseMeter& m, const std::string& body, std::size_t step) {
  int first = -1;
  for (std::size_t at = 0, piece = 0; at < body.size(); at += step, ++piece) {
    if (m.feed(std::string_view(body).substr(at, step)) && first < 0)
      first = static_cast<int>(piece);
  }
  return first;
}

const std::string kStream =
    "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"lo \\\"q\\\"\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\": \"!\"},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
    "data: [DONE]\n\n";

}  // namespace

TEST_CASE("a JSON body's usage.completion_tokens is the output token count") {
  const std::string body =
      R"({"id":"x","choices":[{"message":{"role":"assistant","content":"completion_tokens"}}],)"
      R"("usage":{"prompt_tokens":12,"completion_tokens": 345,"total_tokens":357}})";
  for (std::size_t step : {1u, 2u, 7u, 4096u}) {
    ResponseMeter m;
    m.reset(false);
    CHECK(feed_in_pieces(m, body, step) == -1);  // no first token outside streams
    CHECK(m.output_tokens() == 345u);
  }
}

TEST_CASE("a stream without usage counts its non-empty content deltas, wherever reads split it") {
  for (std::size_t step : {1u, 3u, 16u, 4096u}) {
    ResponseMeter m;
    m.reset(true);
    const int first = feed_in_pieces(m, kStream, step);
    CHECK(m.output_tokens() == 3u);
    // The first token is in the second event, not the role-only first one.
    const auto piece_start = static_cast<std::size_t>(first) * step;
    CHECK(piece_start <= kStream.find("Hel"));
    CHECK(kStream.find("Hel") < piece_start + step);
  }
}

TEST_CASE("a stream's final usage chunk wins over counted deltas") {
  ResponseMeter m;
  m.reset(true);
  m.feed(kStream.substr(0, kStream.size() - 14));
  m.feed("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":42}}\n\n");
  m.feed("data: [DONE]\n\n");
  CHECK(m.output_tokens() == 42u);
}

TEST_CASE("legacy completions streams count text deltas; bodies without tokens give none") {
  ResponseMeter m;
  m.reset(true);
  CHECK(m.feed(
      "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"choices\":[{\"text\":\"b\"}]}\n\n"));
  CHECK(m.output_tokens() == 2u);

  ResponseMeter none;
  none.reset(false);
  none.feed("<html>not json at all \" \\ \"content\": \"x\"</html>");
  CHECK_FALSE(none.output_tokens().has_value());

  ResponseMeter error;
  error.reset(true);
  error.feed("data: {\"error\":{\"message\":\"boom\",\"content\":null}}\n\n");
  CHECK_FALSE(error.output_tokens().has_value());
}

TEST_CASE("reset starts a new response") {
  ResponseMeter m;
  m.reset(true);
  m.feed(kStream);
  m.reset(false);
  CHECK_FALSE(m.output_tokens().has_value());
  m.feed(R"({"usage":{"completion_tokens":7}})");
  CHECK(m.output_tokens() == 7u);
}

namespace {

using augur::proxy::Dialect;

// OpenAI Responses, streamed: deltas in response.output_text.delta, the full text again in the
// done events, usage only in response.completed.
const std::string kResponsesStream =
    "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,"
    "\"response\":{\"id\":\"resp_1\",\"output\":[],\"usage\":null}}\n\n"
    "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
    "\"sequence_number\":1,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,"
    "\"delta\":\"Hel\"}\n\n"
    "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
    "\"sequence_number\":2,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,"
    "\"delta\":\"lo\"}\n\n"
    "event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\","
    "\"sequence_number\":3,\"text\":\"Hello\"}\n\n";
const std::string kResponsesCompleted =
    "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":4,"
    "\"response\":{\"id\":\"resp_1\",\"output\":[{\"type\":\"message\",\"content\":[{\"type\":"
    "\"output_text\",\"text\":\"Hello\"}]}],\"usage\":{\"input_tokens\":9,\"output_tokens\":7,"
    "\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":16}}}\n\n";

// Anthropic Messages, streamed: message_start carries an early output_tokens, message_delta the
// final one; text arrives in content_block_delta's text_delta.
const std::string kMessagesStream =
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
    "\"content\":[],\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: ping\ndata: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\" there\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
const std::string kMessagesEnd =
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
    "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":12}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

}  // namespace

TEST_CASE("Responses: usage.output_tokens of a JSON body, not completion_tokens") {
  const std::string body =
      R"({"id":"resp_1","object":"response","output":[{"type":"message","content":[{"type":)"
      R"("output_text","text":"\"completion_tokens\": 3"}]}],"usage":{"input_tokens":5,)"
      R"("output_tokens":41,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":46}})";
  for (std::size_t step : {1u, 5u, 4096u}) {
    ResponseMeter m;
    m.reset(false, Dialect::responses);
    feed_in_pieces(m, body, step);
    CHECK(m.output_tokens() == 41u);
  }
  ResponseMeter chat;  // the same body read as chat completions has no usage of its own
  chat.reset(false, Dialect::chat_completions);
  chat.feed(body);
  CHECK(!chat.output_tokens());
}

TEST_CASE("Responses stream: deltas time the first token, response.completed's usage counts") {
  for (std::size_t step : {1u, 7u, 4096u}) {
    ResponseMeter m;
    m.reset(true, Dialect::responses);
    const int first = feed_in_pieces(m, kResponsesStream, step);
    // Without usage yet: the two deltas, not the done event's full text.
    CHECK(m.output_tokens() == 2u);
    const auto piece_start = static_cast<std::size_t>(first) * step;
    CHECK(piece_start <= kResponsesStream.find("Hel"));
    CHECK(kResponsesStream.find("Hel") < piece_start + step);
    feed_in_pieces(m, kResponsesCompleted, step);
    CHECK(m.output_tokens() == 7u);
  }
}

TEST_CASE("Messages: usage.output_tokens of a JSON body") {
  const std::string body =
      R"({"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":)"
      R"("hi"}],"stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":23}})";
  ResponseMeter m;
  m.reset(false, Dialect::messages);
  m.feed(body);
  CHECK(m.output_tokens() == 23u);
}

TEST_CASE("Messages stream: text deltas time the first token, the final message_delta counts") {
  for (std::size_t step : {1u, 9u, 4096u}) {
    ResponseMeter m;
    m.reset(true, Dialect::messages);
    const int first = feed_in_pieces(m, kMessagesStream, step);
    // message_start's early output_tokens (1) is what is known before the end.
    CHECK(m.output_tokens() == 1u);
    const auto piece_start = static_cast<std::size_t>(first) * step;
    CHECK(piece_start <= kMessagesStream.find("Hi"));
    CHECK(kMessagesStream.find("Hi") < piece_start + step);
    feed_in_pieces(m, kMessagesEnd, step);
    CHECK(m.output_tokens() == 12u);
  }
}

TEST_CASE("a chat stream is read as before: content deltas, completion_tokens usage") {
  ResponseMeter m;
  m.reset(true, Dialect::chat_completions);
  m.feed(kStream);
  CHECK(m.output_tokens() == 3u);
  m.feed("data: {\"usage\":{\"output_tokens\":99,\"completion_tokens\":4}}\n\n");
  CHECK(m.output_tokens() == 4u);
}

TEST_CASE("Responses: the response's id is read from a JSON body and from a stream") {
  const std::string body =
      R"({"id":"resp_abc123","object":"response","output":[{"type":"message","id":"msg_9",)"
      R"("content":[{"type":"output_text","text":"hi"}]}],"usage":{"output_tokens":3}})";
  for (std::size_t step : {1u, 4u, 4096u}) {
    ResponseMeter m;
    m.reset(false, Dialect::responses);
    feed_in_pieces(m, body, step);
    CHECK(m.response_id() == "resp_abc123");  // the response's, not the message's
    CHECK(m.output_tokens() == 3u);
  }
  for (std::size_t step : {1u, 13u, 4096u}) {
    ResponseMeter m;
    m.reset(true, Dialect::responses);
    feed_in_pieces(m, kResponsesStream, step);
    CHECK(m.response_id() == "resp_1");
  }
  ResponseMeter chat;  // other dialects keep no id
  chat.reset(false, Dialect::chat_completions);
  chat.feed(body);
  CHECK(chat.response_id().empty());
}

TEST_CASE("Responses: an id with an escape, or longer than the bound, is not kept") {
  ResponseMeter escaped;
  escaped.reset(false, Dialect::responses);
  // The message's id later in the body is not taken for the response's.
  escaped.feed(R"({"id":"resp_\u0041","output":[{"id":"msg_1"}],"usage":{"output_tokens":1}})");
  CHECK(escaped.response_id().empty());
  ResponseMeter long_id;
  long_id.reset(false, Dialect::responses);
  long_id.feed(R"({"id":")" + std::string(ResponseMeter::kMaxIdBytes + 1, 'x') + R"("})");
  CHECK(long_id.response_id().empty());
  ResponseMeter fits;
  fits.reset(false, Dialect::responses);
  fits.feed(R"({"id":")" + std::string(ResponseMeter::kMaxIdBytes, 'x') + R"("})");
  CHECK(fits.response_id().size() == ResponseMeter::kMaxIdBytes);
}

namespace {

// The task hashes a response's tool calls hand out, fed in pieces of `step` bytes.
std::vector<std::uint64_t> tasks_of(const std::string& body, bool stream, augur::proxy::Dialect d,
                                    std::size_t step) {
  ResponseMeter m;
  m.reset(stream, d);
  feed_in_pieces(m, body, step);
  return m.tool_tasks();
}

// Whether the response made a tool call, fed in pieces of `step` bytes.
bool tool_call_of(const std::string& body, bool stream, augur::proxy::Dialect d, std::size_t step) {
  ResponseMeter m;
  m.reset(stream, d);
  feed_in_pieces(m, body, step);
  return m.tool_call();
}

const std::string kTaskText = "Research the history of Lisbon trams";

}  // namespace

TEST_CASE("tool calls' argument texts are read in every dialect, streamed or not") {
  using augur::proxy::Dialect;
  const std::vector<std::uint64_t> want = {augur::hash_words(kTaskText, false)};
  const std::string chat_json =
      R"({"id":"c","choices":[{"message":{"role":"assistant","content":null,"tool_calls":[)"
      R"({"id":"call_1","type":"function","function":{"name":"research","arguments":)"
      R"("{\"input\":\"Research the history of Lisbon trams\"}"}}]},"finish_reason":"tool_calls"}],)"
      R"("usage":{"completion_tokens":16}})";
  const std::string chat_stream =
      "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"function\":"
      "{\"name\":\"research\",\"arguments\":\"{\\\"input\\\":\\\"Resear\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
      "\"ch the history of Lisbon trams\\\"}\"}}]}}]}\n\n"
      "data: [DONE]\n\n";
  const std::string responses_json =
      R"({"id":"resp_1","output":[{"type":"function_call","id":"fc_1","call_id":"call_1",)"
      R"("name":"research","arguments":"{\"input\":\"Research the history of Lisbon trams\"}"}],)"
      R"("usage":{"output_tokens":16}})";
  const std::string messages_stream =
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
      "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"input\\\":\\\"Resear\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
      "{\"type\":\"input_json_delta\",\"partial_json\":\"ch the history of Lisbon trams\\\"}\"}}"
      "\n\n";
  const std::string messages_json =
      R"({"id":"msg_1","content":[{"type":"tool_use","id":"toolu_1","name":"research",)"
      R"("input":{"input":"Research the history of Lisbon trams","depth":{"n":[1,"}"]}}}],)"
      R"("usage":{"input_tokens":3,"output_tokens":16}})";
  for (std::size_t step : {1, 7, 4096}) {
    CAPTURE(step);
    CHECK(tasks_of(chat_json, false, Dialect::chat_completions, step) == want);
    CHECK(tasks_of(chat_stream, true, Dialect::chat_completions, step) == want);
    CHECK(tasks_of(responses_json, false, Dialect::responses, step) == want);
    CHECK(tasks_of(messages_stream, true, Dialect::messages, step) == want);
    CHECK(tasks_of(messages_json, false, Dialect::messages, step) == want);
  }
  // The usage after the tool calls is still read.
  ResponseMeter m;
  m.reset(false, Dialect::chat_completions);
  m.feed(chat_json);
  CHECK(m.output_tokens() == 16u);
  m.reset(false, Dialect::messages);
  m.feed(messages_json);
  CHECK(m.output_tokens() == 16u);
  // No tool calls: no tasks.
  CHECK(tasks_of(kStream, true, Dialect::chat_completions, 5).empty());

  // Each of these makes a tool call; so does one whose arguments are empty.
  for (std::size_t step : {1, 7, 4096}) {
    CAPTURE(step);
    CHECK(tool_call_of(chat_json, false, Dialect::chat_completions, step));
    CHECK(tool_call_of(chat_stream, true, Dialect::chat_completions, step));
    CHECK(tool_call_of(responses_json, false, Dialect::responses, step));
    CHECK(tool_call_of(messages_stream, true, Dialect::messages, step));
    CHECK(tool_call_of(messages_json, false, Dialect::messages, step));
    CHECK(tool_call_of(R"({"choices":[{"message":{"tool_calls":[{"function":{"name":"now",)"
                       R"("arguments":""}}]}}]})",
                       false, Dialect::chat_completions, step));
    CHECK(tool_call_of(R"({"content":[{"type":"tool_use","name":"now","input":{}}]})", false,
                       Dialect::messages, step));
  }
}

TEST_CASE("a final answer makes no tool call, in every dialect, streamed or not") {
  using augur::proxy::Dialect;
  const auto tool_call = [](const std::string& body, bool stream, Dialect d) {
    return tool_call_of(body, stream, d, 3);
  };
  CHECK_FALSE(tool_call(kStream, true, Dialect::chat_completions));
  // vLLM answers plain text with an empty tool_calls list.
  CHECK_FALSE(tool_call(R"({"choices":[{"message":{"content":"Done: the arguments are in.",)"
                        R"("tool_calls":[]},"finish_reason":"stop"}],)"
                        R"("usage":{"completion_tokens":6}})",
                        false, Dialect::chat_completions));
  CHECK_FALSE(tool_call(R"({"id":"resp_1","output":[{"type":"message","content":[{"type":)"
                        R"("output_text","text":"input and arguments"}]}],)"
                        R"("usage":{"output_tokens":3}})",
                        false, Dialect::responses));
  CHECK_FALSE(tool_call(R"({"id":"msg_1","content":[{"type":"text","text":"Sunny"}],)"
                        R"("stop_reason":"end_turn","usage":{"input_tokens":9,"output_tokens":1}})",
                        false, Dialect::messages));
  CHECK_FALSE(
      tool_call("event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
                "{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n"
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                "\"delta\":{\"type\":\"text_delta\",\"text\":\"Sunny\"}}\n\n",
                true, Dialect::messages));
}
