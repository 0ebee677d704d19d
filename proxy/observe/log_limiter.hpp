// Rate limits for the log lines a flood can trigger (failed accepts, refused connections): events
// are counted, and a line that reports how many happened is due at most once per interval.
#pragma once

#include <chrono>
#include <cstdint>

namespace augur::proxy {

// Not thread-safe: one per io thread (or per loop).
class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogLimiter(Clock::duration interval = std::chrono::seconds(1)) : interval_(interval) {}

  // Counts one event. Returns how many events to report (this one included) when a line is due,
  // else 0.
  std::uint64_t due(Clock::time_point now = Clock::now()) {
    ++pending_;
    if (logged_ != Clock::time_point{} && now - logged_ < interval_) return 0;
    logged_ = now;
    const auto n = pending_;
    pending_ = 0;
    return n;
  }

 private:
  Clock::duration interval_;
  Clock::time_point logged_{};
  std::uint64_t pending_ = 0;
};

}  // namespace augur::proxy
