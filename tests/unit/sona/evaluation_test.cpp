// The offline evaluation's goals, on a shorter seeded run: SONA (falling back to the trie
// stand-in) beats the trie alone by at least 30% where the trie is weak, and is not worse on a
// steady workload. Deterministic: no timing involved.
#include <doctest/doctest.h>

#include "loadtest/sona/offline_eval.hpp"

using namespace augur::sona;

namespace {

eval::Result run(eval::Scenario s) {
  eval::Options o;
  o.scenario = s;
  o.calls = 8000;
  o.seed = 11;
  o.sona = *preset("default");
  return eval::run(o);
}

}  // namespace

TEST_CASE("drift: SONA adapts while the trie waits for rebuilds") {
  const eval::Result r = run(eval::Scenario::drift);
  REQUIRE(r.sona.calls > 500);
  CHECK(r.sona.output_tokens < 0.7 * r.trie.output_tokens);
  CHECK(r.sona.remaining_calls < 1.05 * r.trie.remaining_calls);
}

TEST_CASE("novel paths: similar patterns beat the trie's ancestor answer") {
  const eval::Result r = run(eval::Scenario::novel);
  REQUIRE(r.sona.calls > 500);
  CHECK(r.sona.output_tokens < 0.7 * r.trie.output_tokens);
  CHECK(r.sona.remaining_calls < 0.7 * r.trie.remaining_calls);
}

TEST_CASE("steady: SONA is not worse than the trie") {
  const eval::Result r = run(eval::Scenario::steady);
  CHECK(r.sona.output_tokens <= 1.02 * r.trie.output_tokens);
  CHECK(r.sona.remaining_calls <= 1.03 * r.trie.remaining_calls);
  CHECK(r.sona.output_tokens < r.static_defaults.output_tokens);
}
