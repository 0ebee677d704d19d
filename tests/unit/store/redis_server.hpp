// Test support: a real redis-server on a free loopback port, started and killed by the test, and a
// plain hiredis client for looking behind the store's back. The server dies with the test process
// (PR_SET_PDEATHSIG), so a crashed test leaves nothing running.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "learning/store/redis_store.hpp"

struct redisContext;
struct redisReply;

namespace augur::store::testing {

class RedisServer {
 public:
  // Picks a free port and starts the server (retrying on another port if it loses a race for
  // one). Throws std::runtime_error when redis-server cannot be started or does not answer PING
  // within 10 s.
  explicit RedisServer(std::vector<std::string> extra_args = {});
  ~RedisServer();

  std::uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }

  void kill();   // SIGKILL and reap: the "server crashed" case
  void start();  // again on the same port (after kill)

 private:
  bool try_start();

  std::vector<std::string> extra_args_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// One blocking hiredis connection for test setup and checks. Throws std::runtime_error on
// connection or I/O errors and on error replies.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port);
  ~RawClient();

  // Runs a command and returns its reply as text: strings and status as is, integers in
  // decimal, nil as "(nil)", arrays as their element count.
  std::string run(std::initializer_list<std::string_view> args);
  long long integer(std::initializer_list<std::string_view> args) { return std::stoll(run(args)); }
  // Sends a command without waiting for its reply (e.g. DEBUG SLEEP).
  void send(std::initializer_list<std::string_view> args);
  // Reads and checks `n` replies of commands sent with send().
  void read_replies(std::size_t n);

 private:
  std::string read_reply();

  redisContext* c_ = nullptr;
};

// A loopback port nothing listens on (bound and released at once).
std::uint16_t free_port();

// Options for `url` with short reconnect backoffs (20 ms doubling to 200 ms) so tests recover fast.
RedisOptions test_options(const std::string& url, std::string replica = "r",
                          std::string ns = "test");

// Seconds since `start`, for the generous "it was bounded" checks.
double seconds_since(std::chrono::steady_clock::time_point start);

}  // namespace augur::store::testing
