// ReasoningBank: top-k search, weighted consolidation of near-duplicates, eviction at capacity,
// pruning of stale weak patterns, and the recent-values median a pattern predicts.
#include "learning/sona/reasoning_bank.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

using namespace augur::sona;

namespace {

Pattern make(std::vector<float> c, double size, float tokens) {
  Pattern p;
  p.centroid = std::move(c);
  p.size = size;
  Target t;
  t.value[1] = tokens;
  t.present[1] = true;
  for (int i = 0; i < static_cast<int>(size); ++i) p.observe(t, 0);
  p.avg_quality = 0.8;
  return p;
}

}  // namespace

TEST_CASE("find_similar returns the top k by cosine, best first") {
  ReasoningBank bank(3, 10);
  bank.store(make({1, 0, 0}, 5, 1));
  bank.store(make({0, 1, 0}, 5, 2));
  bank.store(make({1, 1, 0}, 5, 3));
  const auto m = bank.find_similar(std::vector<float>{1, 0.1f, 0}, 2);
  REQUIRE(m.size() == 2);
  CHECK(bank.patterns()[m[0].index].value(1) == doctest::Approx(1));
  CHECK(bank.patterns()[m[1].index].value(1) == doctest::Approx(3));
  CHECK(m[0].similarity > m[1].similarity);
  CHECK(ReasoningBank(3, 10).find_similar(std::vector<float>{1, 0, 0}, 3).empty());
}

TEST_CASE("consolidation merges only near-duplicates, weighted by size") {
  ReasoningBank bank(2, 10);
  bank.store(make({1, 0}, 30, 2.0f));
  bank.store(make({1, 0.1f}, 10, 6.0f));  // cosine 0.995 with the first
  bank.store(make({0, 1}, 10, 9.0f));     // orthogonal: kept apart
  CHECK(bank.consolidate(0.95) == 1);
  REQUIRE(bank.size() == 2);
  const Pattern& merged = bank.patterns()[0];
  CHECK(merged.size == doctest::Approx(40));
  CHECK(merged.stats.mean[1] == doctest::Approx((30 * 2.0 + 10 * 6.0) / 40));  // weighted
  CHECK(merged.centroid[1] == doctest::Approx(0.025).epsilon(0.05));  // 3:1 toward the first
  CHECK(bank.patterns()[1].value(1) == doctest::Approx(9));
}

TEST_CASE("storing at capacity evicts the least confident pattern") {
  ReasoningBank bank(2, 3);
  bank.store(make({1, 0}, 50, 1));
  bank.store(make({0, 1}, 1, 2));  // few samples: least confident
  bank.store(make({1, 1}, 20, 3));
  bank.store(make({1, -1}, 20, 4));
  CHECK(bank.size() == 3);
  for (const Pattern& p : bank.patterns()) CHECK(p.value(1) != doctest::Approx(2));
}

TEST_CASE("prune removes stale patterns that are weak, keeps fresh or strong ones") {
  ReasoningBank bank(2, 10);
  Pattern weak = make({1, 0}, 1, 1);
  weak.updated_cycle = 0;
  Pattern strong = make({0, 1}, 100, 1);
  strong.updated_cycle = 0;
  Pattern fresh = make({1, 1}, 1, 1);
  fresh.updated_cycle = 30;
  bank.store(weak);
  bank.store(strong);
  bank.store(fresh);
  CHECK(bank.prune(30, 24, 0.3, 0.1) == 1);
  CHECK(bank.size() == 2);
}

TEST_CASE("a pattern predicts the median of its recent values and turns over with drift") {
  Pattern p;
  Target t;
  t.present[1] = true;
  for (float v : {1.0f, 2.0f, 100.0f}) {
    t.value[1] = v;
    p.observe(t, 0);
  }
  CHECK(p.value(1) == doctest::Approx(2.0));  // the median, not the mean (34.3)
  t.value[1] = 7.0f;
  for (int i = 0; i < 20; ++i) p.observe(t, 0.1);
  CHECK(p.value(1) == doctest::Approx(7.0));
}

TEST_CASE("the median a pattern predicts follows every new value, whether read in between or not") {
  // Seeded values pushed and merged in; one window is read after every change (its median is
  // kept between changes), the other only at the end; both match a sort of the last 32 values.
  std::mt19937_64 rng(7);
  RecentValues read_often, read_once;
  std::vector<float> all;
  for (int step = 0; step < 500; ++step) {
    if (step % 50 == 49) {
      RecentValues newer;
      for (int i = 0; i < 5; ++i) {
        const auto v = static_cast<float>(rng() % 1000) / 10.0f;
        newer.push(v);
        all.push_back(v);
      }
      read_often.append(newer);
      read_once.append(newer);
    } else {
      const auto v = static_cast<float>(rng() % 1000) / 10.0f;
      read_often.push(v);
      read_once.push(v);
      all.push_back(v);
    }
    std::vector<float> window(all.end() - std::min<std::ptrdiff_t>(all.size(), 32), all.end());
    std::sort(window.begin(), window.end());
    const std::size_t n = window.size();
    const float want = n % 2 == 1 ? window[n / 2] : 0.5f * (window[n / 2 - 1] + window[n / 2]);
    REQUIRE(read_often.median() == want);
  }
  CHECK(read_once.median() == read_often.median());
}
