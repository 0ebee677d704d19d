// Deadlines for socket operations. One timer per connection that is re-armed only when a deadline
// moves earlier (beast::tcp_stream arms and cancels a timer on every operation), and an expiry
// cancels the pending operation but leaves the socket open, so augur can still answer (408) or
// tell a timeout from a reset.
#pragma once

#include <boost/system/error_code.hpp>
#include <chrono>
#include <memory>

#include "proxy/net/io.hpp"

namespace augur::proxy {

// The time to set deadlines and idle stamps by: CLOCK_MONOTONIC as of the kernel's last tick
// (1-4 ms old), at a quarter of a precise read's cost; a request takes a dozen of them. The
// steady clock is CLOCK_MONOTONIC too, so the two compare: a deadline set from this one ends at
// most a tick early. Durations that are reported or learned keep the precise clock.
std::chrono::steady_clock::time_point coarse_now() noexcept;

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Deadline(Socket& socket);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // Operations pending on the socket are cancelled once `d` has passed from now. Clears fired().
  void arm(Clock::duration d);
  // No deadline (an idle pooled connection, say); the timer stops at its next wake-up.
  void disarm();
  // Whether the last armed deadline expired (and cancelled what was pending).
  bool fired() const;
  // fired() and ec is what a cancelled operation reports: the operation timed out.
  bool timed_out(const boost::system::error_code& ec) const;

 private:
  struct State;
  static void wait(const std::shared_ptr<State>& state, Clock::time_point at);
  std::shared_ptr<State> state_;
};

}  // namespace augur::proxy
