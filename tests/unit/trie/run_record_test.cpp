// Run records: JSON Lines in and out, and errors that name the line and the field.
#include "learning/trie/run_record.hpp"

#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include "learning/trie/trie.hpp"

namespace augur::trie {
namespace {

std::string jsonl_error(const std::string& text) {
  std::istringstream in(text);
  try {
    read_runs_jsonl(in, [](RunRecord&&) {});
    return "";
  } catch (const TrieError& e) {
    return e.what();
  }
}

const char* kGoodLine =
    R"({"run_id": "r1", "started_at_ms": 1000, "ended_at_ms": 5000, "calls": [)"
    R"({"kind": "llm", "path": ["wf", "agent"], "call_index": 1, "started_at_ms": 1000, "ended_at_ms": 1800, "output_tokens": 120, "status": 200},)"
    R"({"kind": "tool", "path": ["wf", "agent", "search"], "started_at_ms": 1800, "ended_at_ms": 2500},)"
    R"({"kind": "llm", "path": ["wf", "agent"], "call_index": 2, "started_at_ms": 2600, "ended_at_ms": null, "output_tokens": null, "status": 0, "extra": {"x": 1}}]})";

}  // namespace

TEST_CASE("parse one run record") {
  const RunRecord r = parse_run_record(kGoodLine);
  CHECK(r.run_id == "r1");
  CHECK(r.started_at_ms == 1000);
  CHECK(r.ended_at_ms == 5000);
  REQUIRE(r.calls.size() == 3);
  CHECK(r.calls[0].is_llm());
  CHECK(r.calls[0].path == std::vector<std::string>{"wf", "agent"});
  CHECK(r.calls[0].call_index == 1u);
  CHECK(r.calls[0].ended_at_ms == 1800);
  CHECK(r.calls[0].output_tokens == 120u);
  CHECK(r.calls[0].status == 200);
  CHECK(r.calls[1].kind == "tool");
  CHECK_FALSE(r.calls[1].call_index.has_value());
  CHECK_FALSE(r.calls[2].ended_at_ms.has_value());
  CHECK_FALSE(r.calls[2].output_tokens.has_value());
}

TEST_CASE("write then read gives the same runs") {
  std::vector<RunRecord> runs{parse_run_record(kGoodLine), RunRecord{}};
  runs[1].run_id = "unicode \xc3\xa9 \"quoted\"";
  runs[1].calls.push_back(CallRecord{});
  std::ostringstream out;
  write_runs_jsonl(out, runs);
  const std::string text = out.str();
  CHECK(std::count(text.begin(), text.end(), '\n') == 2);
  std::istringstream in("\n" + text + "   \n");  // blank lines are skipped
  std::vector<RunRecord> back;
  CHECK(read_runs_jsonl(in, [&](RunRecord&& r) { back.push_back(std::move(r)); }) == 2);
  CHECK(back == runs);
}

TEST_CASE("run-record errors name the line and the field") {
  const std::string good = std::string(kGoodLine) + "\n";
  CHECK(jsonl_error(good + "{\"run_id\": 1, \"started_at_ms\": 0, \"calls\": []}\n") ==
        "line 2: run_id: must be a string");
  CHECK(jsonl_error(good + good + "{\"run_id\": \"x\", \"started_at_ms\": 0, \"calls\": [{}]}") ==
        "line 3: calls[0]: missing key \"kind\"");
  CHECK(
      jsonl_error(
          R"({"run_id": "x", "started_at_ms": 0, "calls": [{"kind": "llm", "started_at_ms": 5, "ended_at_ms": "6"}]})") ==
      "line 1: calls[0].ended_at_ms: must be an integer");
  CHECK(
      jsonl_error(
          R"({"run_id": "x", "started_at_ms": 0, "calls": [{"kind": "llm", "started_at_ms": 5, "ended_at_ms": 4}]})") ==
      "line 1: calls[0].ended_at_ms: ends before started_at_ms");
  CHECK(
      jsonl_error(
          R"({"run_id": "x", "started_at_ms": 0, "calls": [{"kind": "llm", "started_at_ms": 5, "call_index": 0}]})") ==
      "line 1: calls[0].call_index: call index must be a positive integer");
  CHECK(
      jsonl_error(
          R"({"run_id": "x", "started_at_ms": 0, "calls": [{"kind": "llm", "started_at_ms": 5, "path": ["a", 3]}]})") ==
      "line 1: calls[0].path[1]: must be a string");
  CHECK(jsonl_error(R"({"run_id": "x", "started_at_ms": -5, "calls": []})") ==
        "line 1: started_at_ms: must not be negative");
  CHECK(jsonl_error(R"({"run_id": "x", "run_id": "y", "started_at_ms": 0, "calls": []})") ==
        "line 1: (document): duplicate key \"run_id\"");
  CHECK(jsonl_error(R"({"run_id": "x", "started_at_ms": 0})") ==
        "line 1: (document): missing key \"calls\"");
  CHECK(
      jsonl_error(
          R"({"run_id": "x", "started_at_ms": 0, "calls": [{"kind": "llm", "started_at_ms": 5, "output_tokens": 1.5}]})") ==
      "line 1: calls[0].output_tokens: must be an integer");
  CHECK(jsonl_error(good + "{\"run_id\": \"x\", ").starts_with("line 2: (document): invalid JSON"));
  CHECK(jsonl_error("[]") == "line 1: (document): must be an object");

  std::string deep =
      R"({"run_id": "x", "started_at_ms": 0, "calls": [{"kind": "llm", "started_at_ms": 5, "path": [)";
  for (std::size_t i = 0; i <= kMaxPathLength; ++i) deep += (i ? ",\"f\"" : "\"f\"");
  deep += "]}]}";
  CHECK(jsonl_error(deep) == "line 1: calls[0].path: is longer than 64 names");
}

TEST_CASE("read_runs_file names the file") {
  try {
    read_runs_file("/nonexistent/runs.jsonl", [](RunRecord&&) {});
    FAIL("expected TrieError");
  } catch (const TrieError& e) {
    CHECK(std::string(e.what()) == "/nonexistent/runs.jsonl: cannot open for reading");
  }
}

}  // namespace augur::trie
