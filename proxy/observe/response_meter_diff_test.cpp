// Differential test of ResponseMeter against the byte-at-a-time lexer it replaced (kept here,
// frozen, as the reference): seeded random and mutated SSE bodies, and valid JSON bodies, fed in
// random piece sizes, must give the same output token count and the same first-token piece. JSON
// bodies are read by a key search that relies on the body being valid JSON; invalid ones are only
// fed (nothing may go wrong), not compared.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/observe/response_meter.hpp"

using augur::proxy::ResponseMeter;

namespace {

// The lexer as it was before the bulk scan (proxy/observe/response_meter.cpp at b4c7f86).
class ReferenceMeter {
 public:
  void reset(bool event_stream) {
    *this = ReferenceMeter{};
    stream_ = event_stream;
  }
  bool feed(std::string_view piece);
  std::optional<std::uint64_t> output_tokens() const {
    if (usage_) return usage_;
    if (stream_ && deltas_ > 0) return deltas_;
    return std::nullopt;
  }

 private:
  enum class State : std::uint8_t { out, in_string, after_key, value };
  enum class Key : std::uint8_t { none, content, text, completion_tokens };

  void end_string();

  bool stream_ = false;
  State state_ = State::out;
  bool escape_ = false;
  Key key_ = Key::none;
  Key last_string_ = Key::none;
  std::uint8_t token_len_ = 0;
  char token_[20] = {};
  bool value_started_ = false;
  std::uint64_t number_ = 0;
  bool in_number_ = false;
  std::optional<std::uint64_t> usage_;
  std::uint64_t deltas_ = 0;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

constexpr std::uint8_t overflowed = 0xff;

void ReferenceMeter::end_string() {
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

// The reference is written as plainly as possible, one loop, for the differential test to trust.
// NOLINTNEXTLINE(readability-function-size)
bool ReferenceMeter::feed(std::string_view piece) {
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

// Fragments that steer random bodies through every lexer state: keys the meter wants (and near
// misses), escapes, numbers, whitespace around colons, SSE framing.
const std::vector<std::string> kFragments = {
    "\"content\"",
    "\"text\"",
    "\"completion_tokens\"",
    "\"completion_tokenz\"",
    "\"contents\"",
    "\"cont\\u0065nt\"",
    ":",
    " : ",
    "\"",
    "\\",
    "\\\"",
    "\\\\",
    "\"\"",
    "null",
    "123",
    " 45 ",
    "9999999999999999999999",
    "{",
    "}",
    "[",
    "]",
    ",",
    "\n\n",
    "data: ",
    "data: [DONE]\n\n",
    " ",
    "\t",
    "\r\n",
    "x",
    "hello world",
    "\"a long string value that runs past the inline scan window of the lexer\"",
    "\"completion_tokens_and_more_than_twenty\""};

std::string random_body(std::mt19937_64& rng) {
  std::string out;
  const std::size_t parts = 1 + rng() % 60;
  for (std::size_t i = 0; i < parts; ++i) {
    if (rng() % 8 == 0) {
      // Runs of escapes: the case where a naive bulk scan goes quadratic or misparses.
      out += '"';
      const std::size_t n = rng() % 200;
      for (std::size_t k = 0; k < n; ++k) out += (rng() % 3 == 0) ? "\\\"" : "\\\\";
      out += '"';
    } else {
      out += kFragments[rng() % kFragments.size()];
    }
  }
  return out;
}

// Realistic bodies: an OpenAI chat completion, and a chat stream with optional usage.
std::string template_body(std::mt19937_64& rng, bool stream) {
  if (!stream) {
    std::string content;
    const std::size_t words = rng() % 300;
    for (std::size_t i = 0; i < words; ++i) content += (rng() % 17 == 0) ? " \\\"q\\\"" : " word";
    return R"({"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"m",)"
           R"("choices":[{"index":0,"message":{"role":"assistant","content":")" +
           content +
           R"("},"logprobs":null,"finish_reason":"stop"}],)"
           R"("usage":{"prompt_tokens":12,"completion_tokens": )" +
           std::to_string(rng() % 100000) + R"(,"total_tokens":99}})";
  }
  std::string out =
      "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n";
  const std::size_t events = rng() % 80;
  for (std::size_t i = 0; i < events; ++i) {
    out += (rng() % 5 == 0) ? "data: {\"choices\":[{\"text\" : \"t\"}]}\n\n"
                            : "data: {\"choices\":[{\"delta\":{\"content\":\" tok\\n\"}}]}\n\n";
  }
  if (rng() % 2 == 0) {
    out +=
        "data: {\"choices\":[],\"usage\":{\"completion_tokens\":" + std::to_string(rng() % 5000) +
        "}}\n\n";
  }
  return out + "data: [DONE]\n\n";
}

void mutate(std::string& body, std::mt19937_64& rng) {
  static constexpr std::string_view kBytes = "\"\\:{}[], \n0123456789abcxyz";
  const std::size_t edits = rng() % 6;
  for (std::size_t e = 0; e < edits && !body.empty(); ++e) {
    const std::size_t at = rng() % body.size();
    const char c = kBytes[rng() % kBytes.size()];
    switch (rng() % 3) {
      case 0:
        body[at] = c;
        break;
      case 1:
        body.insert(body.begin() + static_cast<std::ptrdiff_t>(at), c);
        break;
      default:
        body.erase(at, 1);
    }
  }
}

