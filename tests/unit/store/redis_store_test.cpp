// RedisStore against a real redis-server: every call's round trip, the leader lock between two
// replicas, SCAN over many keys, the capped stream, and what happens when the server is down,
// killed and restarted, or stalled. Time bounds are generous: they prove "bounded", not "fast".
#include "learning/store/redis_store.hpp"

#include <doctest/doctest.h>

#include <thread>

#include "redis_server.hpp"

namespace augur::store::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Calls `f` until it succeeds or `limit` passes; returns its last result.
template <class F>
auto eventually(F f, std::chrono::seconds limit = 10s) {
  const auto start = Clock::now();
  auto r = f();
  while (!r.ok() && Clock::now() - start < limit) {
    std::this_thread::sleep_for(10ms);
    r = f();
  }
  return r;
}

// The newest entry of the runs stream as "field=value".
std::string last_run(RawClient& raw) {
  return raw.run({"EVAL",
                  "local e = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1] "
                  "return e[2][1] .. '=' .. e[2][2]",
                  "1", "augur:test:runs"});
}

}  // namespace

TEST_CASE("accumulator, trie and runs round-trip through redis") {
  RedisServer server;
  RawClient raw(server.port());
  RedisStore a(test_options(server.url(), "replica-a"));
  RedisStore b(test_options(server.url(), "replica-b"));
  CHECK_FALSE(a.connected());  // lazily

  SUBCASE("accumulators") {
    Result<std::optional<std::string>> none = a.load_own_accumulator();
    REQUIRE(none.ok());
    CHECK_FALSE(none->has_value());
    CHECK(a.connected());

    const std::string binary("state\0with\r\nbytes", 17);
    REQUIRE(a.flush_accumulator(binary).ok());
    REQUIRE(b.flush_accumulator("b1").ok());
    REQUIRE(b.flush_accumulator("b2").ok());  // each flush replaces the replica's own key
    Result<std::optional<std::string>> own = a.load_own_accumulator();
    REQUIRE(own.ok());
    CHECK(**own == binary);

    const long long ttl = raw.integer({"TTL", "augur:test:acc:replica-a"});
    CHECK(ttl > 7 * 24 * 3600 - 60);
    CHECK(ttl <= 7 * 24 * 3600);

    Result<std::vector<std::pair<std::string, std::string>>> all = a.read_all_accumulators();
    REQUIRE(all.ok());
    REQUIRE(all->size() == 2);
    CHECK((*all)[0] == std::pair<std::string, std::string>{"replica-a", binary});
    CHECK((*all)[1] == std::pair<std::string, std::string>{"replica-b", "b2"});
  }

  SUBCASE("trie publish and read") {
    Result<std::optional<std::pair<std::uint64_t, std::string>>> none = a.read_trie();
    REQUIRE(none.ok());
    CHECK_FALSE(none->has_value());

    Result<std::uint64_t> v1 = a.publish_trie(R"({"version": "1.0"})");
    REQUIRE(v1.ok());
    CHECK(*v1 == 1);
    Result<std::uint64_t> v2 = b.publish_trie(R"({"version": "1.0", "n": 2})");
    REQUIRE(v2.ok());
    CHECK(*v2 == 2);

    Result<std::optional<std::pair<std::uint64_t, std::string>>> got = a.read_trie();
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    CHECK((*got)->first == 2);
    CHECK((*got)->second == R"({"version": "1.0", "n": 2})");
    CHECK(raw.run({"GET", "augur:test:trie:version"}) == "2");

    raw.run({"SET", "augur:test:trie:version", "not-a-number"});
    Result<std::optional<std::pair<std::uint64_t, std::string>>> bad = a.read_trie();
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().find("not a version number") != std::string::npos);
  }

  SUBCASE("run records") {
    const std::vector<std::string> lines = {R"({"run_id": "r1"})", R"({"run_id": "r2"})"};
    REQUIRE(a.append_runs(lines).ok());
    REQUIRE(a.append_runs({}).ok());
    CHECK(raw.integer({"XLEN", "augur:test:runs"}) == 2);
    CHECK(last_run(raw) == R"(run={"run_id": "r2"})");
  }

  SUBCASE("an error reply fails the call and leaves the connection usable") {
    raw.run({"SET", "augur:test:runs", "not a stream"});
    const std::vector<std::string> lines = {"{}", "{}"};
    Result<void> r = a.append_runs(lines);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("WRONGTYPE") != std::string::npos);
    CHECK(a.connected());
    CHECK(a.flush_accumulator("still works").ok());
  }

  SUBCASE("replica-scoped calls need a replica id") {
    RedisStore anonymous(test_options(server.url(), ""));
    Result<void> r = anonymous.flush_accumulator("x");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("replica") != std::string::npos);
    CHECK(anonymous.read_trie().ok());  // the rest works without one
  }
}

