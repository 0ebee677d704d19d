// Call context: run id precedence, function path forms, per-(run, path) call indices, run end, idle
// expiry (injected clock) and the run table bound.
#include "proxy/context/call_context.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace http = boost::beast::http;
using namespace augur::proxy;
using namespace std::chrono_literals;
using Path = std::vector<std::string>;

namespace {

RequestInfo body_with_prefix(std::string prefix_id) {
  RequestInfo info;
  info.json = true;
  info.has_nvext = true;
  info.nvext_prefix_id = std::move(prefix_id);
  return info;
}

const Clock::time_point t0 = Clock::time_point{} + 1000h;

}  // namespace

TEST_CASE("run id: x-nat-run-id, then x-prefix-id, then x-dynamo-session-id, then the body") {
  RequestHead h;
  const RequestInfo info = body_with_prefix("body-run-d3");
  CHECK(parse_client_context(h, info).run_id == "body-run");
  h.set("X-Dynamo-Session-Id", "session");
  CHECK(parse_client_context(h, info).run_id == "session");
  h.set("x-prefix-id", "prefix");
  CHECK(parse_client_context(h, info).run_id == "prefix");
  h.set("X-NAT-Run-Id", "nat-run");  // header names are case-insensitive
  CHECK(parse_client_context(h, info).run_id == "nat-run");
  h.set("X-NAT-Run-Id", "   ");  // blank: falls through to the next source
  CHECK(parse_client_context(h, info).run_id == "prefix");
}

TEST_CASE("generated run ids: augur-<16 hex process tag>-<hex counter>, one per call") {
  const std::string a = generate_run_id();
  const std::string b = generate_run_id();
  const auto well_formed = [](const std::string& id) {
    if (id.size() < 24 || id.compare(0, 6, "augur-") != 0 || id[22] != '-') return false;
    const auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
    return std::all_of(id.begin() + 6, id.begin() + 22, hex) &&
           std::all_of(id.begin() + 23, id.end(), hex) && id[23] != '0';
  };
  CHECK(well_formed(a));
  CHECK(well_formed(b));
  CHECK(a.substr(0, 23) == b.substr(0, 23));  // one process tag
  CHECK(std::stoull(b.substr(23), nullptr, 16) == std::stoull(a.substr(23), nullptr, 16) + 1);
}

TEST_CASE("body prefix id: only a trailing -d<digits> is dropped") {
  RequestHead h;
  CHECK(parse_client_context(h, body_with_prefix("abc-d12")).run_id == "abc");
  CHECK(parse_client_context(h, body_with_prefix("abc-d1-d2")).run_id == "abc-d1");
  CHECK(parse_client_context(h, body_with_prefix("abc-d")).run_id == "abc-d");
  CHECK(parse_client_context(h, body_with_prefix("abc-dx1")).run_id == "abc-dx1");
  CHECK(parse_client_context(h, body_with_prefix("abc")).run_id == "abc");
  CHECK_FALSE(parse_client_context(h, body_with_prefix("-d4")).run_id);
  CHECK_FALSE(parse_client_context(h, RequestInfo{}).run_id);
}

TEST_CASE("run ids with control characters are made safe, long ones are cut") {
  RequestHead h;
  auto ctx = parse_client_context(h, body_with_prefix("evil\r\nx-admin: 1"));
  REQUIRE(ctx.run_id);
  CHECK(*ctx.run_id == "evil%0D%0Ax-admin: 1");
  CHECK(parse_client_context(h, body_with_prefix(std::string(5000, 'a'))).run_id->size() ==
        kMaxRunIdBytes);
  CHECK(sanitize_token("caf\xc3\xa9", 64) == "caf%C3%A9");
  CHECK(sanitize_token("abcdefgh\x01", 10) == "abcdefgh");  // never cuts inside an escape
}

TEST_CASE("function path: slash form, JSON array, empty, control characters") {
  CHECK(parse_function_path("react_workflow/react_agent") == Path{"react_workflow", "react_agent"});
  CHECK(parse_function_path("/a//b/ ") == Path{"a", "b"});
  CHECK(parse_function_path(" a / b ") == Path{"a", "b"});
  CHECK(parse_function_path(R"(["react_workflow", "react_agent", "a/b"])") ==
        Path{"react_workflow", "react_agent", "a/b"});
  CHECK(parse_function_path(R"([])").empty());
  CHECK(parse_function_path("").empty());
  CHECK(parse_function_path("   ").empty());
  CHECK(parse_function_path("[not json") == Path{"[not json"});
  CHECK(parse_function_path(R"(["a", 1])") == Path{"[\"a\", 1]"});  // not all strings: slash form
  CHECK(parse_function_path(R"(["a\r\nb"])") == Path{"a%0D%0Ab"});
  // Not UTF-8: each byte is percent-encoded; as a JSON array it is not valid JSON, so slash form.
  CHECK(parse_function_path("agent\xff/\xc3(") == Path{"agent%FF", "%C3("});
  CHECK(parse_function_path("[\"a\xff\"]") == Path{"[\"a%FF\"]"});
  CHECK(parse_function_path(std::string(200, '/') + "x") == Path{"x"});
  std::string many;
  for (int i = 0; i < 100; ++i) many += "n/";
  CHECK(parse_function_path(many).size() == kMaxPathNames);

  RequestHead h;
  CHECK(parse_client_context(h, RequestInfo{}).path.empty());  // missing = root
  h.set("x-nat-function-path", "a/b");
  CHECK(parse_client_context(h, RequestInfo{}).path == Path{"a", "b"});
}

