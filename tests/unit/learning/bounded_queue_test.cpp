#include "learning/bounded_queue.hpp"

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

using augur::learning::BoundedQueue;

TEST_CASE("a full queue refuses pushes and keeps the value; pops come out in order") {
  BoundedQueue<std::string> q(3);
  CHECK(q.capacity() == 3);
  for (int i = 0; i < 3; ++i) CHECK(q.try_push("v" + std::to_string(i)));
  std::string extra = "extra";
  CHECK_FALSE(q.try_push(std::move(extra)));
  CHECK(extra == "extra");  // not moved from: the caller still has it
  CHECK(q.dropped() == 1);
  for (int i = 0; i < 3; ++i) CHECK(q.try_pop() == "v" + std::to_string(i));
  CHECK_FALSE(q.try_pop().has_value());
  CHECK(q.try_push(std::move(extra)));  // room again after the pops
}

TEST_CASE("concurrent producers: every pushed value is popped exactly once") {
  constexpr int producers = 4, each = 20000;
  BoundedQueue<int> q(1024);
  std::vector<std::thread> threads;
  threads.reserve(producers);
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&q, p] {
      for (int i = 0; i < each; ++i) {
        while (!q.try_push(p * each + i)) std::this_thread::yield();
      }
    });
  }
  std::vector<int> seen(producers * each, 0);
  int got = 0;
  while (got < producers * each) {
    if (auto v = q.try_pop()) {
      ++seen[static_cast<std::size_t>(*v)];
      ++got;
    }
  }
  for (auto& t : threads) t.join();
  bool all_once = true;
  for (int c : seen) all_once = all_once && c == 1;
  CHECK(all_once);
}
