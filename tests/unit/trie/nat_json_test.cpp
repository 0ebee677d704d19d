// NAT prediction_trie.json: both fixtures round-trip, Python's number/string spelling, tolerance of
// what NAT's loader tolerates, and rejection (with the JSON path) of everything malformed.
#include "learning/trie/nat_json.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <random>
#include <string>

#include "learning/trie/json_text.hpp"
#include "trie_test_support.hpp"

namespace augur::trie {
namespace {

using test::kNatGenerated;
using test::kNemoFlowGolden;

std::string python_repr(double v) {
  std::string s;
  json_text::append_double(s, v);
  return s;
}

// The TrieError message parse_trie gives, or "" when the document parses.
std::string error_of(std::string_view json) {
  try {
    (void)parse_trie(json);
    return "";
  } catch (const TrieError& e) {
    return e.what();
  }
}

const std::string kMetrics =
    R"({"sample_count": 2, "mean": 1.0, "p50": 1.0, "p90": 1.0, "p95": 1.0})";
const std::string kPrediction = R"({"remaining_calls": )" + kMetrics + R"(, "interarrival_ms": )" +
                                kMetrics + R"(, "output_tokens": )" + kMetrics +
                                R"(, "latency_sensitivity": 2})";

// A valid trie with `node_body` as the react_agent child's members.
std::string with_child(const std::string& node_body) {
  return R"({"version": "1.0", "generated_at": "x", "workflow_name": "w", "root": {"name": "root",
    "predictions_by_call_index": {}, "predictions_any_index": null,
    "children": {"react_agent": {"name": "react_agent", )" +
         node_body + "}}}}";
}

}  // namespace

TEST_CASE("python float repr spelling") {
  // Expected strings are what CPython's repr() prints for the same doubles.
  CHECK(python_repr(3.0) == "3.0");
  CHECK(python_repr(0.0) == "0.0");
  CHECK(python_repr(-0.0) == "-0.0");
  CHECK(python_repr(2.5) == "2.5");
  CHECK(python_repr(100.0) == "100.0");
  CHECK(python_repr(0.1 + 0.2) == "0.30000000000000004");
  CHECK(python_repr(1e16) == "1e+16");
  CHECK(python_repr(1e15) == "1000000000000000.0");
  CHECK(python_repr(1234567890123456.7) == "1234567890123456.8");
  CHECK(python_repr(123456789012345678.0) == "1.2345678901234568e+17");
  CHECK(python_repr(0.0001) == "0.0001");
  CHECK(python_repr(0.00001) == "1e-05");
  CHECK(python_repr(1.5e-5) == "1.5e-05");
  CHECK(python_repr(1e100) == "1e+100");
  CHECK(python_repr(2.5e-300) == "2.5e-300");
  CHECK(python_repr(5e-324) == "5e-324");
  CHECK(python_repr(1.7976931348623157e308) == "1.7976931348623157e+308");
  CHECK(python_repr(290.106822968653) == "290.106822968653");
}

TEST_CASE("NAT-generated fixture: read then write is byte-identical") {
  const std::string original = test::read_text(test::data_path(kNatGenerated));
  const Trie trie = parse_trie(original);
  CHECK(serialize_trie(trie) == original);
  CHECK(parse_trie(serialize_trie(trie)) == trie);
}

TEST_CASE("NAT-generated fixture: values as in the file") {
  const Trie trie = test::load_fixture(kNatGenerated);
  CHECK(trie.version == "1.0");
  CHECK(trie.generated_at == "2026-11-23T19:24:00.542571+00:00");
  CHECK(trie.workflow_name == "profiled_workflow");
  CHECK(count_nodes(trie) == 5);
  const Prediction& root1 = trie.root.predictions_by_call_index.at(1);
  CHECK(root1.remaining_calls.sample_count == 6);
  CHECK(root1.interarrival_ms.mean == 290.106822968653);
  CHECK(root1.latency_sensitivity == 3);
  const Prediction& root3 = trie.root.predictions_by_call_index.at(3);
  CHECK(root3.interarrival_ms == MetricStats{});  // the last call never has a next one
  // Document order is kept: react_workflow before react_agent although it sorts after.
  REQUIRE(trie.root.children.size() == 2);
  CHECK(trie.root.children.nodes()[0].name == "react_workflow");
  CHECK(trie.root.children.nodes()[1].name == "react_agent");
  const Node* web = trie.root.children.find("react_agent")->children.find("web_search");
  REQUIRE(web != nullptr);
  CHECK(web->predictions_by_call_index.at(1).output_tokens.mean == 71.33333333333333);
}

TEST_CASE("nemo-flow golden fixture: values, null any-index, round trip") {
  const std::string original = test::read_text(test::data_path(kNemoFlowGolden));
  const Trie trie = parse_trie(original);
  CHECK(trie.workflow_name == "my_agent");
  CHECK(trie.generated_at == "2026-03-31T12:00:00+00:00");
  const Prediction& p = trie.root.predictions_by_call_index.at(1);
  CHECK(p.remaining_calls == MetricStats{10, 2.5, 2.0, 4.0, 4.5});
  CHECK(p.interarrival_ms == MetricStats{10, 150.0, 140.0, 200.0, 220.0});
  CHECK(p.output_tokens == MetricStats{10, 256.0, 240.0, 400.0, 450.0});
  CHECK(p.latency_sensitivity == 3);
  REQUIRE(trie.root.predictions_any_index.has_value());
  CHECK(trie.root.predictions_any_index->remaining_calls.sample_count == 30);
  CHECK(trie.root.predictions_any_index->latency_sensitivity == 2);
  const Node* agent = trie.root.children.find("react_agent");
  REQUIRE(agent != nullptr);
  CHECK(agent->predictions_by_call_index.empty());
  CHECK_FALSE(agent->predictions_any_index.has_value());
  CHECK(agent->children.empty());

  // The golden is hand-formatted, so compare the re-read structure, not bytes.
  const std::string written = serialize_trie(trie);
  CHECK(parse_trie(written) == trie);
  CHECK(written.find("\"predictions_any_index\": null") != std::string::npos);
  CHECK(written.find("\"children\": {}") != std::string::npos);
  CHECK(written.find("\"1\": {") != std::string::npos);
}

TEST_CASE("file save and load; load errors name the file") {
  const auto dir = std::filesystem::temp_directory_path() / "augur_trie_nat_json_test";
  std::filesystem::create_directories(dir);
  const Trie trie = test::load_fixture(kNemoFlowGolden);
  save_trie_file(trie, dir / "t.json");
  CHECK(load_trie_file(dir / "t.json") == trie);
  CHECK_FALSE(std::filesystem::exists(dir / "t.json.tmp"));
  try {
    (void)load_trie_file(dir / "missing.json");
    FAIL("expected TrieError");
  } catch (const TrieError& e) {
    CHECK(std::string(e.what()).find("missing.json") != std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("tolerates what NAT's loader tolerates") {
  // Missing predictions_by_call_index, children, latency_sensitivity and metric fields; unknown
  // keys; integers where floats are expected; 10.0 as a sample count.
  const std::string json = R"({"version": "1.0", "root": {"name": "root", "extra": [1, 2],
    "predictions_any_index": {"remaining_calls": {"sample_count": 10.0, "mean": 2},
      "interarrival_ms": {}, "output_tokens": {"sample_count": 1, "mean": 5, "p50": 5, "p90": 5,
      "p95": 5, "p99": 7}, "latency_sensitivity": 3.0}}})";
  const Trie trie = parse_trie(json);
  CHECK(trie.root.predictions_by_call_index.empty());
  CHECK(trie.root.children.empty());
  REQUIRE(trie.root.predictions_any_index.has_value());
  const Prediction& p = *trie.root.predictions_any_index;
  CHECK(p.remaining_calls == MetricStats{10, 2.0, 0, 0, 0});
  CHECK(p.interarrival_ms == MetricStats{});
  CHECK(p.output_tokens.p95 == 5.0);
  CHECK(p.latency_sensitivity == 3);  // pydantic reads 3.0 into an int field
  CHECK(trie.workflow_name.empty());

  // Files from before NAT PR #1618 have no latency_sensitivity: null.
  const Trie old = parse_trie(R"({"root": {"name": "root", "predictions_by_call_index": {"1":
    {"remaining_calls": {}, "interarrival_ms": {}, "output_tokens": {}}}}})");
  CHECK_FALSE(old.root.predictions_by_call_index.at(1).latency_sensitivity.has_value());
  CHECK(serialize_trie(old).find("\"latency_sensitivity\": null") != std::string::npos);
}

