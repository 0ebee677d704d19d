// Inferred run context: the conversation's shape as hashes, and the table that turns shapes into
// runs (continued, new turn, sub-agent), bounded and naming agents.
#include "proxy/context/conversations.hpp"

#include <doctest/doctest.h>

#include <string>

#include "common/text_hash.hpp"
#include "proxy/context/call_context.hpp"

using namespace augur::proxy;

namespace {

std::shared_ptr<const ConversationTable::Place> place(std::string run_id) {
  return std::make_shared<const ConversationTable::Place>(
      ConversationTable::Place{std::move(run_id), {}});
}

ConversationShape shape_of(const std::string& body, Dialect d = Dialect::chat_completions,
                           std::span<const AgentRule> rules = {}) {
  return parse_request_body(body, d, rules).conversation;
}

std::string chat(const std::string& system, const std::string& messages,
                 const std::string& tools = "[]") {
  return R"({"model":"m","tools":)" + tools + R"(,"messages":[{"role":"system","content":")" +
         system + "\"}" + (messages.empty() ? "" : ",") + messages + "]}";
}

const std::string kTask = R"({"role":"user","content":"Find flights to Lisbon"})";
const std::string kAnswer =
    R"({"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",)"
    R"("function":{"name":"search","arguments":"{}"}}]})";
const std::string kResult = R"({"role":"tool","tool_call_id":"c1","content":"3 flights"})";
const std::string kTools = R"([{"type":"function","function":{"name":"search"}}])";

}  // namespace

TEST_CASE("a call that appends the answer and tool results extends the previous call's list") {
  const auto first = shape_of(chat("You book travel.", kTask, kTools));
  const auto second =
      shape_of(chat("You book travel.", kTask + "," + kAnswer + "," + kResult, kTools));
  REQUIRE(first.prefix.size() == 2);
  REQUIRE(second.prefix.size() == 4);
  CHECK(second.prefix[1] == first.prefix.back());
  CHECK(first.agent == second.agent);
  CHECK(second.last_user_turn == 1);  // the tool result is not a user turn
  CHECK(first.task == augur::hash_words("Find  flights to\nLisbon", false));
  CHECK(first.tools == std::vector<std::string>{"search"});
}

TEST_CASE("a RequestInfo parsed into again holds only the new body's facts") {
  const std::string two_tools =
      R"([{"type":"function","function":{"name":"search_incidents_by_service"}},)"
      R"({"type":"function","function":{"name":"read"}}])";
  RequestInfo info;
  parse_request_body(info, chat("You book travel.", kTask, two_tools), Dialect::chat_completions,
                     {}, true);
  REQUIRE(info.conversation.tools.size() == 2);
  REQUIRE(info.conversation.prefix.size() == 2);
  // Fewer tools: the list is trimmed, the reused string holds the new name.
  parse_request_body(info, chat("You book travel.", kTask, kTools), Dialect::chat_completions, {},
                     true);
  CHECK(info.conversation.tools == std::vector<std::string>{"search"});
  CHECK(info ==
        parse_request_body(chat("You book travel.", kTask, kTools), Dialect::chat_completions));
  // Bodies whose conversation is not read leave nothing of the last one.
  struct Case {
    std::string body;
    Dialect dialect;
    bool conversation;
  };
  for (const Case& c :
       {Case{"not json", Dialect::chat_completions, true},
        Case{chat("You book travel.", kTask, two_tools), Dialect::none, true},
        Case{chat("You book travel.", kTask, two_tools), Dialect::chat_completions, false},
        Case{"", Dialect::chat_completions, true}}) {
    parse_request_body(info, chat("You book travel.", kTask, two_tools), Dialect::chat_completions,
                       {}, true);
    parse_request_body(info, c.body, c.dialect, {}, c.conversation);
    CAPTURE(c.body);
    CHECK(info.conversation.tools.empty());
    CHECK(info.conversation.prefix.empty());
    CHECK(info.conversation.agent == 0);
    CHECK(info.conversation.task == 0);
  }
}

TEST_CASE("the agent is its system prompt without words holding digits, and its tool names") {
  const auto a = shape_of(chat("Today is 2026-12-06. Customer 8812.", kTask, kTools));
  const auto b = shape_of(chat("Today is 2027-01-02. Customer 17.", kTask, kTools));
  const auto other_prompt = shape_of(chat("Today is 2026-12-06. Supplier 8812.", kTask, kTools));
  const auto other_tools = shape_of(chat("Today is 2026-12-06. Customer 8812.", kTask, "[]"));
  CHECK(a.agent == b.agent);
  CHECK(a.agent != other_prompt.agent);
  CHECK(a.agent != other_tools.agent);
  // Messages: the top-level system; Responses: instructions. Same text, same agent.
  const auto m = shape_of(
      R"({"model":"m","system":"You book travel.","messages":[{"role":"user","content":"x"}]})",
      Dialect::messages);
  const auto r = shape_of(R"({"model":"m","instructions":"You book travel.","input":"x"})",
                          Dialect::responses);
  CHECK(m.agent == r.agent);
  CHECK(r.prefix.size() == 1);
  CHECK(r.last_user_turn == 0);
}

