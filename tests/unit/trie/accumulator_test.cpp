// Accumulators: Welford moments and their merge; the quantile sketch is NAT-exact for small n,
// within 2% of NAT's exact percentiles on skewed data, and merges to exactly the sketch of the
// union of samples.
#include "learning/trie/accumulator.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "learning/trie/trie.hpp"

namespace augur::trie {
namespace {

// NAT's percentile (numpy "linear"): rank (n-1)q, interpolated between the neighbours.
double nat_percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double rank = static_cast<double>(v.size() - 1) * q;
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const double frac = rank - std::floor(rank);
  if (frac == 0 || lo + 1 >= v.size()) return v[lo];
  return v[lo] + (v[lo + 1] - v[lo]) * frac;
}

QuantileSketch sketch_of(const std::vector<double>& v) {
  QuantileSketch s;
  for (const double x : v) s.add(x);
  return s;
}

double relative_error(double got, double want) { return std::fabs(got - want) / std::fabs(want); }

}  // namespace

TEST_CASE("moments: Welford and Chan merge") {
  Moments all;
  Moments a;
  Moments b;
  const std::vector<double> xs{2, 4, 4, 4, 5, 5, 7, 9};
  for (std::size_t i = 0; i < xs.size(); ++i) {
    all.add(xs[i]);
    (i < 3 ? a : b).add(xs[i]);
  }
  CHECK(all.count() == 8);
  CHECK(all.mean() == doctest::Approx(5.0));
  CHECK(all.variance() == doctest::Approx(4.0));  // population variance of the classic example
  Moments merged = a;
  merged.merge(b);
  CHECK(merged.count() == 8);
  CHECK(merged.mean() == doctest::Approx(all.mean()).epsilon(1e-15));
  CHECK(merged.m2() == doctest::Approx(all.m2()).epsilon(1e-12));
  Moments empty;
  empty.merge(a);
  CHECK(empty == a);
  CHECK_THROWS_AS(Moments::from_parts(1, 0, -1), TrieError);
}

TEST_CASE("sketch: NAT's documented example and exactness up to the limit") {
  QuantileSketch s;
  for (int i = 1; i <= 10; ++i) s.add(i);
  CHECK(s.exact());
  CHECK(s.quantile(0.50) == 5.5);
  CHECK(s.quantile(0.90) == doctest::Approx(9.1).epsilon(1e-15));
  CHECK(s.quantile(0.95) == doctest::Approx(9.55).epsilon(1e-15));
  CHECK(QuantileSketch{}.quantile(0.5) == 0);

  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(3.0, 1.0);
  for (std::size_t n : {1u, 2u, 3u, 17u, 100u, 128u}) {
    std::vector<double> v(n);
    for (double& x : v) x = dist(rng);
    const QuantileSketch sk = sketch_of(v);
    CHECK(sk.exact());
    for (const double q : {0.0, 0.5, 0.9, 0.95, 1.0}) CHECK(sk.quantile(q) == nat_percentile(v, q));
  }
  std::vector<double> v(129, 1.0);
  CHECK_FALSE(sketch_of(v).exact());
}

