#include "proxy/net/deadline.hpp"

#include <time.h>

#include <boost/asio/error.hpp>

namespace augur::proxy {

std::chrono::steady_clock::time_point coarse_now() noexcept {
#if defined(CLOCK_MONOTONIC_COARSE)
  timespec ts{};
  if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == 0) {
    return std::chrono::steady_clock::time_point(std::chrono::seconds(ts.tv_sec) +
                                                 std::chrono::nanoseconds(ts.tv_nsec));
  }
#endif
  return std::chrono::steady_clock::now();
}

// Shared with the timer handler, which may run after the Deadline is gone: `socket` is cleared
// then, and `generation` makes a superseded wait's late completion harmless.
struct Deadline::State {
  State(Socket& s) : socket(&s), timer(s.get_executor()) {}
  Socket* socket;
  Timer timer;
  Clock::time_point deadline = Clock::time_point::max();
  Clock::time_point timer_at = Clock::time_point::max();
  bool waiting = false;
  bool fired = false;
  std::uint64_t generation = 0;
};

Deadline::Deadline(Socket& socket) : state_(std::make_shared<State>(socket)) {}

Deadline::~Deadline() {
  state_->socket = nullptr;
  ++state_->generation;
  state_->timer.cancel();
}

void Deadline::arm(Clock::duration d) {
  auto& s = *state_;
  s.fired = false;
  s.deadline = coarse_now() + d;
  if (!s.waiting || s.deadline < s.timer_at) wait(state_, s.deadline);
}

void Deadline::disarm() {
  state_->fired = false;
  state_->deadline = Clock::time_point::max();
}

bool Deadline::fired() const { return state_->fired; }

bool Deadline::timed_out(const boost::system::error_code& ec) const {
  return state_->fired && ec;  // the expiry cancelled it: operation_aborted, or a late error
}

void Deadline::wait(const std::shared_ptr<State>& state, Clock::time_point at) {
  auto& s = *state;
  const auto generation = ++s.generation;
  s.waiting = true;
  s.timer_at = at;
  s.timer.expires_at(at);
  s.timer.async_wait([state, generation](const boost::system::error_code& ec) {
    auto& s = *state;
    if (ec || !s.socket || s.generation != generation) return;
    s.waiting = false;
    if (s.deadline == Clock::time_point::max()) return;
    if (Clock::now() >= s.deadline) {
      s.fired = true;
      boost::system::error_code ignored;
      s.socket->cancel(ignored);
    } else {
      wait(state, s.deadline);  // the deadline moved later since this wait began
    }
  });
}

}  // namespace augur::proxy