TEST_CASE("a configured rule names the agent") {
  const std::vector<AgentRule> rules = {{"booker", "book travel", {"search"}},
                                        {"never", "", {"missing_tool"}}};
  CHECK(shape_of(chat("You book travel.", kTask, kTools), Dialect::chat_completions, rules)
            .agent_name == "booker");
  CHECK(shape_of(chat("You book travel.", kTask), Dialect::chat_completions, rules)
            .agent_name.empty());
}

TEST_CASE("bodies of unexpected shapes give an empty or partial shape, never a failure") {
  for (const char* body :
       {R"({"messages":5})", R"({"messages":[1,"x",null,{"role":7}]})", R"({"input":{"a":1}})",
        R"({"messages":[{"role":"user","content":[{"type":"tool_result"}, 3]}]})",
        R"({"messages":[{"role":"user","content":{"text":"x"}}],"tools":[1,{"name":5}]})"}) {
    CAPTURE(body);
    CHECK_NOTHROW(shape_of(body));
  }
  CHECK(shape_of(R"({"messages":5})").prefix.empty());
  CHECK(shape_of(R"({"messages":[1,"x"]})").prefix.size() == 2);
  CHECK(parse_request_body(R"({"messages":[1]})", Dialect::none).conversation.prefix.empty());
}

TEST_CASE("the table continues runs, starts one per new turn and hands tasks to sub-agents") {
  RunTable runs(1000, std::chrono::seconds(30));
  ConversationTable table(1000);
  const auto now = Clock::now();
  RequestHead head;
  const auto call = [&](const std::string& body) {
    RequestInfo info = parse_request_body(body, Dialect::chat_completions);
    return extract_context(head, info, runs, now, &table);
  };
  const std::string sys = "You book travel.";
  const auto c1 = call(chat(sys, kTask, kTools));
  CHECK(c1.source == RunSource::conversation);
  REQUIRE(c1.path.size() == 1);
  CHECK(c1.path[0].rfind("agent-", 0) == 0);
  CHECK(c1.path[0].size() == 14);
  const auto c2 = call(chat(sys, kTask + "," + kAnswer + "," + kResult, kTools));
  CHECK(c2.run_id == c1.run_id);
  CHECK(c2.call_index == 2);
  CHECK(c2.calls_in_run == 2);
  // Another conversation of the same agent: a run of its own on the same path.
  const auto other = call(chat(sys, R"({"role":"user","content":"Find hotels in Porto"})", kTools));
  CHECK(other.run_id != c1.run_id);
  CHECK(other.path == c1.path);
  // A new user turn after the answer: a new run.
  const auto turn = call(chat(sys,
                              kTask + "," + kAnswer + "," + kResult +
                                  R"(,{"role":"assistant","content":"Done."},)"
                                  R"({"role":"user","content":"Now hotels"})",
                              kTools));
  CHECK(turn.run_id != c1.run_id);
  CHECK(turn.calls_in_run == 1);

  // A sub-agent: its first user message is a text the parent's tool call handed out.
  table.add_tasks(
      std::vector<std::uint64_t>{augur::hash_words("Compare fares on 3 airlines", false)},
      {c1.run_id, c1.path});
  const auto sub = call(
      chat("You compare fares.", R"({"role":"user","content":"Compare fares on 3 airlines"})"));
  CHECK(sub.source == RunSource::sub_agent);
  CHECK(sub.run_id == c1.run_id);
  REQUIRE(sub.path.size() == 2);
  CHECK(sub.path[0] == c1.path[0]);
  CHECK(sub.calls_in_run == 3);  // counted in the parent run
  // The agent's own conversation ends its run with a final answer; a sub-agent's does not.
  CHECK(c1.ends_at_answer);
  CHECK(c2.ends_at_answer);
  CHECK_FALSE(sub.ends_at_answer);
  const auto sub2 = call(chat(
      "You compare fares.",
      R"({"role":"user","content":"Compare fares on 3 airlines"},)" + kAnswer + "," + kResult));
  CHECK(sub2.run_id == c1.run_id);
  CHECK(sub2.source == RunSource::conversation);
  CHECK_FALSE(sub2.ends_at_answer);
  // A task starts one sub-agent: the same text again is a new run.
  const auto again = call(
      chat("You compare fares.", R"({"role":"user","content":"Compare fares on 3 airlines"})"));
  CHECK(again.run_id != c1.run_id);

  const auto agents = table.agents();
  REQUIRE(agents.size() == 2);
  CHECK(agents[1].name == c1.path[0]);
  CHECK(agents[1].runs == 3);  // c1's run, the other conversation, the new turn
  CHECK(agents[1].calls == 4);
  const auto events = runs.events();
  CHECK(events[static_cast<int>(RunSource::conversation)].started == 4);
  CHECK(events[static_cast<int>(RunSource::conversation)].continued == 2);  // c2, sub2
  CHECK(events[static_cast<int>(RunSource::sub_agent)].continued == 1);
}

