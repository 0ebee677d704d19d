// k-means++ and Lloyd (see kmeans.hpp). Distances go through vec.hpp's dense kernels: on 256-d
// hashed embeddings an AVX2 dense distance is cheaper than a sparse one.
#include "learning/sona/kmeans.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

#include "learning/sona/vec.hpp"

namespace augur::sona {

namespace {

std::span<const float> row(std::span<const float> m, std::size_t dim, std::size_t i) {
  return m.subspan(i * dim, dim);
}

// Nearest centroid of x, and its squared distance.
std::pair<std::uint32_t, float> nearest(std::span<const float> x, std::span<const float> cents,
                                        std::size_t dim, std::size_t k) {
  std::uint32_t best = 0;
  float best_d = std::numeric_limits<float>::max();
  for (std::size_t c = 0; c < k; ++c) {
    const float d = squared_distance(x, row(cents, dim, c));
    if (d < best_d) {
      best_d = d;
      best = static_cast<std::uint32_t>(c);
    }
  }
  return {best, best_d};
}

}  // namespace

std::vector<std::size_t> kmeans_plusplus(std::span<const float> points, std::size_t dim,
                                         std::size_t k, std::mt19937_64& rng) {
  std::vector<std::size_t> seeds;
  const std::size_t n = dim == 0 ? 0 : points.size() / dim;
  if (n == 0 || k == 0) return seeds;
  seeds.push_back(std::uniform_int_distribution<std::size_t>(0, n - 1)(rng));
  std::vector<double> d2(n);
  for (std::size_t i = 0; i < n; ++i)
    d2[i] = squared_distance(row(points, dim, i), row(points, dim, seeds[0]));
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  while (seeds.size() < k) {
    const double total = std::accumulate(d2.begin(), d2.end(), 0.0);
    if (total <= 1e-12) break;  // every point coincides with a seed
    // D² sampling: walk the cumulative sum to a uniform draw over [0, total).
    const double target = uniform(rng) * total;
    double acc = 0;
    std::size_t pick = n;
    for (std::size_t i = 0; i < n; ++i) {
      acc += d2[i];
      if (acc > target && d2[i] > 0) {
        pick = i;
        break;
      }
    }
    if (pick == n)  // rounding at the very end: the last point with any weight
      for (std::size_t i = n; i-- > 0;)
        if (d2[i] > 0) {
          pick = i;
          break;
        }
    seeds.push_back(pick);
    const auto c = row(points, dim, pick);
    for (std::size_t i = 0; i < n; ++i)
      d2[i] = std::min<double>(d2[i], squared_distance(row(points, dim, i), c));
  }
  return seeds;
}

KMeansResult kmeans(std::span<const float> points, std::size_t dim, std::size_t k,
                    std::uint64_t seed, std::size_t max_iterations, std::size_t max_fit_points) {
  KMeansResult r;
  const std::size_t n = dim == 0 ? 0 : points.size() / dim;
  if (n == 0 || k == 0) return r;
  std::mt19937_64 rng(seed);

  // The fitting sample: all points, or a seeded uniform subset (partial Fisher-Yates).
  std::vector<std::size_t> fit(n);
  std::iota(fit.begin(), fit.end(), std::size_t{0});
  if (n > max_fit_points && max_fit_points > 0) {
    for (std::size_t i = 0; i < max_fit_points; ++i)
      std::swap(fit[i], fit[std::uniform_int_distribution<std::size_t>(i, n - 1)(rng)]);
    fit.resize(max_fit_points);
  }
  std::vector<float> sample(fit.size() * dim);
  for (std::size_t i = 0; i < fit.size(); ++i)
    std::copy_n(points.begin() + static_cast<std::ptrdiff_t>(fit[i] * dim), dim,
                sample.begin() + static_cast<std::ptrdiff_t>(i * dim));

  const std::vector<std::size_t> seeds = kmeans_plusplus(sample, dim, k, rng);
  r.k = seeds.size();
  r.centroids.resize(r.k * dim);
  for (std::size_t c = 0; c < r.k; ++c)
    std::copy_n(sample.begin() + static_cast<std::ptrdiff_t>(seeds[c] * dim), dim,
                r.centroids.begin() + static_cast<std::ptrdiff_t>(c * dim));

  const std::size_t m = fit.size();
  std::vector<std::uint32_t> assign(m, std::numeric_limits<std::uint32_t>::max());
  std::vector<float> sums(r.k * dim);
  std::vector<std::uint32_t> counts(r.k);
  for (r.iterations = 0; r.iterations < max_iterations; ++r.iterations) {
    bool changed = false;
    for (std::size_t i = 0; i < m; ++i) {
      const auto [c, d] = nearest(row(sample, dim, i), r.centroids, dim, r.k);
      if (c != assign[i]) {
        assign[i] = c;
        changed = true;
      }
    }
    if (!changed) break;
    std::fill(sums.begin(), sums.end(), 0.0f);
    std::fill(counts.begin(), counts.end(), 0u);
    for (std::size_t i = 0; i < m; ++i) {
      axpy(1.0f, row(sample, dim, i), std::span<float>(sums).subspan(assign[i] * dim, dim));
      ++counts[assign[i]];
    }
    for (std::size_t c = 0; c < r.k; ++c) {
      if (counts[c] == 0) continue;  // an empty cluster keeps its centroid (never the zero vector)
      const float inv = 1.0f / static_cast<float>(counts[c]);
      for (std::size_t j = 0; j < dim; ++j) r.centroids[c * dim + j] = sums[c * dim + j] * inv;
    }
  }

  r.assignment.resize(n);
  r.sizes.assign(r.k, 0);
  for (std::size_t i = 0; i < n; ++i) {
    r.assignment[i] = nearest(row(points, dim, i), r.centroids, dim, r.k).first;
    ++r.sizes[r.assignment[i]];
  }
  return r;
}

}  // namespace augur::sona
