// EWC++: parameters important to an earlier task are held near their values while a new task
// trains; the Fisher is sized to the protected parameters; a shift in gradients is a boundary.
#include "learning/sona/ewc.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace augur::sona;

TEST_CASE("EWC constrains the parameters an earlier task relied on") {
  // Task A: loss (w0 - 1)^2, so only w0 matters to it. Task B: (w0 + 1)^2 + (w1 + 1)^2.
  auto train_b = [](Ewc* ewc, std::vector<float> w) {
    for (int i = 0; i < 200; ++i) {
      const std::vector<float> g = {2 * (w[0] + 1), 2 * (w[1] + 1)};
      if (ewc != nullptr)
        ewc->step(w, g, 0.05);
      else
        for (int j = 0; j < 2; ++j) w[j] -= 0.05f * g[j];
    }
    return w;
  };
  Ewc ewc(EwcConfig{.param_count = 2, .lambda = 500});
  std::vector<float> w = {0, 0};
  for (int i = 0; i < 200; ++i) {
    const std::vector<float> g = {2 * (w[0] - 1), 0};
    ewc.observe(g);
    ewc.step(w, g, 0.05);
  }
  CHECK(w[0] == doctest::Approx(1.0).epsilon(0.01));
  ewc.start_task(w);
  CHECK(ewc.task_count() == 1);
  CHECK(ewc.lambda() == doctest::Approx(550));  // grows 10% per remembered task

  const std::vector<float> with = train_b(&ewc, w);
  const std::vector<float> without = train_b(nullptr, w);
  CHECK(without[0] == doctest::Approx(-1.0).epsilon(0.01));  // plain SGD forgets task A
  CHECK(with[0] > 0.5f);                                     // EWC keeps w0 near task A's 1
  CHECK(with[1] == doctest::Approx(-1.0).epsilon(0.01));     // w1 was free: it learns task B
  CHECK(ewc.penalty(with) < ewc.penalty(without));
}

TEST_CASE("EWC ignores gradients of the wrong size and detects a task boundary") {
  Ewc ewc(EwcConfig{.param_count = 8, .min_samples = 50});
  CHECK_FALSE(ewc.observe(std::vector<float>(4, 1.0f)));
  CHECK(ewc.samples() == 0);
  std::mt19937_64 rng(3);
  std::normal_distribution<float> noise(0.0f, 0.1f);
  bool early = false;
  for (int i = 0; i < 100; ++i) {
    std::vector<float> g(8);
    for (float& x : g) x = 1.0f + noise(rng);
    early |= ewc.observe(g);
  }
  CHECK_FALSE(early);
  CHECK(ewc.fisher()[0] == doctest::Approx(1.0).epsilon(0.1));  // E[g^2], bias-corrected
  std::vector<float> shifted(8, -2.0f);
  CHECK(ewc.observe(shifted));
}
