// MicroLoRA learns from a single trajectory and repeated feedback drives its error down.
#include "learning/sona/lora.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "learning/sona/vec.hpp"

using namespace augur::sona;

namespace {

std::vector<float> unit(std::size_t dim, std::size_t seed) {
  std::vector<float> x(dim);
  for (std::size_t i = 0; i < dim; ++i) x[i] = std::sin(static_cast<float>(i * 7 + seed * 13));
  normalize(x);
  return x;
}

}  // namespace

TEST_CASE("a fresh adapter outputs zero, and one step moves the output toward the target") {
  LowRankAdapter a(64, 4, 2, 42);
  const auto x = unit(64, 1);
  std::vector<float> y(4, 0.0f);
  a.forward(x, y);
  for (float v : y) CHECK(v == 0.0f);  // B starts at zero ...

  // ... but A does not, so the very first (single-step) update learns: prediction 0, target
  // (1, -2, 0, 0.5) -> err = pred - target.
  const std::vector<float> err = {-1.0f, 2.0f, 0.0f, -0.5f};
  REQUIRE(a.nlms_step(x, err, 0.5f));
  std::fill(y.begin(), y.end(), 0.0f);
  a.forward(x, y);
  CHECK(y[0] == doctest::Approx(0.5).epsilon(0.01));  // half the error removed
  CHECK(y[1] == doctest::Approx(-1.0).epsilon(0.01));
  CHECK(y[2] == doctest::Approx(0.0).epsilon(0.01));
  CHECK(y[3] == doctest::Approx(0.25).epsilon(0.01));
}

TEST_CASE("repeated feedback on a fixed context reduces the error") {
  LowRankAdapter a(128, 4, 2, 7);
  const auto x = unit(128, 3);
  const std::vector<float> target = {0.8f, -1.5f, 0.3f, 0.0f};
  double previous = 1e9;
  for (int step = 0; step < 20; ++step) {
    std::vector<float> y(4, 0.0f), err(4);
    a.forward(x, y);
    double e = 0;
    for (int h = 0; h < 4; ++h) {
      err[h] = y[h] - target[h];
      e += std::fabs(err[h]);
    }
    CHECK(e <= previous + 1e-6);
    previous = e;
    a.nlms_step(x, err, 0.3f);
  }
  CHECK(previous < 0.01);
}

TEST_CASE("rank 2 is really rank 2: its two rows learn different things") {
  LowRankAdapter a(32, 2, 2, 9);
  const auto x1 = unit(32, 1), x2 = unit(32, 2);
  for (int i = 0; i < 50; ++i) {
    std::vector<float> y1(2, 0.0f), y2(2, 0.0f);
    a.forward(x1, y1);
    a.forward(x2, y2);
    a.nlms_step(x1, std::vector<float>{y1[0] - 1.0f, y1[1] + 1.0f}, 0.3f);
    a.nlms_step(x2, std::vector<float>{y2[0] + 1.0f, y2[1] - 1.0f}, 0.3f);
  }
  std::vector<float> y1(2, 0.0f), y2(2, 0.0f);
  a.forward(x1, y1);
  a.forward(x2, y2);
  // Opposite targets on two inputs need two independent directions; rank 1 could not fit both.
  CHECK(y1[0] == doctest::Approx(1.0).epsilon(0.05));
  CHECK(y2[0] == doctest::Approx(-1.0).epsilon(0.05));
  const auto b = a.params().subspan(2 * 32);
  CHECK(b[0] != doctest::Approx(b[1]));
}

TEST_CASE("the published copy reads what the learner wrote") {
  LowRankAdapter a(16, 4, 1, 1);
  PublishedAdapter p(a);
  const auto x = unit(16, 5);
  a.nlms_step(x, std::vector<float>{1, 1, 1, 1}, 0.5f);
  p.publish(a);
  std::vector<float> ya(4, 0.0f), yp(4, 0.0f);
  a.forward(x, ya);
  p.forward(x, yp);
  for (int h = 0; h < 4; ++h) CHECK(yp[h] == doctest::Approx(ya[h]));
}
