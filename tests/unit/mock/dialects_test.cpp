// The mock upstream's Responses and Messages dialects as pure functions: what
// scan_dialect_request() reads from a request, and that the bodies and SSE events the builders
// write parse as JSON (with simdjson), come in the real APIs' order and report as many output
// tokens as they send.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "loadtest/mock/request_scan.hpp"
#include "loadtest/mock/responses.hpp"

namespace {

using augur::mock::Dialect;
using augur::mock::DialectInfo;
using augur::mock::scan_dialect_request;

struct Event {
  std::string type;  // the "event:" line
  std::string data;  // the "data:" line
};

// Splits an SSE text into events, failing the test on anything but "event:"+"data:" pairs.
std::vector<Event> split_events(std::string_view text) {
  std::vector<Event> events;
  while (!text.empty()) {
    const std::size_t end = text.find("\n\n");
    REQUIRE(end != std::string_view::npos);
    const std::string_view block = text.substr(0, end);
    text.remove_prefix(end + 2);
    const std::size_t nl = block.find('\n');
    REQUIRE(nl != std::string_view::npos);
    const std::string_view event_line = block.substr(0, nl), data_line = block.substr(nl + 1);
    REQUIRE(event_line.starts_with("event: "));
    REQUIRE(data_line.starts_with("data: "));
    REQUIRE(data_line.find('\n') == std::string_view::npos);
    events.push_back({std::string(event_line.substr(7)), std::string(data_line.substr(6))});
  }
  return events;
}

// The whole stream of `info`: prelude, every delta, epilogue.
std::string whole_stream(const DialectInfo& info) {
  std::string out;
  augur::mock::append_dialect_prelude(out, info);
  for (std::int64_t i = 0; i < augur::mock::dialect_delta_count(info); ++i) {
    augur::mock::append_dialect_delta(out, info, i);
  }
  augur::mock::append_dialect_epilogue(out, info);
  return out;
}

std::string whole_body(const DialectInfo& info) {
  std::string out;
  augur::mock::append_dialect_open(out, info);
  out += '}';
  return out;
}

simdjson::dom::element parse(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::element doc;
  REQUIRE_MESSAGE(parser.parse(json).get(doc) == simdjson::SUCCESS, json);
  return doc;
}

std::string str(simdjson::dom::element e, std::string_view pointer) {
  std::string_view v;
  REQUIRE_MESSAGE(e.at_pointer(pointer).get(v) == simdjson::SUCCESS, pointer);
  return std::string(v);
}

std::int64_t num(simdjson::dom::element e, std::string_view pointer) {
  std::int64_t v = 0;
  REQUIRE_MESSAGE(e.at_pointer(pointer).get(v) == simdjson::SUCCESS, pointer);
  return v;
}

bool is_null(simdjson::dom::element e, std::string_view pointer) {
  simdjson::dom::element v;
  REQUIRE_MESSAGE(e.at_pointer(pointer).get(v) == simdjson::SUCCESS, pointer);
  return v.is_null();
}

DialectInfo info_for(Dialect dialect, std::int64_t tokens) {
  DialectInfo info;
  info.dialect = dialect;
  info.id = 7;
  info.created = 1700000000;
  info.model = "m\\u00e9";
  info.seed = 3;
  info.input_tokens = 11;
  info.output_tokens = tokens;
  return info;
}

}  // namespace

TEST_CASE("scan_dialect_request: Responses fields") {
  const auto f = scan_dialect_request(
      R"({"model":"gpt-x","input":[{"role":"user","content":"hi"},)"
      R"({"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},)"
      R"({"type":"function_call_output","call_id":"c1",)"
      R"("output":"{\"type\":\"function_call_output\"}"},)"
      R"({"type":"function_call_output","call_id":"c2","output":"x"}],)"
      R"("instructions":"be\nbrief","stream":true,"max_output_tokens":5,)"
      R"("tools":[{"type":"web_search"},{"type":"function","name":"get_weather"}],)"
      R"("previous_response_id":"resp_abc"})",
      Dialect::responses);
  CHECK(f.is_object);
  CHECK(f.stream);
  CHECK(f.model == "gpt-x");
  REQUIRE(f.max_tokens);
  CHECK(*f.max_tokens == 5);
  CHECK(f.max_tokens_raw == "5");
  CHECK(f.instructions == R"("be\nbrief")");
  CHECK(f.tool_name == "get_weather");
  CHECK(f.previous_response_id == "resp_abc");
  // Two items of that type; the one inside an output string does not count.
  CHECK(f.tool_results == 2);
}

