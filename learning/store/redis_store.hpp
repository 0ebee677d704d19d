// The Redis store: how replicas share learning (DESIGN.md, Redis). RedisStore is the learning
// thread's synchronous client (accumulator flush and resume, rebuild lock, merged trie, run-records
// stream); TrieSubscriber listens for published trie versions on a thread and connection of its
// own. Every network call is bounded by timeouts and reports failure as a Result, never by
// throwing, so a Redis that is down or stalled only delays learning, never the proxy.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/redis_url.hpp"
#include "common/result.hpp"

struct redisContext;  // hiredis, kept out of this header

namespace augur::store {

struct RedisOptions {
  std::string url = "redis://127.0.0.1:6379";  // see parse_redis_url
  std::string key_prefix = "augur:";
  std::string ns = "default";  // config key store.namespace
  std::string replica;         // this replica's id; required by the accumulator and lock calls
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds command_timeout{500};  // per socket read/write
  std::chrono::seconds acc_ttl{7 * 24 * 3600};     // accumulator keys expire unless re-flushed
  std::size_t runs_maxlen = 100000;                // XADD MAXLEN ~ (0 = uncapped)
  // Reconnect backoff: after a failure no new connection is tried for a delay that doubles from
  // `backoff_initial` up to `backoff_max` (with +-20% jitter seeded from the replica id), so a
  // dead server is not hammered.
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};
  // TrieSubscriber only: PING this often when idle; no answer within command_timeout means the
  // connection is dead (a server that vanished without closing the socket) and is replaced.
  std::chrono::milliseconds subscriber_ping_interval{5000};
};

// The key names of DESIGN.md for one key prefix and namespace. Thread-safe (immutable).
struct RedisKeys {
  RedisKeys(std::string_view key_prefix, std::string_view ns);

  std::string acc(std::string_view replica) const { return base + "acc:" + std::string(replica); }

  std::string base;         // {p}{ns}:
  std::string acc_pattern;  // SCAN MATCH pattern of every acc key (glob characters escaped)
  std::string trie;         // {p}{ns}:trie
  std::string version;      // {p}{ns}:trie:version
  std::string updates;      // {p}{ns}:trie:updates (pub/sub channel)
  std::string lock;         // {p}{ns}:lock:rebuild
  std::string runs;         // {p}{ns}:runs (stream)
};

// One connection, opened lazily and re-opened after failures (with backoff). Not thread-safe: use
// one instance from one thread. hiredis writes with write(2), so the process must ignore SIGPIPE
// (augur's main does), or a server that drops the connection kills it.
class RedisStore {
 public:
  // Does not connect. Throws std::invalid_argument when the URL does not parse (parse_redis_url's
  // message) or the namespace is empty; never throws for network reasons.
  explicit RedisStore(RedisOptions options);
  ~RedisStore();
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  // Whether a connection is open, as of the last call (a server that died since is noticed by the
  // next call).
  bool connected() const noexcept;
  // Connection attempts made so far (each is bounded by connect_timeout).
  std::uint64_t connect_attempts() const noexcept { return connect_attempts_; }
  const RedisKeys& keys() const noexcept { return keys_; }
  const RedisEndpoint& endpoint() const noexcept { return endpoint_; }

  // Every call below connects first when needed. While backing off after a failure it returns an
  // error at once, without touching the network. A failed call drops the connection (so a late
  // reply can never be mistaken for the next call's) and starts or extends the backoff. Each
  // round trip is bounded by command_timeout, each connect by connect_timeout.

  // SET {p}{ns}:acc:{replica} to `state` with the acc_ttl expiry.
  Result<void> flush_accumulator(std::string_view state);
  // This replica's accumulator state (to resume after a restart); nullopt when there is none.
  Result<std::optional<std::string>> load_own_accumulator();

  // The rebuild lock, token = replica: true when this replica now holds it for `ttl` (taken with
  // SET NX PX, or extended when it held it already), false when another replica holds it.
  Result<bool> try_acquire_rebuild_lock(std::chrono::milliseconds ttl);
  // Deletes the lock only if this replica holds it (compare-and-delete in one Lua script), so a
  // lock that expired and was taken by another replica is left alone.
  Result<void> release_rebuild_lock();

  // Every replica's accumulator state as (replica, state), sorted by replica. Found with SCAN
  // MATCH (never KEYS, which would stall the server) and read with MGET in batches; a key that
  // expires in between is skipped.
  Result<std::vector<std::pair<std::string, std::string>>> read_all_accumulators();

  // Stores `nat_json` as the trie, increments the version and publishes the new version on the
  // updates channel, atomically (one Lua script: PUBLISH needs the INCR's result, which MULTI/EXEC
  // cannot feed forward). Returns the new version.
  Result<std::uint64_t> publish_trie(std::string_view nat_json);
  // The published (version, NAT JSON), read together with MGET; nullopt when nothing is published.
  // The JSON is returned as stored: validating it is the caller's job.
  Result<std::optional<std::pair<std::uint64_t, std::string>>> read_trie();

  // XADD each line to the runs stream (field "run"), capped with MAXLEN ~ runs_maxlen, pipelined
  // in batches. On failure some lines may have been added.
  Result<void> append_runs(std::span<const std::string> run_record_json_lines);

 private:
  struct Reply;

  Result<redisContext*> connection();
  Error fail(std::string message);
  Result<Reply> command(std::initializer_list<std::string_view> args);
  Result<std::vector<Reply>> pipeline(std::span<const std::vector<std::string_view>> commands);
  Result<void> require_replica() const;

  RedisOptions options_;
  RedisEndpoint endpoint_;
  RedisKeys keys_;
  struct Connection;
  std::unique_ptr<Connection> conn_;
  std::uint64_t connect_attempts_ = 0;
};

// Subscribes to {p}{ns}:trie:updates on a thread and connection of its own. Calls on_version with
// the published version for every message, and with the current version (0 when none is
// published) on every (re)connect after the subscription is in place, so a message missed while
// disconnected is made up for: the consumer re-reads the trie when the version is new to it.
// Reconnects with backoff; a silent dead connection is detected by PING. Callbacks run on the
// subscriber thread, one at a time, and must be quick and thread-safe towards their consumer.
class TrieSubscriber {
 public:
  using OnVersion = std::function<void(std::uint64_t version)>;
  using OnError = std::function<void(const std::string& message)>;

  // Starts the thread. Throws std::invalid_argument for a bad URL or empty namespace, and
  // std::system_error if the thread cannot start.
  TrieSubscriber(RedisOptions options, OnVersion on_version, OnError on_error = {});
  ~TrieSubscriber();  // stop()
  TrieSubscriber(const TrieSubscriber&) = delete;
  TrieSubscriber& operator=(const TrieSubscriber&) = delete;

  // Stops and joins the thread. Returns at once when the thread is waiting (the usual case); at
  // worst after connect_timeout + command_timeout, when it is in the middle of connecting.
  // Idempotent; thread-safe.
  void stop();

  // Whether the subscription is in place right now. Thread-safe.
  bool connected() const noexcept { return connected_.load(std::memory_order_relaxed); }

 private:
  struct Loop;

  std::atomic<bool> connected_{false};
  std::unique_ptr<Loop> loop_;
  std::once_flag stop_once_;
  std::thread thread_;
};

}  // namespace augur::store
