// RequestInfo: the body facts augur reads, and that nothing a client sends can make the parse
// throw, crash or claim a non-object body is JSON.
#include "proxy/context/request_info.hpp"

#include <doctest/doctest.h>

#include <string>

using augur::proxy::parse_request_body;

TEST_CASE("reads the fields augur uses") {
  auto info = parse_request_body(R"({
    "model": "llama-3.1-8b", "max_tokens": 256, "stream": true,
    "stream_options": {"include_usage": true},
    "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}],
    "tools": [{"type": "function"}],
    "nvext": {"agent_hints": {"prefix_id": "run-7-d2"}}})");
  CHECK(info.json);
  CHECK(info.model == "llama-3.1-8b");
  REQUIRE(info.max_tokens);
  CHECK(*info.max_tokens == 256);
  CHECK(info.stream);
  CHECK(info.include_usage);
  CHECK(info.message_count == 2);
  CHECK(info.has_tools);
  CHECK(info.has_nvext);
  CHECK(info.nvext_prefix_id == "run-7-d2");
}

TEST_CASE("max_completion_tokens wins over max_tokens; wrong types are ignored") {
  auto info = parse_request_body(
      R"({"max_tokens": 10, "max_completion_tokens": 20, "model": 5, "stream": "yes",
          "tools": [], "messages": {}, "nvext": "x"})");
  CHECK(info.json);
  CHECK(*info.max_tokens == 20);
  CHECK(info.model.empty());
  CHECK_FALSE(info.stream);
  CHECK_FALSE(info.has_tools);
  CHECK(info.message_count == 0);
  CHECK_FALSE(info.has_nvext);
  CHECK(*parse_request_body(R"({"max_tokens": 64.0})").max_tokens == 64);
  CHECK_FALSE(parse_request_body(R"({"max_tokens": 6.5})").max_tokens);
  CHECK_FALSE(parse_request_body(R"({})").max_tokens);
}

TEST_CASE("anything that is not a JSON object is json=false, never an exception") {
  const std::string deep_array(100000, '[');
  std::string deep_object;
  for (int i = 0; i < 5000; ++i) deep_object += R"({"a":)";
  std::string huge = R"({"model":"m","messages":[)";
  for (int i = 0; i < 20000; ++i) huge += R"({"role":"user","content":"hello hello hello"},)";
  huge += "1]";  // unterminated object
  const char* bad_utf8 = "{\"model\":\"\xff\xfe\"}";
  for (std::string body :
       {std::string(), std::string("null"), std::string("[1,2]"), std::string("\"str\""),
        std::string("{\"a\":"), std::string("{}x"), std::string("model=x&y=z"),
        std::string(bad_utf8), deep_array, deep_object, huge, std::string("{\"a\":1}\0", 8)}) {
    CAPTURE(body.substr(0, 40));
    augur::proxy::RequestInfo info;
    CHECK_NOTHROW(info = parse_request_body(body));
    CHECK_FALSE(info.json);
    CHECK(info.model.empty());
  }
  CHECK(parse_request_body("  {\"model\":\"m\"}\n").json);
}

TEST_CASE("a padded body is parsed where it is: only its own bytes count, not what follows") {
  using augur::proxy::kJsonPadding;
  const std::string body = R"({"model":"m","max_tokens":7})";
  // The bytes past the end are the caller's and may hold anything: here, the rest of a longer
  // document, which must not be read as part of this one.
  const std::string whole = body + R"(,"stream":true})" + std::string(kJsonPadding, '}');
  augur::proxy::RequestInfo info;
  parse_request_body(info, std::string_view(whole.data(), body.size()),
                     augur::proxy::Dialect::chat_completions, {}, true, true);
  CHECK(info.json);
  CHECK(info.model == "m");
  CHECK(*info.max_tokens == 7);
  CHECK_FALSE(info.stream);

  // A truncated body stays truncated, whatever its padding would complete it with.
  const std::string cut = R"({"model":"m")";
  const std::string tail = cut + "}" + std::string(kJsonPadding, ' ');
  parse_request_body(info, std::string_view(tail.data(), cut.size()),
                     augur::proxy::Dialect::chat_completions, {}, true, true);
  CHECK_FALSE(info.json);
}
