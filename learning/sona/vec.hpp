// Dense float kernels shared by SONA's embedding, adapters, k-means and pattern search. On x86-64
// they are compiled twice (AVX2 and baseline) and picked at load time, so one binary runs on any
// x86-64 yet uses 8-wide lanes where the CPU has them. All are pure functions: thread-safe.
#pragma once

#include <cstddef>
#include <span>

namespace augur::sona {

// Σ a[i]·b[i] over the common length.
float dot(std::span<const float> a, std::span<const float> b) noexcept;

// Σ (a[i] − b[i])² over the common length.
float squared_distance(std::span<const float> a, std::span<const float> b) noexcept;

// y[i] += alpha·x[i] over the common length.
void axpy(float alpha, std::span<const float> x, std::span<float> y) noexcept;

// v[i] *= factor.
void scale(float factor, std::span<float> v) noexcept;

// Scales v to unit length; leaves a (near-)zero vector unchanged. Returns the old norm.
float normalize(std::span<float> v) noexcept;

// Cosine similarity; 0 when either vector is (near-)zero.
float cosine(std::span<const float> a, std::span<const float> b) noexcept;

}  // namespace augur::sona