TEST_CASE("malformed tries are rejected with the JSON path of the bad field") {
  SUBCASE("call index key that is not a number") {
    CHECK(
        error_of(with_child(R"("predictions_by_call_index": {"x": )" + kPrediction + "}")) ==
        R"(root.children.react_agent.predictions_by_call_index."x": call index must be a positive integer)");
  }
  SUBCASE("call index keys zero, negative, leading zero, fraction, too large") {
    for (const char* key : {"0", "-1", "01", "1.5", " 1", ""}) {
      CAPTURE(key);
      const std::string err = error_of(with_child(
          std::string(R"("predictions_by_call_index": {")") + key + "\": " + kPrediction + "}"));
      CHECK(err.find("call index must be a positive integer") != std::string::npos);
    }
    CHECK(
        error_of(with_child(R"("predictions_by_call_index": {"99999999999": )" + kPrediction + "}"))
            .find("call index is too large") != std::string::npos);
  }
  SUBCASE("wrong types") {
    CHECK(error_of(R"({"root": {"name": 5}})") == "root.name: must be a string");
    CHECK(error_of(R"({"root": []})") == "root: must be an object");
    CHECK(error_of("[1, 2]") == "(document): must be an object");
    CHECK(error_of(with_child(R"("predictions_any_index": 3)")) ==
          "root.children.react_agent.predictions_any_index: must be an object");
    CHECK(error_of(with_child(R"("predictions_any_index": {"remaining_calls": {"mean": "2"}})")) ==
          "root.children.react_agent.predictions_any_index.remaining_calls.mean: must be a number");
    CHECK(error_of(with_child(R"("children": [])")) ==
          "root.children.react_agent.children: must be an object");
    CHECK(error_of(
              with_child(R"("predictions_any_index": {"remaining_calls": {}, "interarrival_ms": {},
          "output_tokens": {}, "latency_sensitivity": 1.5})"))
              .ends_with("latency_sensitivity: must be an integer or null"));
  }
  SUBCASE("missing required keys") {
    CHECK(error_of(R"({"version": "1.0"})") == "(document): missing key \"root\"");
    CHECK(error_of(R"({"root": {"children": {}}})") == "root: missing key \"name\"");
    CHECK(error_of(with_child(
              R"("predictions_any_index": {"remaining_calls": {}, "output_tokens": {}})")) ==
          "root.children.react_agent.predictions_any_index: missing key \"interarrival_ms\"");
  }
  SUBCASE("truncated and empty JSON") {
    const std::string full = test::read_text(test::data_path(test::kNatGenerated));
    CHECK(error_of(full.substr(0, full.size() / 2)).starts_with("(document): invalid JSON"));
    CHECK(error_of("").starts_with("(document): invalid JSON"));
    CHECK(error_of("{\"root\": {\"name\": \"root\"}").starts_with("(document): invalid JSON"));
  }
  SUBCASE("depth 1000 and just over the limit") {
    std::string deep = R"({"root": {"name": "root", "children": )";
    std::string tail = "}}";
    for (int i = 0; i < 1000; ++i) {
      deep += R"({"n": {"name": "n", "children": )";
      tail += "}}";
    }
    deep += "{}" + tail;
    const std::string err = error_of(deep);
    CHECK_FALSE(err.empty());
    CHECK(err.find("deep") != std::string::npos);

    std::string limit = R"({"root": {"name": "root", "children": )";
    std::string limit_tail = "}}";
    for (std::size_t i = 0; i < kMaxTrieDepth + 1; ++i) {
      limit += R"({"n": {"name": "n", "children": )";
      limit_tail += "}}";
    }
    limit += "{}" + limit_tail;
    CHECK(error_of(limit).find("trie is deeper than 64 levels") != std::string::npos);
  }
  SUBCASE("duplicate keys") {
    CHECK(error_of(R"({"root": {"name": "root"}, "root": {"name": "root"}})") ==
          "(document): duplicate key \"root\"");
    CHECK(
        error_of(with_child(
            R"("predictions_any_index": {"remaining_calls": {"mean": 1, "mean": 2}})")) ==
        "root.children.react_agent.predictions_any_index.remaining_calls: duplicate key \"mean\"");
    CHECK(error_of(with_child(R"("predictions_by_call_index": {"1": )" + kPrediction +
                              R"(, "1": )" + kPrediction + "}")) ==
          R"(root.children.react_agent.predictions_by_call_index."1": duplicate call index)");
    CHECK(
        error_of(
            R"({"root": {"name": "root", "children": {"a": {"name": "a"}, "a": {"name": "a"}}}})") ==
        "root.children.a: duplicate child name");
  }
  SUBCASE("absurd values") {
    const auto metric_error = [](const std::string& metrics) {
      return error_of(with_child(R"("predictions_any_index": {"remaining_calls": )" + metrics +
                                 R"(, "interarrival_ms": {}, "output_tokens": {}})"));
    };
    const std::string at = "root.children.react_agent.predictions_any_index.remaining_calls.";
    CHECK(metric_error(R"({"sample_count": 1e30})") ==
          at + "sample_count: sample count is too large");
    CHECK(metric_error(R"({"sample_count": 18446744073709551615})") ==
          at + "sample_count: sample count is too large");
    CHECK(metric_error(R"({"sample_count": 9007199254740993})") ==
          at + "sample_count: sample count is too large");
    CHECK(metric_error(R"({"sample_count": -1})") == at + "sample_count: must not be negative");
    CHECK(metric_error(R"({"sample_count": 2.5})") ==
          at + "sample_count: must be a non-negative integer");
    CHECK(metric_error(R"({"mean": 1e300})") == at + "mean: value is out of range (|v| <= 1e15)");
    CHECK(metric_error(R"({"p90": -2e15})") == at + "p90: value is out of range (|v| <= 1e15)");
    // Not valid JSON at all, but a number that overflows must not crash either.
    CHECK_FALSE(metric_error(R"({"mean": 1e999})").empty());
    CHECK_FALSE(metric_error(R"({"sample_count": 123456789012345678901234567890})").empty());
    CHECK(error_of(
              with_child(R"("predictions_any_index": {"remaining_calls": {}, "interarrival_ms": {},
          "output_tokens": {}, "latency_sensitivity": 5000})"))
              .ends_with("latency_sensitivity: must be between 0 and 1000"));
  }
  SUBCASE("child name differs from its key; unsupported version") {
    CHECK(error_of(R"({"root": {"name": "root", "children": {"a": {"name": "b"}}}})") ==
          "root.children.a.name: name \"b\" differs from the node's key");
    CHECK(error_of(R"({"version": "2.0", "root": {"name": "root"}})") ==
          "version: unsupported version (expected 1.x)");
  }
  SUBCASE("keys needing quotes are quoted in the path") {
    CHECK(error_of(R"({"root": {"name": "root", "children": {"a.b c": {"name": 1}}}})") ==
          R"(root.children."a.b c".name: must be a string)");
  }
}

TEST_CASE("never crashes on mangled input") {
  const std::string original = test::read_text(test::data_path(test::kNatGenerated));
  // Every truncation, then random byte edits (seeded): each either parses or throws TrieError.
  for (std::size_t n = 0; n < original.size(); n += 7) {
    try {
      (void)parse_trie(std::string_view(original).substr(0, n));
    } catch (const TrieError&) {
    }
  }
  std::mt19937 rng(42);
  const std::string alphabet = "{}[]\":,0123456789-.eE \\naz";
  int parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string s = original;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      s[rng() % s.size()] = alphabet[rng() % alphabet.size()];
    }
    try {
      const Trie t = parse_trie(s);
      ++parsed;
      CHECK(parse_trie(serialize_trie(t)) == t);  // whatever is accepted also round-trips
    } catch (const TrieError&) {
    }
  }
  MESSAGE("mutations accepted: " << parsed << " / 3000");
}

TEST_CASE("writer refuses non-finite values") {
  Trie trie;
  trie.root.predictions_any_index.emplace();
  trie.root.predictions_any_index->output_tokens.mean = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS((void)serialize_trie(trie), TrieError);
}

}  // namespace augur::trie