TEST_CASE("scan_dialect_request: Responses defaults and odd shapes") {
  auto f = scan_dialect_request(R"({"input":"just text","previous_response_id":null})",
                                Dialect::responses);
  CHECK(f.is_object);
  CHECK_FALSE(f.stream);
  CHECK(f.model.empty());
  CHECK_FALSE(f.max_tokens);
  CHECK(f.instructions.data() == nullptr);
  CHECK(f.tools.data() == nullptr);
  CHECK(f.previous_response_id.data() == nullptr);
  CHECK(f.tool_name.empty());
  CHECK(f.tool_results == 0);
  // max_tokens is the Messages name; Responses reads max_output_tokens only.
  f = scan_dialect_request(R"({"max_tokens":3})", Dialect::responses);
  CHECK_FALSE(f.max_tokens);
  // Chat Completions-shaped tools name the function one level down.
  f = scan_dialect_request(R"({"tools":[{"type":"function","function":{"name":"lookup"}}]})",
                           Dialect::responses);
  CHECK(f.tool_name == "lookup");
  CHECK_FALSE(scan_dialect_request(R"({"input":"x",})", Dialect::responses).is_object);
  CHECK_FALSE(scan_dialect_request(R"([1])", Dialect::responses).is_object);
  CHECK_FALSE(scan_dialect_request(R"({"a":1} x)", Dialect::messages).is_object);
}

TEST_CASE("scan_dialect_request: Messages fields") {
  const auto f = scan_dialect_request(
      R"({"model":"claude","max_tokens":64,"system":[{"type":"text","text":"sys"}],)"
      R"("tools":[{"name":"get_weather","input_schema":{"type":"object"}}],"stream":true,)"
      R"("messages":[{"role":"user","content":"hi"},)"
      R"({"role":"assistant",)"
      R"("content":[{"type":"tool_use","id":"t1","name":"get_weather","input":{}}]},)"
      R"({"content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"},)"
      R"({"type":"text","text":"and"}],"role":"user"},)"
      R"({"role":"assistant","content":[{"type":"tool_result","tool_use_id":"x"}]}]})",
      Dialect::messages);
  CHECK(f.is_object);
  CHECK(f.stream);
  CHECK(f.model == "claude");
  REQUIRE(f.max_tokens);
  CHECK(*f.max_tokens == 64);
  CHECK(f.instructions == R"([{"type":"text","text":"sys"}])");
  CHECK(f.tool_name == "get_weather");
  // Only user messages' tool_result blocks count (role after content too).
  CHECK(f.tool_results == 1);
  CHECK_FALSE(
      scan_dialect_request(R"({"max_output_tokens":3})", Dialect::messages).max_tokens.has_value());
}

