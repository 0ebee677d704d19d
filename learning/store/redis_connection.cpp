// hiredis is used here and in the two adapters that share this file's helpers.
#include "learning/store/redis_connection.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "learning/store/redis_store.hpp"

namespace augur::store::detail {

namespace {

timeval to_timeval(std::chrono::milliseconds d) {
  const auto ms = std::max<std::int64_t>(d.count(), 1);
  return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

// Runs one command on a fresh connection during the handshake; an error reply fails it.
Result<void> handshake(const RedisEndpoint& ep, redisContext& c,
                       std::span<const std::string_view> args) {
  const ReplyPtr reply = run_command(c, args);
  if (!reply) return Error{context_error(ep, c)};
  if (reply->type == REDIS_REPLY_ERROR) {
    return Error{ep.describe() + ": " + std::string(args.front()) + ": " +
                 std::string(reply->str, reply->len)};
  }
  return {};
}

}  // namespace

bool append_command(redisContext& c, std::span<const std::string_view> args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const std::string_view a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return redisAppendCommandArgv(&c, static_cast<int>(argv.size()), argv.data(), lens.data()) ==
         REDIS_OK;
}

bool flush_output(redisContext& c) {
  int done = 0;
  while (!done) {
    if (redisBufferWrite(&c, &done) != REDIS_OK) return false;
  }
  return true;
}

ReplyPtr run_command(redisContext& c, std::span<const std::string_view> args) {
  void* raw = nullptr;
  if (!append_command(c, args) || redisGetReply(&c, &raw) != REDIS_OK) return nullptr;
  return ReplyPtr(static_cast<redisReply*>(raw));
}

RedisEndpoint endpoint_or_throw(const RedisOptions& options, std::string_view what) {
  if (options.ns.empty())
    throw std::invalid_argument(std::string(what) + ": the namespace is empty");
  Result<RedisEndpoint> ep = parse_redis_url(options.url);
  if (!ep) throw std::invalid_argument(std::string(what) + ": " + ep.error());
  return std::move(*ep);
}

void ContextFree::operator()(redisContext* c) const noexcept { redisFree(c); }
void ReplyFree::operator()(redisReply* r) const noexcept { freeReplyObject(r); }

std::string context_error(const RedisEndpoint& ep, const redisContext& c) {
  std::string what = c.errstr[0] != '\0' ? c.errstr : "unknown error";
  if (c.err == REDIS_ERR_IO &&
      (what == std::strerror(EAGAIN) || what == std::strerror(EWOULDBLOCK)))
    what = "timed out";
  else if (c.err == REDIS_ERR_EOF)
    what = "connection closed by the server";
  return ep.describe() + ": " + what;
}

Result<ContextPtr> open_connection(const RedisEndpoint& ep,
                                   std::chrono::milliseconds connect_timeout,
                                   std::chrono::milliseconds command_timeout) {
  const timeval ctv = to_timeval(connect_timeout);
  ContextPtr c(ep.unix_path.empty() ? redisConnectWithTimeout(ep.host.c_str(), ep.port, ctv)
                                    : redisConnectUnixWithTimeout(ep.unix_path.c_str(), ctv));
  if (!c) return Error{ep.describe() + ": out of memory"};
  if (c->err) return Error{context_error(ep, *c)};
  if (redisSetTimeout(c.get(), to_timeval(command_timeout)) != REDIS_OK)
    return Error{context_error(ep, *c)};
  if (!ep.password.empty()) {
    const std::string_view with_user[] = {"AUTH", ep.username, ep.password};
    const std::string_view without[] = {"AUTH", ep.password};
    Result<void> auth =
        ep.username.empty() ? handshake(ep, *c, without) : handshake(ep, *c, with_user);
    if (!auth) return Error{auth.error()};
  }
  if (ep.db != 0) {
    const std::string db = std::to_string(ep.db);
    const std::string_view select[] = {"SELECT", db};
    if (Result<void> r = handshake(ep, *c, select); !r) return Error{r.error()};
  }
  return c;
}

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
                 std::uint64_t seed)
    : initial_(std::max(initial, std::chrono::milliseconds{1})),
      max_(std::max(max, initial_)),
      rng_(seed) {}

std::chrono::milliseconds Backoff::next() {
  current_ = current_.count() == 0 ? initial_ : std::min(current_ * 2, max_);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::chrono::milliseconds{
      std::max<std::int64_t>(1, static_cast<std::int64_t>(current_.count() * jitter(rng_)))};
}

std::uint64_t backoff_seed(std::string_view replica) noexcept {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across runs and platforms
  for (const char c : replica) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace augur::store::detail
