#include "proxy/observe/response_meter.hpp"

#include <doctest/doctest.h>

#include <string>

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