TEST_CASE("the rebuild lock is held by one replica at a time and expires") {
  RedisServer server;
  RawClient raw(server.port());
  RedisStore a(test_options(server.url(), "replica-a"));
  RedisStore b(test_options(server.url(), "replica-b"));

  Result<bool> got = a.try_acquire_rebuild_lock(60s);
  REQUIRE(got.ok());
  CHECK(*got);
  CHECK(raw.run({"GET", "augur:test:lock:rebuild"}) == "replica-a");

  got = b.try_acquire_rebuild_lock(60s);
  REQUIRE(got.ok());
  CHECK_FALSE(*got);

  // Re-acquiring what one holds extends it.
  raw.run({"PEXPIRE", "augur:test:lock:rebuild", "5000"});
  got = a.try_acquire_rebuild_lock(60s);
  REQUIRE(got.ok());
  CHECK(*got);
  CHECK(raw.integer({"PTTL", "augur:test:lock:rebuild"}) > 30000);

  // Releasing a lock one does not hold leaves it alone.
  REQUIRE(b.release_rebuild_lock().ok());
  CHECK(raw.run({"GET", "augur:test:lock:rebuild"}) == "replica-a");

  REQUIRE(a.release_rebuild_lock().ok());
  CHECK(raw.run({"GET", "augur:test:lock:rebuild"}) == "(nil)");
  got = b.try_acquire_rebuild_lock(200ms);
  REQUIRE(got.ok());
  CHECK(*got);

  // b crashes holding it: once the TTL passes, a can take it.
  const auto start = Clock::now();
  bool a_has_it = false;
  while (!a_has_it && seconds_since(start) < 10) {
    Result<bool> r = a.try_acquire_rebuild_lock(60s);
    REQUIRE(r.ok());
    a_has_it = *r;
    if (!a_has_it) std::this_thread::sleep_for(20ms);
  }
  CHECK(a_has_it);
  CHECK(raw.run({"GET", "augur:test:lock:rebuild"}) == "replica-a");
}

TEST_CASE("read_all_accumulators pages through many keys and only its namespace") {
  RedisServer server;
  RawClient raw(server.port());
  // A namespace with glob characters, next to one its unescaped pattern would also match.
  RedisStore store(test_options(server.url(), "r0", "team*"));
  constexpr int kReplicas = 2500;
  for (int i = 0; i < kReplicas; ++i) {
    const std::string id = std::to_string(i);
    raw.send({"SET", "augur:team*:acc:replica-" + id, "state-" + id});
  }
  raw.read_replies(kReplicas);
  raw.run({"SET", "augur:teamX:acc:other", "not ours"});
  raw.run({"SET", "augur:team*:trie", "not an accumulator"});
  raw.run({"SET", "other:team*:acc:x", "other prefix"});

  Result<std::vector<std::pair<std::string, std::string>>> all = store.read_all_accumulators();
  REQUIRE(all.ok());
  REQUIRE(all->size() == kReplicas);
  for (const auto& [replica, state] : *all) {
    REQUIRE(replica.starts_with("replica-"));
    CHECK(state == "state-" + replica.substr(8));
  }
}