TEST_CASE("Responses body: a completed response whose usage counts its words") {
  simdjson::dom::parser parser;
  auto info = info_for(Dialect::responses, 5);
  info.previous_response_id = "resp_prev";
  info.instructions = "\"be\\nbrief\"";
  info.tools = "[\n{\"type\":\"function\",\"name\":\"f\"}\n]";
  const std::string body = whole_body(info);
  CHECK(body.find('\n') == std::string::npos);
  const auto doc = parse(parser, body);
  CHECK(str(doc, "/id") == "resp_mock-7");
  CHECK(str(doc, "/object") == "response");
  CHECK(num(doc, "/created_at") == 1700000000);
  CHECK(str(doc, "/status") == "completed");
  CHECK(str(doc, "/model") == "m\xc3\xa9");
  CHECK(str(doc, "/previous_response_id") == "resp_prev");
  CHECK(str(doc, "/instructions") == "be\nbrief");
  CHECK(str(doc, "/tools/0/name") == "f");
  CHECK(is_null(doc, "/incomplete_details"));
  CHECK(str(doc, "/output/0/type") == "message");
  CHECK(str(doc, "/output/0/id") == "msg_mock-7");
  CHECK(str(doc, "/output/0/role") == "assistant");
  CHECK(str(doc, "/output/0/content/0/type") == "output_text");
  const std::string text = str(doc, "/output/0/content/0/text");
  CHECK(std::count(text.begin(), text.end(), ' ') == 5);
  CHECK(num(doc, "/usage/input_tokens") == 11);
  CHECK(num(doc, "/usage/output_tokens") == 5);
  CHECK(num(doc, "/usage/total_tokens") == 16);

  info.previous_response_id = {};
  info.truncated = true;
  const auto cut = parse(parser, whole_body(info));
  CHECK(is_null(cut, "/previous_response_id"));
  CHECK(str(cut, "/status") == "incomplete");
  CHECK(str(cut, "/incomplete_details/reason") == "max_output_tokens");
}

TEST_CASE("Responses stream: event order, sequence numbers, deltas match usage") {
  simdjson::dom::parser parser;
  for (const std::int64_t tokens : {0, 1, 6}) {
    CAPTURE(tokens);
    const auto info = info_for(Dialect::responses, tokens);
    const auto events = split_events(whole_stream(info));
    std::vector<std::string> expected = {"response.created", "response.in_progress",
                                         "response.output_item.added",
                                         "response.content_part.added"};
    for (std::int64_t i = 0; i < tokens; ++i) expected.push_back("response.output_text.delta");
    for (const auto* t : {"response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"}) {
      expected.push_back(t);
    }
    REQUIRE(events.size() == expected.size());
    std::string deltas;
    for (std::size_t i = 0; i < events.size(); ++i) {
      CHECK(events[i].type == expected[i]);
      const auto doc = parse(parser, events[i].data);
      CHECK(str(doc, "/type") == events[i].type);
      CHECK(num(doc, "/sequence_number") == static_cast<std::int64_t>(i));
      if (events[i].type == "response.output_text.delta") {
        CHECK(str(doc, "/item_id") == "msg_mock-7");
        CHECK(num(doc, "/output_index") == 0);
        CHECK(num(doc, "/content_index") == 0);
        deltas += str(doc, "/delta");
      }
    }
    const auto created = parse(parser, events.front().data);
    CHECK(str(created, "/response/status") == "in_progress");
    CHECK(is_null(created, "/response/usage"));
    const auto done = parse(parser, events[events.size() - 4].data);
    CHECK(str(done, "/text") == deltas);
    const auto completed = parse(parser, events.back().data);
    CHECK(str(completed, "/response/status") == "completed");
    CHECK(str(completed, "/response/output/0/content/0/text") == deltas);
    CHECK(num(completed, "/response/usage/output_tokens") == tokens);
  }
}

TEST_CASE("Responses tool call: a function_call item, its argument events, one output token") {
  simdjson::dom::parser parser;
  auto info = info_for(Dialect::responses, 9);
  info.tool_call = true;
  info.tool_name = "get_weather";
  const auto body = parse(parser, whole_body(info));
  CHECK(str(body, "/output/0/type") == "function_call");
  CHECK(str(body, "/output/0/id") == "fc_mock-7");
  CHECK(str(body, "/output/0/call_id") == "call_mock-7");
  CHECK(str(body, "/output/0/name") == "get_weather");
  CHECK(str(body, "/output/0/arguments") == "{}");
  CHECK(str(body, "/output/0/status") == "completed");
  CHECK(num(body, "/usage/output_tokens") == 1);

  const auto events = split_events(whole_stream(info));
  const std::vector<std::string> expected = {"response.created",
                                             "response.in_progress",
                                             "response.output_item.added",
                                             "response.function_call_arguments.delta",
                                             "response.function_call_arguments.done",
                                             "response.output_item.done",
                                             "response.completed"};
  REQUIRE(events.size() == expected.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].type == expected[i]);
    const auto doc = parse(parser, events[i].data);
    CHECK(num(doc, "/sequence_number") == static_cast<std::int64_t>(i));
  }
  CHECK(str(parse(parser, events[2].data), "/item/arguments").empty());
  CHECK(str(parse(parser, events[3].data), "/delta") == "{}");
  CHECK(str(parse(parser, events[4].data), "/name") == "get_weather");
  CHECK(num(parse(parser, events[6].data), "/response/usage/output_tokens") == 1);
}

