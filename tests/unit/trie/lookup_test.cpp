// Lookup with NAT's semantics on the fixtures; every expected number can be checked by hand
// against the JSON files in data/.
#include "learning/trie/lookup.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "trie_test_support.hpp"

namespace augur::trie {
namespace {

std::optional<LookupResult> find(const Trie& trie, std::vector<std::string_view> path,
                                 std::uint32_t index) {
  return lookup(trie, path, index);
}

}  // namespace

TEST_CASE("lookup on the NAT-generated fixture") {
  const Trie trie = test::load_fixture(test::kNatGenerated);

  SUBCASE("exact: deepest node, exact index") {
    // root.children.react_workflow.children.react_agent.predictions_by_call_index."1"
    const auto r = find(trie, {"react_workflow", "react_agent"}, 1);
    REQUIRE(r);
    CHECK(r->source == Source::exact);
    CHECK(r->depth == 2);
    CHECK(r->matched_depth == 2);
    CHECK(r->prediction->remaining_calls.mean == 3.0);
    CHECK(r->prediction->output_tokens.mean == 133.66666666666666);
    CHECK(r->prediction->latency_sensitivity == 5);
  }
  SUBCASE("unknown index -> the node's any-index") {
    // react_agent has indices 1..3; index 9 takes its predictions_any_index (remaining 1.333...,
    // 3).
    const auto r = find(trie, {"react_workflow", "react_agent"}, 9);
    REQUIRE(r);
    CHECK(r->source == Source::any_index);
    CHECK(r->depth == 2);
    CHECK(r->prediction->remaining_calls.mean == 1.3333333333333333);
    CHECK(r->prediction->latency_sensitivity == 3);
  }
  SUBCASE("shorter path stops at its own node") {
    const auto r = find(trie, {"react_workflow"}, 2);
    REQUIRE(r);
    CHECK(r->source == Source::exact);
    CHECK(r->depth == 1);
    CHECK(r->prediction->interarrival_ms.mean == 96.72348379406988);
  }
  SUBCASE("the walk stops at the first unknown name (NAT: no skipping)") {
    // web_search exists only under root.react_agent, not under react_workflow.react_agent: the
    // answer is react_agent's own index-1 prediction (remaining 3.0), as NAT returns, labelled
    // as coming from an ancestor of the node asked for.
    const auto r = find(trie, {"react_workflow", "react_agent", "web_search"}, 1);
    REQUIRE(r);
    CHECK(r->source == Source::ancestor);
    CHECK(r->depth == 2);
    CHECK(r->matched_depth == 2);
    CHECK(r->prediction->remaining_calls.mean == 3.0);
  }
  SUBCASE("first path element unknown -> root, exact index there") {
    const auto r = find(trie, {"no_such_function", "react_agent"}, 2);
    REQUIRE(r);
    CHECK(r->source == Source::root);
    CHECK(r->depth == 0);
    CHECK(r->matched_depth == 0);
    CHECK(r->prediction->remaining_calls.mean == 1.0);  // root."2"
  }
  SUBCASE("empty path -> root any-index for an unknown index") {
    const auto r = find(trie, {}, 42);
    REQUIRE(r);
    CHECK(r->source == Source::root);
    CHECK(r->prediction == &*trie.root.predictions_any_index);
    CHECK(r->prediction->output_tokens.mean == 160.25);
  }
  SUBCASE("a different branch") {
    const auto r = find(trie, {"react_agent", "web_search"}, 1);
    REQUIRE(r);
    CHECK(r->source == Source::exact);
    CHECK(r->prediction->interarrival_ms.mean == 522.2623691168261);
  }
  SUBCASE("ancestor: the deepest node has nothing for any index") {
    Trie edited = trie;
    Node* agent = edited.root.children.find("react_workflow")->children.find("react_agent");
    agent->predictions_by_call_index.clear();
    agent->predictions_any_index.reset();
    const auto r = find(edited, {"react_workflow", "react_agent"}, 1);
    REQUIRE(r);
    CHECK(r->source == Source::ancestor);
    CHECK(r->depth == 1);
    CHECK(r->matched_depth == 2);
    CHECK(r->prediction->remaining_calls.mean == 3.0);  // react_workflow."1"
    // ...and its any-index for an unknown index (react_workflow any: remaining 1.333...).
    const auto any = find(edited, {"react_workflow", "react_agent"}, 7);
    REQUIRE(any);
    CHECK(any->source == Source::ancestor);
    CHECK(any->prediction->remaining_calls.mean == 1.3333333333333333);
  }
}

TEST_CASE("lookup on the nemo-flow golden fixture") {
  const Trie trie = test::load_fixture(test::kNemoFlowGolden);
  SUBCASE("child without predictions falls back to the root's exact index") {
    const auto r = find(trie, {"react_agent"}, 1);
    REQUIRE(r);
    CHECK(r->source == Source::root);
    CHECK(r->matched_depth == 1);
    CHECK(r->prediction->remaining_calls == MetricStats{10, 2.5, 2.0, 4.0, 4.5});
    CHECK(r->prediction->latency_sensitivity == 3);
  }
  SUBCASE("...and to the root's any-index for another index") {
    const auto r = find(trie, {"react_agent"}, 2);
    REQUIRE(r);
    CHECK(r->source == Source::root);
    CHECK(r->prediction->remaining_calls.mean == 1.8);
    CHECK(r->prediction->latency_sensitivity == 2);
  }
  SUBCASE("call index 0 never matches an exact entry") {
    const auto r = find(trie, {}, 0);
    REQUIRE(r);
    CHECK(r->prediction->remaining_calls.sample_count == 30);
  }
}

TEST_CASE("lookup finds nothing in an empty trie") {
  Trie trie;
  trie.root.children.get_or_add("a");
  CHECK_FALSE(find(trie, {"a"}, 1).has_value());
  CHECK_FALSE(find(trie, {}, 1).has_value());
}

TEST_CASE("wide nodes: children found by name in any insertion order") {
  Trie trie;
  for (int i = 999; i >= 0; --i) {
    Node& n = trie.root.children.get_or_add("fn" + std::to_string(i));
    n.predictions_any_index.emplace().remaining_calls.mean = i;
  }
  CHECK(trie.root.children.size() == 1000);
  for (int i : {0, 1, 500, 998, 999}) {
    const std::string name = "fn" + std::to_string(i);
    const auto r = find(trie, {name}, 1);
    REQUIRE(r);
    CHECK(r->prediction->remaining_calls.mean == i);
  }
  CHECK(find(trie, {"fn1000"}, 1) == std::nullopt);
  CHECK(trie.root.children.add(Node{"fn5", {}, {}, {}}) == nullptr);
}

}  // namespace augur::trie