TEST_CASE("conversations are bounded, least recently used first") {
  ConversationTable table(3);
  ConversationShape s;
  s.prefix = {11, 12};
  s.last_user_turn = 0;
  for (std::uint64_t k = 1; k <= 5; ++k) table.remember(k, place("r" + std::to_string(k)));
  CHECK(table.size() == 3);
  table.remember(11, place("r11"));
  CHECK(table.size() == 3);
  const auto found = table.find(s);
  REQUIRE(found);
  CHECK(found->place->run_id == "r11");
  CHECK_FALSE(found->new_turn);
  table.remember(6, place("r6"));
  table.remember(7, place("r7"));
  CHECK(table.find(s));  // found last: the most recently used
  table.remember(8, place("r8"));
  table.remember(9, place("r9"));
  table.remember(10, place("r10"));
  CHECK_FALSE(table.find(s));
}

TEST_CASE("room a finished conversation leaves is used before anything is evicted") {
  ConversationTable table(3);
  table.remember(1, place("r1"));
  table.remember(2, place("r2"));
  table.remember(3, place("r3"));
  const std::vector<std::uint64_t> finished = {3};
  table.forget(finished, "r3");
  CHECK(table.size() == 2);
  table.remember(4, place("r4"));  // fits in r3's room: r1, the oldest, stays
  CHECK(table.size() == 3);
  ConversationShape s;
  s.prefix = {1, 9};
  const auto found = table.find(s);
  REQUIRE(found);
  CHECK(found->place->run_id == "r1");
  table.remember(5, place("r5"));  // full now: r2, the least recently used, makes room
  s.prefix = {2, 9};
  CHECK_FALSE(table.find(s));
  for (const std::uint64_t key : {1, 4, 5}) {
    s.prefix = {key, 9};
    CHECK(table.find(s));
  }
}

TEST_CASE("a finished conversation's calls are forgotten, another run's are kept") {
  ConversationTable table(8);
  // Run r1's conversation: three calls, remembered under its growing list's hashes.
  const std::vector<std::uint64_t> list = {21, 22, 23, 24, 25};
  const auto r1 = place("r1");
  for (const std::uint64_t key : {21, 23, 25}) table.remember(key, r1);
  table.remember(30, place("r2"));  // another conversation
  table.remember(22, place("r3"));  // another run that shares r1's opening
  CHECK(table.size() == 5);
  table.forget(list, "r1");
  CHECK(table.size() == 2);
  ConversationShape s;
  s.prefix = {21, 22, 23, 24, 25, 26};
  const auto found = table.find(s);  // r1's calls are gone; r3's entry is not
  REQUIRE(found);
  CHECK(found->place->run_id == "r3");
  s.prefix = {30, 31};
  CHECK(table.find(s));
}

TEST_CASE("a conversation continues while its run is live, sub-agents included") {
  RunTable runs(1000, std::chrono::seconds(30));
  ConversationTable table(1000);
  RequestHead head;
  const auto t0 = Clock::now();
  const auto call = [&](const std::string& body, Clock::time_point at) {
    RequestInfo info = parse_request_body(body, Dialect::chat_completions);
    return extract_context(head, info, runs, at, &table);
  };
  const std::string sys = "You plan trips.";
  const auto c1 = call(chat(sys, kTask, kTools), t0);
  // The parent waits 50 s for a sub-agent whose calls keep the run busy meanwhile.
  table.add_tasks(
      std::vector<std::uint64_t>{augur::hash_words("Compare fares on 3 airlines", false)},
      {c1.run_id, c1.path});
  for (int s = 20; s <= 40; s += 20) {
    const auto sub = call(chat("You compare fares.",
                               R"({"role":"user","content":"Compare fares on 3 airlines"})" +
                                   std::string(s == 40 ? R"(,{"role":"assistant","content":"a"},)"
                                                         R"({"role":"tool","content":"b"})"
                                                       : ""),
                               "[]"),
                          t0 + std::chrono::seconds(s));
    CHECK(sub.run_id == c1.run_id);
  }
  const auto c2 =
      call(chat(sys, kTask + "," + kAnswer + "," + kResult, kTools), t0 + std::chrono::seconds(50));
  CHECK(c2.run_id == c1.run_id);
  CHECK(c2.calls_in_run == 4);
  // Nothing for longer than the idle timeout: the same conversation is a new run.
  const auto late = call(chat(sys, kTask + "," + kAnswer + "," + kResult + "," + kAnswer, kTools),
                         t0 + std::chrono::seconds(81));
  CHECK(late.run_id != c1.run_id);
}