// Piece sizes from 1 byte to 4 KiB, mostly small so state is carried across many boundaries.
std::vector<std::size_t> random_cuts(std::size_t size, std::mt19937_64& rng) {
  std::vector<std::size_t> cuts;
  for (std::size_t at = 0; at < size;) {
    std::size_t n;
    switch (rng() % 4) {
      case 0:
        n = 1;
        break;
      case 1:
        n = 1 + rng() % 8;
        break;
      case 2:
        n = 1 + rng() % 64;
        break;
      default:
        n = 1 + rng() % 4096;
    }
    n = std::min(n, size - at);
    cuts.push_back(n);
    at += n;
  }
  return cuts;
}

}  // namespace

TEST_CASE("the bulk lexer counts exactly what the byte-at-a-time lexer counted") {
  std::mt19937_64 rng(20240611);
  int counted = 0, first_tokens = 0;  // how often the bodies exercised what is compared
  for (int round = 0; round < 20000; ++round) {
    const bool stream = rng() % 2 == 0;
    std::string body;
    const int kind = static_cast<int>(rng() % 3);
    switch (kind) {
      case 0:
        body = random_body(rng);
        break;
      case 1:
        body = template_body(rng, stream);
        break;
      default:
        body = template_body(rng, stream);
        mutate(body, rng);
    }
    ResponseMeter meter;
    ReferenceMeter reference;
    meter.reset(stream);
    reference.reset(stream);
    std::size_t at = 0;
    for (const std::size_t n : random_cuts(body.size(), rng)) {
      const std::string_view piece = std::string_view(body).substr(at, n);
      at += n;
      const bool got = meter.feed(piece);
      const bool want = reference.feed(piece);
      if (got != want && (stream || kind == 1)) {
        INFO("round ", round, " piece at ", at - n, " body: ", body);
        REQUIRE(got == want);
      }
      first_tokens += want ? 1 : 0;
    }
    if (!stream && kind != 1) continue;  // not valid JSON: the key search promises nothing
    if (meter.output_tokens() != reference.output_tokens()) {
      INFO("round ", round, " stream ", stream, " body: ", body);
      REQUIRE(meter.output_tokens() == reference.output_tokens());
    }
    counted += reference.output_tokens().has_value() ? 1 : 0;
  }
  // The generator reaches both answers, not only "nothing found".
  CHECK(counted > 4000);
  CHECK(first_tokens > 2000);
}

namespace {

// A random valid JSON value: objects whose keys include the ones the meter looks for, strings
// that hold those names behind escaped quotes and backslash runs, numbers, arrays, whitespace.
void json_value(std::mt19937_64& rng, int depth, std::string& out) {
  static const std::vector<std::string> kKeys = {
      "completion_tokens",   "content", "text",  "usage",
      "completion_tokens_x", "id",      "a\\\\", "x\\\"completion_tokens\\\"",
      "completion_token"};
  static const std::vector<std::string> kStrings = {"",
                                                    "hello",
                                                    "\\\"completion_tokens\\\": 7",
                                                    "\\\\",
                                                    "\\\\\\\"completion_tokens\\\":9",
                                                    "completion_tokens",
                                                    "\\u0022completion_tokens\\u0022:3",
                                                    "\\\\\\\\"};
  const auto ws = [&] {
    const std::size_t n = rng() % 4 == 0 ? rng() % 3 : 0;
    for (std::size_t i = 0; i < n; ++i) out += " \n\t\r"[rng() % 4];
  };
  ws();
  const unsigned pick = depth > 4 ? 2 + rng() % 3 : rng() % 5;
  switch (pick) {
    case 0: {
      out += '{';
      const std::size_t n = rng() % 5;
      for (std::size_t i = 0; i < n; ++i) {
        if (i > 0) out += ',';
        ws();
        out += '"' + kKeys[rng() % kKeys.size()] + '"';
        ws();
        out += ':';
        json_value(rng, depth + 1, out);
      }
      ws();
      out += '}';
      break;
    }
    case 1: {
      out += '[';
      const std::size_t n = rng() % 4;
      for (std::size_t i = 0; i < n; ++i) {
        if (i > 0) out += ',';
        json_value(rng, depth + 1, out);
      }
      out += ']';
      break;
    }
    case 2:
      out += std::to_string(rng() % 100000);
      break;
    case 3:
      out += '"' + kStrings[rng() % kStrings.size()] + '"';
      break;
    default:
      out += rng() % 2 ? "null" : "true";
  }
  ws();
}

}  // namespace

TEST_CASE("a JSON body's key search finds what the lexer found, wherever reads split it") {
  std::mt19937_64 rng(20261124);
  int counted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string body = "{";
    const std::size_t n = 1 + rng() % 4;
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) body += ',';
      body += rng() % 3 == 0 ? "\"completion_tokens\"" : "\"usage\"";
      body += rng() % 2 ? " : " : ":";
      json_value(rng, 1, body);
    }
    body += '}';
    ResponseMeter meter;
    ReferenceMeter reference;
    meter.reset(false);
    reference.reset(false);
    std::size_t at = 0;
    for (const std::size_t n : random_cuts(body.size(), rng)) {
      const std::string_view piece = std::string_view(body).substr(at, n);
      at += n;
      CHECK_FALSE(meter.feed(piece));
      reference.feed(piece);
    }
    if (meter.output_tokens() != reference.output_tokens()) {
      INFO("round ", round, " body: ", body);
      REQUIRE(meter.output_tokens() == reference.output_tokens());
    }
    counted += reference.output_tokens().has_value() ? 1 : 0;
  }
  CHECK(counted > 3000);
}
