// TrieSubscriber against a real redis-server: versions arrive for every publish and on every
// (re)connect, a killed, restarted or silently frozen server is survived, and stop() is prompt.
#include <doctest/doctest.h>
#include <signal.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "learning/store/redis_store.hpp"
#include "redis_server.hpp"

namespace augur::store::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Collects what the subscriber delivers; the test thread waits on it.
struct Versions {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::uint64_t> seen;
  std::vector<std::string> errors;

  TrieSubscriber::OnVersion on_version() {
    return [this](std::uint64_t v) {
      std::lock_guard lock(mu);
      seen.push_back(v);
      cv.notify_all();
    };
  }
  TrieSubscriber::OnError on_error() {
    return [this](const std::string& e) {
      std::lock_guard lock(mu);
      errors.push_back(e);
    };
  }
  // Waits (up to 10 s) until more than `after` versions were delivered and the last is `v`.
  bool wait_for(std::uint64_t v, std::size_t after = 0) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] { return seen.size() > after && seen.back() == v; });
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return seen.size();
  }
};

bool wait_until(const std::function<bool()>& pred) {
  const auto start = Clock::now();
  while (!pred()) {
    if (seconds_since(start) > 10) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

}  // namespace

TEST_CASE("the subscriber delivers the current version on connect and every published one") {
  RedisServer server;
  RedisStore publisher(test_options(server.url()));
  REQUIRE(publisher.publish_trie("{}").ok());  // version 1 before the subscriber starts

  Versions versions;
  TrieSubscriber sub(test_options(server.url()), versions.on_version(), versions.on_error());
  REQUIRE(versions.wait_for(1));  // the current version, read on connect
  CHECK(sub.connected());

  Result<std::uint64_t> v2 = publisher.publish_trie("{}");
  REQUIRE(v2.ok());
  CHECK(versions.wait_for(2));
  Result<std::uint64_t> v3 = publisher.publish_trie("{}");
  REQUIRE(v3.ok());
  CHECK(versions.wait_for(3));

  // Another namespace's publications are not ours.
  RedisOptions other = test_options(server.url());
  other.ns = "other";
  RedisStore(other).publish_trie("{}").ok();
  REQUIRE(publisher.publish_trie("{}").ok());
  CHECK(versions.wait_for(4));
  std::lock_guard lock(versions.mu);
  CHECK(versions.seen == std::vector<std::uint64_t>{1, 2, 3, 4});
}

TEST_CASE("the subscriber reconnects after the server is killed and restarted") {
  RedisServer server;
  Versions versions;
  TrieSubscriber sub(test_options(server.url()), versions.on_version(), versions.on_error());
  REQUIRE(versions.wait_for(0));  // nothing published yet
  REQUIRE(sub.connected());

  server.kill();
  CHECK(wait_until([&] { return !sub.connected(); }));
  const std::size_t before = versions.count();

  server.start();  // empty again: the version starts over
  // The reconnect alone delivers the current version, so nothing missed stays missed.
  CHECK(versions.wait_for(0, before));
  CHECK(sub.connected());
  RedisStore publisher(test_options(server.url()));
  REQUIRE(publisher.publish_trie("{}").ok());
  CHECK(versions.wait_for(1));
  std::lock_guard lock(versions.mu);
  CHECK_FALSE(versions.errors.empty());  // the outage was reported
}

TEST_CASE("a frozen server is detected by PING and the subscription comes back") {
  RedisServer server;
  RedisOptions o = test_options(server.url());
  o.subscriber_ping_interval = 100ms;
  o.command_timeout = 300ms;
  Versions versions;
  TrieSubscriber sub(o, versions.on_version(), versions.on_error());
  REQUIRE(versions.wait_for(0));

  // SIGSTOP: the socket stays open but nothing answers, as with a host that vanished.
  ::kill(server.pid(), SIGSTOP);
  const bool noticed = wait_until([&] { return !sub.connected(); });
  ::kill(server.pid(), SIGCONT);
  CHECK(noticed);
  CHECK(wait_until([&] { return sub.connected(); }));
}

TEST_CASE("stop() is prompt whether connected or backing off") {
  const auto stop_time = [](TrieSubscriber& sub) {
    const auto start = Clock::now();
    sub.stop();
    sub.stop();  // idempotent
    return seconds_since(start);
  };

  RedisServer server;
  Versions versions;
  TrieSubscriber connected(test_options(server.url()), versions.on_version());
  REQUIRE(versions.wait_for(0));
  CHECK(stop_time(connected) < 1.0);

  RedisOptions down = test_options("redis://127.0.0.1:" + std::to_string(free_port()));
  down.backoff_initial = 2s;  // the thread sits in a long backoff wait
  down.backoff_max = 2s;
  TrieSubscriber backing_off(down, [](std::uint64_t) {});
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(backing_off.connected());
  CHECK(stop_time(backing_off) < 1.0);
}

TEST_CASE("a throwing callback does not take the subscriber down") {
  RedisServer server;
  Versions versions;
  int calls = 0;
  TrieSubscriber sub(
      test_options(server.url()),
      [&](std::uint64_t v) {
        ++calls;
        versions.on_version()(v);
        throw std::runtime_error("consumer bug");
      },
      versions.on_error());
  REQUIRE(versions.wait_for(0));
  RedisStore publisher(test_options(server.url()));
  REQUIRE(publisher.publish_trie("{}").ok());
  CHECK(versions.wait_for(1));
  sub.stop();
  CHECK(calls == 2);
  std::lock_guard lock(versions.mu);
  CHECK(versions.errors.size() >= 2);
}

}  // namespace augur::store::testing
