// The kernels behind vec.hpp. `omp simd reduction` lets GCC and Clang vectorise the float sums
// without -ffast-math (only -fopenmp-simd, no OpenMP runtime); target_clones adds the AVX2 copy.
#include "learning/sona/vec.hpp"

#include <algorithm>
#include <cmath>

// Not under sanitizers: the clones' ifunc resolvers run during relocation, before a sanitizer
// runtime is initialised, and crash instrumented.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define AUGUR_SONA_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AUGUR_SONA_SANITIZED 1
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(AUGUR_SONA_SANITIZED)
#define AUGUR_SONA_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define AUGUR_SONA_CLONES
#endif

namespace augur::sona {

namespace {

AUGUR_SONA_CLONES float dot_n(const float* a, const float* b, std::size_t n) noexcept {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (std::size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

AUGUR_SONA_CLONES float squared_distance_n(const float* a, const float* b, std::size_t n) noexcept {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (std::size_t i = 0; i < n; ++i) {
    const float d = a[i] - b[i];
    s += d * d;
  }
  return s;
}

AUGUR_SONA_CLONES void axpy_n(float alpha, const float* x, float* y, std::size_t n) noexcept {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

AUGUR_SONA_CLONES void scale_n(float factor, float* v, std::size_t n) noexcept {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) v[i] *= factor;
}

}  // namespace

float dot(std::span<const float> a, std::span<const float> b) noexcept {
  return dot_n(a.data(), b.data(), std::min(a.size(), b.size()));
}

float squared_distance(std::span<const float> a, std::span<const float> b) noexcept {
  return squared_distance_n(a.data(), b.data(), std::min(a.size(), b.size()));
}

void axpy(float alpha, std::span<const float> x, std::span<float> y) noexcept {
  axpy_n(alpha, x.data(), y.data(), std::min(x.size(), y.size()));
}

void scale(float factor, std::span<float> v) noexcept { scale_n(factor, v.data(), v.size()); }

float normalize(std::span<float> v) noexcept {
  const float norm = std::sqrt(dot(v, v));
  if (norm > 1e-12f) scale(1.0f / norm, v);
  return norm;
}

float cosine(std::span<const float> a, std::span<const float> b) noexcept {
  const float na = dot(a, a), nb = dot(b, b);
  if (na <= 1e-24f || nb <= 1e-24f) return 0;
  return dot(a, b) / std::sqrt(na * nb);
}

}  // namespace augur::sona
