// Cost of run inference per LLM call (issue: under 15 us for a 40-message, 32 KiB conversation;
// also 8 messages, 3.4 KB, the largest body of bench_proxy.sh --headerless):
// reading the conversation's shape from the parsed body (the body parse augur does anyway is
// measured apart) and the table's continue-or-start decision.
#include <benchmark/benchmark.h>

#include <string>

#include "proxy/context/call_context.hpp"
#include "proxy/context/conversations.hpp"
#include "proxy/context/request_info.hpp"

namespace {

using namespace augur::proxy;

// A chat conversation of `messages` messages totalling about `bytes`: a system prompt, a task,
// then assistant tool calls and tool results in turn, as an agent loop sends them.
std::string conversation(int messages, std::size_t bytes, int variant = 0) {
  const std::size_t each = bytes / static_cast<std::size_t>(messages);
  const auto text = [&](int i) {
    std::string t = "step " + std::to_string(i) + " of run " + std::to_string(variant) + ": ";
    while (t.size() < each - 80) t += "the agent reads the tool result and decides what next ";
    return t.substr(0, each - 80);
  };
  std::string body = R"({"model":"m","stream":true,"tools":[)"
                     R"({"type":"function","function":{"name":"search","parameters":{}}},)"
                     R"({"type":"function","function":{"name":"summarize","parameters":{}}}],)"
                     R"("messages":[{"role":"system","content":")" +
                     text(0) + "\"}";
  body += R"(,{"role":"user","content":")" + text(1) + "\"}";
  for (int i = 2; i < messages; ++i) {
    if (i % 2 == 0) {
      body += R"(,{"role":"assistant","content":null,"tool_calls":[{"id":"call_)" +
              std::to_string(i) +
              R"(","type":"function","function":{"name":"search",)"
              R"("arguments":"{\"q\":\")" +
              text(i).substr(0, 60) + R"(\"}"}}]})";
    } else {
      body += R"(,{"role":"tool","tool_call_id":"call_)" + std::to_string(i - 1) +
              R"(","content":")" + text(i) + "\"}";
    }
  }
  return body + "]}";
}

void BM_ParseBodyWithoutInference(benchmark::State& state) {
  const std::string body =
      conversation(static_cast<int>(state.range(0)), static_cast<std::size_t>(state.range(1)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(parse_request_body(body, Dialect::none));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ParseBodyWithoutInference)->Args({40, 32 * 1024})->Args({8, 3400});

void BM_ParseBodyWithConversation(benchmark::State& state) {
  const std::string body =
      conversation(static_cast<int>(state.range(0)), static_cast<std::size_t>(state.range(1)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(parse_request_body(body, Dialect::chat_completions));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ParseBodyWithConversation)->Args({40, 32 * 1024})->Args({8, 3400});

// The whole inference step on a parsed body: find the run the conversation extends (39 probes
// before the hit), name the agent, remember the call, count it in the run table.
void BM_InferRun(benchmark::State& state) {
  const std::string body = conversation(40, 32 * 1024);
  RunTable runs(100000, std::chrono::seconds(30));
  ConversationTable table(100000);
  const RequestHead head;
  const RequestInfo info = parse_request_body(body, Dialect::chat_completions);
  // Other conversations in the table, as on a busy proxy.
  for (int v = 1; v <= 1000; ++v) {
    const RequestInfo other =
        parse_request_body(conversation(4, 2048, v), Dialect::chat_completions);
    extract_context(head, other, runs, Clock::now(), &table);
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(extract_context(head, info, runs, Clock::now(), &table));
  }
}
BENCHMARK(BM_InferRun);

}  // namespace

BENCHMARK_MAIN();
