// k-means++ with true D² sampling from a seeded RNG, then Lloyd iterations. The background loop
// clusters each cycle's new trajectories with it (never everything retained, as the original did).
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace augur::sona {

// Indices of k seed points of `points` (n x dim, row-major): the first uniformly at random, each
// next with probability proportional to its squared distance to the nearest seed so far. Fewer
// than k when fewer than k points are distinct. Deterministic for a given RNG state.
std::vector<std::size_t> kmeans_plusplus(std::span<const float> points, std::size_t dim,
                                         std::size_t k, std::mt19937_64& rng);

struct KMeansResult {
  std::size_t k = 0;                      // clusters found (<= requested)
  std::vector<float> centroids;           // k x dim
  std::vector<std::uint32_t> assignment;  // per input point
  std::vector<std::uint32_t> sizes;       // per cluster
  std::size_t iterations = 0;
};

// Clusters `points` into at most k clusters. At most `max_fit_points` points (a seeded sample)
// take part in seeding and the Lloyd iterations; every point is assigned at the end. Empty
// clusters keep their previous centroid. Deterministic for a given seed. Thread-safe.
KMeansResult kmeans(std::span<const float> points, std::size_t dim, std::size_t k,
                    std::uint64_t seed, std::size_t max_iterations = 10,
                    std::size_t max_fit_points = 4096);

}  // namespace augur::sona