TEST_CASE("sketch: within 2% of exact percentiles on skewed data") {
  struct Case {
    const char* name;
    std::function<double(std::mt19937_64&)> draw;
  };
  const std::vector<Case> cases = {
      {"lognormal(0,1)",
       [](std::mt19937_64& r) { return std::lognormal_distribution<double>(0, 1)(r); }},
      {"lognormal(5,1.5)",
       [](std::mt19937_64& r) { return std::lognormal_distribution<double>(5, 1.5)(r); }},
      {"exponential(1)",
       [](std::mt19937_64& r) { return std::exponential_distribution<double>(1)(r); }},
      {"exponential(1/300 ms)",
       [](std::mt19937_64& r) { return std::exponential_distribution<double>(1.0 / 300)(r); }},
  };
  double worst = 0;
  for (const Case& c : cases) {
    for (const std::size_t n : {1'000u, 10'000u, 100'000u}) {
      std::mt19937_64 rng(12345 + n);
      std::vector<double> v(n);
      for (double& x : v) x = c.draw(rng);
      const QuantileSketch s = sketch_of(v);
      CHECK(s.count() == n);
      for (const double q : {0.5, 0.9, 0.95}) {
        const double err = relative_error(s.quantile(q), nat_percentile(v, q));
        CAPTURE(c.name);
        CAPTURE(n);
        CAPTURE(q);
        CHECK(err <= 0.02);
        worst = std::max(worst, err);
      }
      CHECK(s.quantile(0) == *std::min_element(v.begin(), v.end()));
      CHECK(s.quantile(1) == *std::max_element(v.begin(), v.end()));
      const auto p = s.parts();
      CHECK(p.positive.counts.size() < 1200);  // bounded by the value range, not by n
    }
  }
  MESSAGE("worst relative error of p50/p90/p95: " << worst);
  CHECK(worst <= QuantileSketch::kRelativeAccuracy + 1e-12);
}

TEST_CASE("sketch: integer-valued and mixed-sign data") {
  // remaining_calls-like data: small integers, many ties.
  std::mt19937_64 rng(3);
  std::vector<double> calls(5000);
  for (double& x : calls) x = static_cast<double>(rng() % 12);
  const QuantileSketch s = sketch_of(calls);
  for (const double q : {0.5, 0.9, 0.95}) {
    const double want = nat_percentile(calls, q);
    CHECK(std::fabs(s.quantile(q) - want) <= 0.01 * want + 1e-12);
  }
  // Negative values (a tolerant reader may meet them): relative to the scale of the data.
  std::normal_distribution<double> normal(0, 100);
  std::vector<double> mixed(20000);
  for (double& x : mixed) x = normal(rng);
  const QuantileSketch m = sketch_of(mixed);
  for (const double q : {0.05, 0.5, 0.9, 0.95}) {
    CHECK(std::fabs(m.quantile(q) - nat_percentile(mixed, q)) <= 2.0);
  }
}

TEST_CASE("sketch merge equals the sketch of all samples") {
  std::mt19937_64 rng(99);
  std::lognormal_distribution<double> dist(4, 1);
  for (const std::size_t n : {60u, 200u, 5000u}) {
    std::vector<double> v(n);
    for (double& x : v) x = dist(rng);
    const QuantileSketch whole = sketch_of(v);
    // Three uneven parts, merged in two different orders.
    const std::size_t cut1 = n / 5;
    const std::size_t cut2 = n / 2;
    QuantileSketch a = sketch_of({v.begin(), v.begin() + cut1});
    QuantileSketch b = sketch_of({v.begin() + cut1, v.begin() + cut2});
    QuantileSketch c = sketch_of({v.begin() + cut2, v.end()});
    QuantileSketch abc = a;
    abc.merge(b);
    abc.merge(c);
    QuantileSketch cba = c;
    cba.merge(b);
    cba.merge(a);
    CAPTURE(n);
    for (const double q : {0.0, 0.5, 0.9, 0.95, 1.0}) {
      CHECK(abc.quantile(q) == whole.quantile(q));
      CHECK(cba.quantile(q) == whole.quantile(q));
    }
    if (!whole.exact()) {
      CHECK(abc == whole);  // identical buckets, not just close
      CHECK(cba == whole);
    }
  }
}

TEST_CASE("sketch parts round trip and validation") {
  std::vector<double> v;
  v.reserve(1000);
  for (int i = 0; i < 1000; ++i) v.push_back(i * 1.5 - 100);
  const QuantileSketch s = sketch_of(v);
  CHECK(QuantileSketch::from_parts(s.parts()) == s);
  const QuantileSketch small = sketch_of({1, 2, 3});
  CHECK(QuantileSketch::from_parts(small.parts()) == small);

  auto bad = s.parts();
  bad.count += 1;
  CHECK_THROWS_AS(QuantileSketch::from_parts(bad), TrieError);
  bad = s.parts();
  bad.positive.offset = 100000;
  CHECK_THROWS_AS(QuantileSketch::from_parts(bad), TrieError);
  bad = small.parts();
  bad.samples.push_back(2);
  CHECK_THROWS_AS(QuantileSketch::from_parts(bad), TrieError);
}

TEST_CASE("metric accumulator: NAT metrics, zeros when empty, non-finite ignored") {
  MetricAccumulator m;
  CHECK(m.stats() == MetricStats{});
  for (const double x : {10.0, 20.0, 30.0, 40.0}) m.add(x);
  m.add(std::nan(""));
  const MetricStats s = m.stats();
  CHECK(s.sample_count == 4);
  CHECK(s.mean == 25.0);
  CHECK(s.p50 == 25.0);                   // rank 1.5
  CHECK(s.p90 == doctest::Approx(37.0));  // rank 2.7: 30 + 0.7 * 10
  CHECK(s.p95 == doctest::Approx(38.5));  // rank 2.85
}

}  // namespace augur::trie

