// `augur trie build|lookup|convert` helpers, driven with string streams and temporary files.
#include "app/trie_cli.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "learning/trie/nat_json.hpp"
#include "learning/trie/trie.hpp"
#include "tests/unit/trie/trie_test_support.hpp"

namespace augur::trie {
namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() : path(std::filesystem::temp_directory_path() / "augur_trie_cli_test") {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// Two runs: [wf, agent] calls 1 and 2 (the second is the run's last), one [wf] call in between.
const char* kRuns =
    R"({"run_id": "r1", "started_at_ms": 0, "ended_at_ms": 1000, "calls": [)"
    R"({"kind": "llm", "path": ["wf", "agent"], "call_index": 1, "started_at_ms": 0, "ended_at_ms": 100, "output_tokens": 50, "status": 200},)"
    R"({"kind": "llm", "path": ["wf"], "call_index": 1, "started_at_ms": 150, "ended_at_ms": 300, "output_tokens": 70, "status": 200},)"
    R"({"kind": "llm", "path": ["wf", "agent"], "call_index": 2, "started_at_ms": 400, "ended_at_ms": 1000, "output_tokens": 90, "status": 200}]})"
    "\n"
    R"({"run_id": "r2", "started_at_ms": 0, "ended_at_ms": 1000, "calls": [)"
    R"({"kind": "llm", "path": ["wf", "agent"], "call_index": 1, "started_at_ms": 0, "ended_at_ms": 100, "output_tokens": 30, "status": 200},)"
    R"({"kind": "llm", "path": ["wf", "agent"], "call_index": 2, "started_at_ms": 300, "ended_at_ms": 1000, "output_tokens": 10, "status": 200}]})"
    "\n";

}  // namespace

TEST_CASE("parse_function_path") {
  CHECK(parse_function_path("").empty());
  CHECK(parse_function_path("/").empty());
  CHECK(parse_function_path("a/b") == std::vector<std::string>{"a", "b"});
  CHECK(parse_function_path("/a//b/") == std::vector<std::string>{"a", "b"});
  CHECK(parse_function_path(R"(["a/x", "b"])") == std::vector<std::string>{"a/x", "b"});
  CHECK(parse_function_path("[]").empty());
  CHECK_THROWS_AS(parse_function_path(R"(["a", 1])"), TrieError);
  CHECK_THROWS_AS(parse_function_path("[\"a\""), TrieError);
}

TEST_CASE("trie build, lookup and convert") {
  TempDir dir;
  write_file(dir.path / "runs.jsonl", kRuns);
  std::ostringstream out;
  std::ostringstream err;
  REQUIRE(trie_build(dir.path / "runs.jsonl", dir.path / "trie.json", "my_flow", out, err) ==
          kExitOk);
  CHECK(err.str().empty());
  CHECK(out.str().find("2 runs, 5 LLM calls, 3 nodes") != std::string::npos);
  const Trie trie = load_trie_file(dir.path / "trie.json");
  CHECK(trie.workflow_name == "my_flow");

  SUBCASE("lookup exact") {
    std::ostringstream o;
    std::ostringstream e;
    REQUIRE(trie_lookup(dir.path / "trie.json", "wf/agent", 2, o, e) == kExitOk);
    // [wf, agent] index 2: r1 has 0 calls after it, r2 too -> remaining 0; tokens {90, 10}.
    CHECK(
        o.str().starts_with(R"({"source": "exact", "depth": 2, "matched_depth": 2, )"
                            R"("remaining_calls": {"sample_count": 2, "mean": 0.0, "p50": 0.0, )"));
    CHECK(
        o.str().find(
            R"("output_tokens": {"sample_count": 2, "mean": 50.0, "p50": 50.0, "p90": 82.0, "p95": 86.0})") !=
        std::string::npos);
    CHECK(o.str().ends_with("}\n"));
  }
  SUBCASE("lookup with a JSON array path falls back to the root") {
    std::ostringstream o;
    std::ostringstream e;
    REQUIRE(trie_lookup(dir.path / "trie.json", R"(["unknown"])", 1, o, e) == kExitOk);
    CHECK(o.str().starts_with(R"({"source": "root", "depth": 0, "matched_depth": 0, )"));
  }
  SUBCASE("lookup: no prediction, missing file") {
    write_file(dir.path / "empty.json", R"({"version": "1.0", "root": {"name": "root"}})");
    std::ostringstream o;
    std::ostringstream e;
    CHECK(trie_lookup(dir.path / "empty.json", "a", 1, o, e) == kExitNotFound);
    CHECK(o.str().empty());
    CHECK(e.str().find("no prediction") != std::string::npos);
    std::ostringstream e2;
    CHECK(trie_lookup(dir.path / "nope.json", "a", 1, o, e2) == kExitError);
    CHECK(e2.str().find("nope.json: cannot open") != std::string::npos);
  }
  SUBCASE("convert normalises; stdout form") {
    std::ostringstream o;
    std::ostringstream e;
    REQUIRE(trie_convert(test::data_path(test::kNemoFlowGolden), dir.path / "golden.json", o, e) ==
            kExitOk);
    CHECK(load_trie_file(dir.path / "golden.json") == test::load_fixture(test::kNemoFlowGolden));
    std::ostringstream to_stdout;
    REQUIRE(trie_convert(test::data_path(test::kNatGenerated), "-", to_stdout, e) == kExitOk);
    CHECK(to_stdout.str() == test::read_text(test::data_path(test::kNatGenerated)) + "\n");
  }
  SUBCASE("build errors name file, line and field") {
    write_file(dir.path / "bad.jsonl",
               std::string(kRuns) + R"({"run_id": "x", "calls": []})" + "\n");
    std::ostringstream o;
    std::ostringstream e;
    CHECK(trie_build(dir.path / "bad.jsonl", dir.path / "t2.json", "w", o, e) == kExitError);
    CHECK(e.str().find("bad.jsonl: line 3: (document): missing key \"started_at_ms\"") !=
          std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir.path / "t2.json"));
  }
  SUBCASE("convert rejects a malformed trie") {
    write_file(dir.path / "bad.json",
               R"({"root": {"name": "root", "predictions_by_call_index": {"0": {}}}})");
    std::ostringstream o;
    std::ostringstream e;
    CHECK(trie_convert(dir.path / "bad.json", "-", o, e) == kExitError);
    CHECK(e.str().find(
              R"(root.predictions_by_call_index."0": call index must be a positive integer)") !=
          std::string::npos);
  }
}

}  // namespace augur::trie