TEST_CASE("the runs stream is capped") {
  // Small stream nodes so that MAXLEN ~ trims close to the cap.
  RedisServer server({"--stream-node-max-entries", "10"});
  RawClient raw(server.port());
  RedisOptions o = test_options(server.url(), "r");
  o.runs_maxlen = 50;
  RedisStore store(o);
  std::vector<std::string> lines;
  lines.reserve(1000);
  for (int i = 0; i < 1000; ++i) lines.push_back(R"({"run_id": "r)" + std::to_string(i) + "\"}");
  REQUIRE(store.append_runs(lines).ok());
  const long long len = raw.integer({"XLEN", "augur:test:runs"});
  CHECK(len >= 50);
  CHECK(len <= 70);
  CHECK(last_run(raw) == R"(run={"run_id": "r999"})");
}

TEST_CASE("server down: calls fail fast and back off instead of hammering") {
  RedisOptions o = test_options("redis://127.0.0.1:" + std::to_string(free_port()), "r");
  o.backoff_initial = 50ms;
  o.backoff_max = 400ms;
  RedisStore store(o);

  auto start = Clock::now();
  Result<void> first = store.flush_accumulator("x");
  REQUIRE_FALSE(first.ok());
  CHECK(seconds_since(start) < 5);
  CHECK(first.error().find("127.0.0.1:") != std::string::npos);
  CHECK(store.connect_attempts() == 1);

  // While backing off, calls return at once without connecting.
  Result<bool> second = store.try_acquire_rebuild_lock(1s);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().find("next attempt in") != std::string::npos);
  CHECK(store.connect_attempts() == 1);

  // A learning thread calling in a tight loop for a second makes a handful of attempts.
  start = Clock::now();
  int calls = 0;
  int failures = 0;
  while (seconds_since(start) < 1) {
    failures += store.read_trie().ok() ? 0 : 1;
    ++calls;
  }
  CHECK(failures == calls);
  CHECK(calls > 100);
  CHECK(store.connect_attempts() <= 12);
}

TEST_CASE("an unreachable host: connecting is bounded by connect_timeout") {
  // 192.0.2.0/24 is TEST-NET-1: never routed. Depending on the network this times out or is
  // refused at once; either way the call must come back promptly.
  RedisOptions o = test_options("redis://192.0.2.1:6379", "r");
  o.connect_timeout = 300ms;
  RedisStore store(o);
  const auto start = Clock::now();
  CHECK_FALSE(store.flush_accumulator("x").ok());
  CHECK(seconds_since(start) < 5);
}

TEST_CASE("server killed and restarted: the store reconnects and flushing works again") {
  RedisServer server;
  RedisStore store(test_options(server.url(), "r"));
  REQUIRE(store.flush_accumulator("before").ok());
  REQUIRE(store.connected());

  server.kill();
  const auto start = Clock::now();
  Result<void> down = store.flush_accumulator("during");
  CHECK_FALSE(down.ok());
  CHECK(seconds_since(start) < 5);
  CHECK_FALSE(store.connected());

  server.start();  // same port, empty (no persistence)
  Result<void> back = eventually([&] { return store.flush_accumulator("after"); });
  REQUIRE_MESSAGE(back.ok(), (back.ok() ? "" : back.error()));
  CHECK(store.connected());
  Result<std::optional<std::string>> own = store.load_own_accumulator();
  REQUIRE(own.ok());
  CHECK(**own == "after");
}

TEST_CASE("server stalled (DEBUG SLEEP): calls time out within the command timeout") {
  RedisServer server;
  RedisOptions o = test_options(server.url(), "r");
  o.command_timeout = 500ms;
  RedisStore store(o);
  REQUIRE(store.flush_accumulator("before").ok());

  RawClient sleeper(server.port());
  sleeper.send({"DEBUG", "SLEEP", "4"});
  std::this_thread::sleep_for(200ms);  // let the server start sleeping

  const auto start = Clock::now();
  Result<void> stalled = store.flush_accumulator("during");
  const double took = seconds_since(start);
  REQUIRE_FALSE(stalled.ok());
  CHECK(stalled.error().find("timed out") != std::string::npos);
  CHECK(took < 3.5);  // well before the server wakes up

  Result<void> later = eventually([&] { return store.flush_accumulator("after"); });
  REQUIRE_MESSAGE(later.ok(), (later.ok() ? "" : later.error()));
  Result<std::optional<std::string>> own = store.load_own_accumulator();
  REQUIRE(own.ok());
  CHECK(**own == "after");
}

}  // namespace augur::store::testing