namespace augur::trie {

TEST_CASE("weighted samples: unit weights are NAT's rank, one scale factor changes nothing") {
  const std::vector<double> v{5, 1, 9, 3, 7, 2, 8};
  QuantileSketch unit;
  QuantileSketch weighted;
  for (const double x : v) {
    unit.add(x);
    weighted.add(x, 0.25);  // every weight alike: the same quantiles
  }
  for (const double q : {0.0, 0.5, 0.9, 0.95, 1.0}) {
    CHECK(unit.quantile(q) == nat_percentile(v, q));
    CHECK(weighted.quantile(q) == unit.quantile(q));
  }
  weighted.scale(1e-200);
  CHECK(weighted.quantile(0.9) == unit.quantile(0.9));
  CHECK(weighted.weight() > 0);

  // A heavy recent sample outweighs many light old ones.
  QuantileSketch drift;
  for (int i = 0; i < 50; ++i) drift.add(100, 1.0 / 1024);
  for (int i = 0; i < 10; ++i) drift.add(400, 1.0);
  CHECK(drift.count() == 60);
  CHECK(drift.quantile(0.5) == 400);
  Moments m;
  for (int i = 0; i < 50; ++i) m.add(100, 1.0 / 1024);
  for (int i = 0; i < 10; ++i) m.add(400, 1.0);
  CHECK(m.count() == 60);
  CHECK(m.mean() == doctest::Approx((50 * 100 / 1024.0 + 4000) / (50 / 1024.0 + 10)));
}

TEST_CASE("weighted merge with a scale equals adding the scaled weights, in buckets too") {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> dist(3, 0.5);
  for (const std::size_t n : {40u, 400u}) {
    QuantileSketch a;
    QuantileSketch b;
    QuantileSketch whole;
    Moments ma;
    Moments mb;
    Moments mwhole;
    for (std::size_t i = 0; i < n; ++i) {
      const double x = std::round(dist(rng));
      const double w = 1.0 + static_cast<double>(i % 7);
      (i % 2 ? a : b).add(x, w);
      (i % 2 ? ma : mb).add(x, w);
      whole.add(x, i % 2 ? w : w / 8);
      mwhole.add(x, i % 2 ? w : w / 8);
    }
    a.merge(b, 0.125);
    ma.merge(mb, 0.125);
    CAPTURE(n);
    CHECK(a.count() == n);
    CHECK(a.weight() == doctest::Approx(whole.weight()).epsilon(1e-12));
    CHECK(ma.mean() == doctest::Approx(mwhole.mean()).epsilon(1e-12));
    CHECK(ma.m2() == doctest::Approx(mwhole.m2()).epsilon(1e-9));
    for (const double q : {0.5, 0.9, 0.95}) CHECK(a.quantile(q) == whole.quantile(q));
    const QuantileSketch back = QuantileSketch::from_parts(a.parts());
    CHECK(back == a);
  }
}

}  // namespace augur::trie