TEST_CASE("call index counts per (run, path); two paths interleaved") {
  RunTable table(100, 30s);
  const Path a{"wf", "agent"};
  const Path b{"wf", "agent", "tool"};
  auto call = [&](std::string_view run, const Path& p) {
    return table.record_call(run, p, std::nullopt, false, t0);
  };
  auto r1 = call("r", a);
  auto r2 = call("r", b);
  auto r3 = call("r", a);
  auto r4 = call("r", b);
  auto r5 = call("r", a);
  CHECK(r1.call_index == 1);
  CHECK(r2.call_index == 1);
  CHECK(r3.call_index == 2);
  CHECK(r4.call_index == 2);
  CHECK(r5.call_index == 3);
  CHECK(r5.calls_in_run == 5);
  CHECK(call("other", a).call_index == 1);   // runs are independent
  CHECK(call("r", Path{}).call_index == 1);  // root is a path of its own
  CHECK(table.size() == 2);
}

TEST_CASE("extract_context: headers in, counted context out") {
  RunTable table(100, 30s);
  RequestHead h;
  h.set("x-nat-run-id", "run-1");
  h.set("x-nat-function-path", R"(["wf","agent"])");
  auto c1 = extract_context(h, RequestInfo{}, table, t0);
  auto c2 = extract_context(h, RequestInfo{}, table, t0);
  CHECK(c1.run_id == "run-1");
  CHECK(c1.run_id_from_client);
  CHECK(c2.path == Path{"wf", "agent"});
  CHECK(c2.call_index == 2);
  CHECK(c2.calls_in_run == 2);
  CHECK_FALSE(c2.run_end);

  SUBCASE("x-nat-call-index overrides and later calls continue from it") {
    h.set("x-nat-call-index", "7");
    auto c3 = extract_context(h, RequestInfo{}, table, t0);
    CHECK(c3.call_index == 7);
    CHECK(c3.calls_in_run == 3);
    h.erase("x-nat-call-index");
    CHECK(extract_context(h, RequestInfo{}, table, t0).call_index == 8);
  }
  SUBCASE("an invalid x-nat-call-index is ignored") {
    for (const char* bad : {"0", "-1", "abc", "1000001", "3x", "", "99999999999999999999",
                            "4294967297", "+5", "1e3", "0x10", "\xff"}) {
      CAPTURE(bad);
      h.set("x-nat-call-index", bad);
      auto c = extract_context(h, RequestInfo{}, table, t0);
      CHECK(c.call_index == c.calls_in_run);  // only this path in the run, so they agree
    }
    h.set("x-nat-call-index", " 1000000 ");
    CHECK(extract_context(h, RequestInfo{}, table, t0).call_index == 1000000);
  }
  SUBCASE("run end: flagged, and the run starts afresh afterwards") {
    h.set("X-NAT-Run-End", "TRUE");
    auto last = extract_context(h, RequestInfo{}, table, t0);
    CHECK(last.run_end);
    CHECK(last.call_index == 3);
    CHECK(table.size() == 0);
    h.erase("x-nat-run-end");
    CHECK(extract_context(h, RequestInfo{}, table, t0).call_index == 1);
  }
  SUBCASE("x-dynamo-session-final ends the run too") {
    h.set("x-dynamo-session-final", "true");
    CHECK(extract_context(h, RequestInfo{}, table, t0).run_end);
    CHECK(table.size() == 0);
  }
  SUBCASE("a false run-end value does not end the run") {
    h.set("x-nat-run-end", "false");
    CHECK_FALSE(extract_context(h, RequestInfo{}, table, t0).run_end);
    CHECK(table.size() == 1);
  }
}

TEST_CASE("a call without a run id is a run of its own") {
  RunTable table(100, 30s);
  RequestHead h;
  h.set("x-nat-function-path", "a");
  auto c1 = extract_context(h, RequestInfo{}, table, t0);
  auto c2 = extract_context(h, RequestInfo{}, table, t0);
  CHECK_FALSE(c1.run_id_from_client);
  CHECK(c1.run_id != c2.run_id);
  CHECK(c1.run_id.rfind("augur-", 0) == 0);
  CHECK(c2.call_index == 1);
  CHECK(c2.calls_in_run == 1);
  CHECK(c2.run_end);
  CHECK(table.size() == 0);  // nothing to remember
}