TEST_CASE("Messages body and stream") {
  simdjson::dom::parser parser, body_parser;  // a parse invalidates the parser's last document
  auto info = info_for(Dialect::messages, 4);
  const auto body = parse(body_parser, whole_body(info));
  CHECK(str(body, "/id") == "msg_mock-7");
  CHECK(str(body, "/type") == "message");
  CHECK(str(body, "/role") == "assistant");
  CHECK(str(body, "/content/0/type") == "text");
  CHECK(str(body, "/stop_reason") == "end_turn");
  CHECK(is_null(body, "/stop_sequence"));
  CHECK(num(body, "/usage/input_tokens") == 11);
  CHECK(num(body, "/usage/output_tokens") == 4);

  const auto events = split_events(whole_stream(info));
  const std::vector<std::string> expected = {
      "message_start",       "content_block_start", "ping",
      "content_block_delta", "content_block_delta", "content_block_delta",
      "content_block_delta", "content_block_stop",  "message_delta",
      "message_stop"};
  REQUIRE(events.size() == expected.size());
  std::string text;
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].type == expected[i]);
    const auto doc = parse(parser, events[i].data);
    CHECK(str(doc, "/type") == events[i].type);
    if (events[i].type == "content_block_delta") {
      CHECK(str(doc, "/delta/type") == "text_delta");
      text += str(doc, "/delta/text");
    }
  }
  CHECK(text == str(body, "/content/0/text"));
  const auto start = parse(parser, events[0].data);
  CHECK(num(start, "/message/usage/input_tokens") == 11);
  CHECK(num(start, "/message/usage/output_tokens") == 1);
  CHECK(is_null(start, "/message/stop_reason"));
  const auto delta = parse(parser, events[8].data);
  CHECK(str(delta, "/delta/stop_reason") == "end_turn");
  CHECK(num(delta, "/usage/output_tokens") == 4);

  info.truncated = true;
  CHECK(str(parse(parser, whole_body(info)), "/stop_reason") == "max_tokens");
}

TEST_CASE("Messages tool call: a tool_use block, input_json_delta, stop_reason tool_use") {
  simdjson::dom::parser parser;
  auto info = info_for(Dialect::messages, 4);
  info.tool_call = true;
  info.tool_name = "get_weather";
  const auto body = parse(parser, whole_body(info));
  CHECK(str(body, "/content/0/type") == "tool_use");
  CHECK(str(body, "/content/0/id") == "toolu_mock-7");
  CHECK(str(body, "/content/0/name") == "get_weather");
  simdjson::dom::object input;
  REQUIRE(body.at_pointer("/content/0/input").get(input) == simdjson::SUCCESS);
  CHECK(input.size() == 0);
  CHECK(str(body, "/stop_reason") == "tool_use");
  CHECK(num(body, "/usage/output_tokens") == 1);

  const auto events = split_events(whole_stream(info));
  REQUIRE(events.size() == 7);
  CHECK(str(parse(parser, events[1].data), "/content_block/type") == "tool_use");
  const auto delta = parse(parser, events[3].data);
  CHECK(str(delta, "/delta/type") == "input_json_delta");
  CHECK(str(delta, "/delta/partial_json") == "{}");
  CHECK(str(parse(parser, events[5].data), "/delta/stop_reason") == "tool_use");
}

TEST_CASE("Anthropic error body") {
  simdjson::dom::parser parser;
  std::string out;
  augur::mock::append_anthropic_error_body(out, "bad \"x\"", 529);
  const auto doc = parse(parser, out);
  CHECK(str(doc, "/type") == "error");
  CHECK(str(doc, "/error/type") == "overloaded_error");
  CHECK(str(doc, "/error/message") == "bad \"x\"");
}
