// Internal to augur_store: what RedisStore and TrieSubscriber share about hiredis connections
// (opening one with timeouts, AUTH and SELECT; owning contexts and replies; the reconnect backoff).
// hiredis types are only forward-declared here; its headers stay in the .cpp files.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>

#include "common/redis_url.hpp"
#include "common/result.hpp"

struct redisContext;
struct redisReply;

namespace augur::store {
struct RedisOptions;
}

namespace augur::store::detail {

// The endpoint of `options.url`. Throws std::invalid_argument (`what` names the component) when
// the URL does not parse or the namespace is empty: the constructors' start-up check.
RedisEndpoint endpoint_or_throw(const RedisOptions& options, std::string_view what);

struct ContextFree {
  void operator()(redisContext* c) const noexcept;
};
using ContextPtr = std::unique_ptr<redisContext, ContextFree>;

struct ReplyFree {
  void operator()(redisReply* r) const noexcept;
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

// A blocking connection to `ep`: connect bounded by `connect_timeout` (name resolution is not: a
// hostname resolves through the system resolver), every later read and write by
// `command_timeout`, AUTH and SELECT done. Error messages start with ep.describe().
// Thread-safe.
Result<ContextPtr> open_connection(const RedisEndpoint& ep,
                                   std::chrono::milliseconds connect_timeout,
                                   std::chrono::milliseconds command_timeout);

// Queues one command (binary-safe arguments) in the context's output buffer. False on failure
// (c.err and c.errstr say why).
bool append_command(redisContext& c, std::span<const std::string_view> args);

// Writes the queued output, blocking up to the socket's send timeout. False on failure.
bool flush_output(redisContext& c);

// One command and its reply (blocking, bounded by the socket timeouts); nullptr on an I/O error or
// timeout (c.err says which). An error reply is returned as a reply.
ReplyPtr run_command(redisContext& c, std::span<const std::string_view> args);

// The context's error as "ENDPOINT: what" ("Resource temporarily unavailable" reads as a timeout).
std::string context_error(const RedisEndpoint& ep, const redisContext& c);

// Exponential backoff with +-20% jitter from a seeded generator (reproducible per seed).
// Not thread-safe.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, std::uint64_t seed);
  // The delay to wait before the next attempt; doubles on every call up to the maximum.
  std::chrono::milliseconds next();
  void reset() noexcept { current_ = std::chrono::milliseconds{0}; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds current_{0};
  std::mt19937_64 rng_;
};

// The backoff seed of one replica: different replicas spread their retries, the same replica
// behaves the same run after run.
std::uint64_t backoff_seed(std::string_view replica) noexcept;

}  // namespace augur::store::detail