TEST_CASE("Responses calls chain through previous_response_id into one followed run") {
  RunTable table(100, 30s);
  RequestHead h;
  RequestInfo first;
  first.dialect = Dialect::responses;
  const auto c1 = extract_context(h, first, table, t0);
  CHECK(c1.run_id_from_client);  // followed: a later call may continue it
  CHECK_FALSE(c1.run_named_by_client);
  CHECK(c1.call_index == 1);
  CHECK_FALSE(c1.run_end);
  table.link_response("resp_1", c1.run_id);

  RequestInfo next = first;
  next.previous_response_id = "resp_1";
  const auto c2 = extract_context(h, next, table, t0);
  CHECK(c2.run_id == c1.run_id);
  CHECK(c2.call_index == 2);
  CHECK(c2.calls_in_run == 2);

  next.previous_response_id = "resp_unknown";  // not one augur relayed: a new run
  const auto c3 = extract_context(h, next, table, t0);
  CHECK(c3.run_id != c1.run_id);
  CHECK(c3.call_index == 1);

  RequestInfo chat;  // other dialects without a run id stay runs of their own
  chat.dialect = Dialect::chat_completions;
  chat.previous_response_id = "resp_1";
  CHECK(extract_context(h, chat, table, t0).run_end);
}

TEST_CASE("response links are bounded by the table's run capacity, oldest dropped first") {
  RunTable table(3, 30s);
  for (int i = 0; i < 5; ++i) {
    table.link_response("resp_" + std::to_string(i), "run-" + std::to_string(i));
  }
  CHECK_FALSE(table.run_of_response("resp_0"));
  CHECK_FALSE(table.run_of_response("resp_1"));
  CHECK(table.run_of_response("resp_2") == "run-2");
  CHECK(table.run_of_response("resp_4") == "run-4");
  table.link_response("resp_4", "run-x");  // relinked, not added twice
  CHECK(table.run_of_response("resp_4") == "run-x");
  CHECK(table.run_of_response("resp_2") == "run-2");
}

TEST_CASE("idle runs expire on the injected clock; touch keeps a run alive") {
  RunTable table(100, 30s);
  table.record_call("old", Path{}, std::nullopt, false, t0);
  table.record_call("busy", Path{}, std::nullopt, false, t0);
  table.record_call("new", Path{}, std::nullopt, false, t0 + 20s);
  table.touch("busy", t0 + 25s);  // its response ended later
  CHECK(table.expire(t0 + 29s).empty());
  CHECK(table.expire(t0 + 30s) == std::vector<std::string>{"old"});
  CHECK(table.size() == 2);
  auto rest = table.expire(t0 + 60s);
  CHECK(std::set<std::string>(rest.begin(), rest.end()) == std::set<std::string>{"busy", "new"});
  CHECK(table.size() == 0);
  // An expired run starts again at index 1.
  CHECK(table.record_call("old", Path{}, std::nullopt, false, t0 + 61s).call_index == 1);
  table.forget("old");
  CHECK(table.size() == 0);
}

TEST_CASE("the table is bounded and evicts the least recently used run") {
  RunTable table(3, 30s, /*shards=*/1);
  table.record_call("a", Path{}, std::nullopt, false, t0);
  table.record_call("b", Path{}, std::nullopt, false, t0 + 1s);
  table.record_call("c", Path{}, std::nullopt, false, t0 + 2s);
  table.record_call("a", Path{}, std::nullopt, false, t0 + 3s);  // a is now the most recent
  table.record_call("d", Path{}, std::nullopt, false, t0 + 4s);  // evicts b
  CHECK(table.size() == 3);
  CHECK(table.evicted() == 1);
  CHECK(table.record_call("a", Path{}, std::nullopt, false, t0 + 5s).call_index == 3);
  CHECK(table.record_call("b", Path{}, std::nullopt, false, t0 + 6s).call_index == 1);  // forgotten

  RunTable sharded(64, 30s, 16);
  for (int i = 0; i < 10000; ++i) {
    sharded.record_call("run" + std::to_string(i), Path{}, std::nullopt, false, t0);
  }
  CHECK(sharded.size() <= 64);
}

TEST_CASE("concurrent callers see consistent counts") {
  RunTable table(1000, 30s, 8);
  constexpr int kThreads = 4, kCalls = 2000;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&table, t] {
      for (int i = 0; i < kCalls; ++i) {
        table.record_call("shared", Path{"p" + std::to_string(i % 2)}, std::nullopt, false, t0);
        table.record_call("own" + std::to_string(t), Path{}, std::nullopt, false, t0);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(table.record_call("shared", Path{"p0"}, std::nullopt, false, t0).call_index ==
        kThreads * kCalls / 2 + 1);
  CHECK(table.record_call("own0", Path{}, std::nullopt, false, t0).calls_in_run == kCalls + 1);
}
