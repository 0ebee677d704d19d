// RedisStore over a blocking hiredis context whose socket reads and writes time out.
#include "learning/store/redis_store.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "learning/store/redis_connection.hpp"

namespace augur::store {

namespace {

using Clock = std::chrono::steady_clock;

// Extends the lock when this replica holds it already: GET and PEXPIRE must be one atomic step,
// or the lock could expire and pass to another replica in between.
constexpr std::string_view kExtendLockScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0)lua";

constexpr std::string_view kReleaseLockScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0)lua";

// KEYS: trie, version. ARGV: json, channel.
constexpr std::string_view kPublishTrieScript = R"lua(
redis.call('SET', KEYS[1], ARGV[1])
local version = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[2], version)
return version)lua";

// Keys per MGET and commands per pipeline: large enough to amortise round trips, small enough
// that one batch's replies stay well within a command timeout.
constexpr std::size_t kBatch = 256;

// Backslash-escapes the characters SCAN MATCH treats as glob syntax.
std::string glob_escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string_view text(const redisReply& r) { return {r.str, r.len}; }

bool parse_u64(std::string_view s, std::uint64_t& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

}  // namespace

RedisKeys::RedisKeys(std::string_view key_prefix, std::string_view ns)
    : base(std::string(key_prefix) + std::string(ns) + ":"),
      acc_pattern(glob_escape(base) + "acc:*"),
      trie(base + "trie"),
      version(base + "trie:version"),
      updates(base + "trie:updates"),
      lock(base + "lock:rebuild"),
      runs(base + "runs") {}

struct RedisStore::Reply : detail::ReplyPtr {
  using detail::ReplyPtr::unique_ptr;
};

struct RedisStore::Connection {
  explicit Connection(const RedisOptions& o)
      : backoff(o.backoff_initial, o.backoff_max, detail::backoff_seed(o.replica)) {}

  detail::ContextPtr ctx;
  detail::Backoff backoff;
  Clock::time_point retry_at{};
  std::string last_error;
};

RedisStore::RedisStore(RedisOptions options)
    : options_(std::move(options)),
      endpoint_(detail::endpoint_or_throw(options_, "redis store")),
      keys_(options_.key_prefix, options_.ns),
      conn_(std::make_unique<Connection>(options_)) {}

RedisStore::~RedisStore() = default;

bool RedisStore::connected() const noexcept { return conn_->ctx != nullptr; }

Error RedisStore::fail(std::string message) {
  conn_->ctx.reset();
  conn_->last_error = message;
  conn_->retry_at = Clock::now() + conn_->backoff.next();
  return Error{std::move(message)};
}

Result<redisContext*> RedisStore::connection() {
  if (conn_->ctx) return conn_->ctx.get();
  const auto now = Clock::now();
  if (now < conn_->retry_at) {
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(conn_->retry_at - now);
    return Error{"redis unavailable, next attempt in " + std::to_string(wait.count()) +
                 " ms (last error: " + conn_->last_error + ")"};
  }
  ++connect_attempts_;
  Result<detail::ContextPtr> c =
      detail::open_connection(endpoint_, options_.connect_timeout, options_.command_timeout);
  if (!c) return fail("redis " + c.error());
  conn_->ctx = std::move(*c);
  conn_->backoff.reset();
  return conn_->ctx.get();
}

Result<RedisStore::Reply> RedisStore::command(std::initializer_list<std::string_view> args) {
  const std::vector<std::string_view> one(args);
  Result<std::vector<Reply>> replies = pipeline(std::span(&one, 1));
  if (!replies) return Error{replies.error()};
  return std::move(replies->front());
}

// Sends every command, then reads every reply, so the connection stays in step even when some
// replies are errors. An error reply fails the call but keeps the connection; an I/O error or
// timeout drops it.
Result<std::vector<RedisStore::Reply>> RedisStore::pipeline(
    std::span<const std::vector<std::string_view>> commands) {
  Result<redisContext*> c = connection();
  if (!c) return Error{c.error()};
  for (const auto& cmd : commands) {
    if (!detail::append_command(**c, cmd))
      return fail("redis " + detail::context_error(endpoint_, **c));
  }
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  std::string first_error;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(*c, &raw) != REDIS_OK || raw == nullptr)
      return fail("redis " + detail::context_error(endpoint_, **c));
    Reply& r = replies.emplace_back(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_ERROR && first_error.empty())
      first_error = "redis " + endpoint_.describe() + ": " + std::string(commands[i].front()) +
                    ": " + std::string(text(*r));
  }
  if (!first_error.empty()) return Error{first_error};
  return replies;
}

Result<void> RedisStore::require_replica() const {
  if (options_.replica.empty()) return Error{"redis store: no replica id configured"};
  return {};
}

Result<void> RedisStore::flush_accumulator(std::string_view state) {
  if (Result<void> r = require_replica(); !r) return r;
  const std::string key = keys_.acc(options_.replica);
  const std::string ttl_ms = std::to_string(
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.acc_ttl).count());
  Result<Reply> r = command({"SET", key, state, "PX", ttl_ms});
  if (!r) return Error{r.error()};
  return {};
}

Result<std::optional<std::string>> RedisStore::load_own_accumulator() {
  if (Result<void> r = require_replica(); !r) return Error{r.error()};
  Result<Reply> r = command({"GET", keys_.acc(options_.replica)});
  if (!r) return Error{r.error()};
  if ((*r)->type != REDIS_REPLY_STRING) return std::optional<std::string>{};
  return std::optional<std::string>{std::string(text(**r))};
}

Result<bool> RedisStore::try_acquire_rebuild_lock(std::chrono::milliseconds ttl) {
  if (Result<void> r = require_replica(); !r) return Error{r.error()};
  const std::string ttl_ms = std::to_string(std::max<std::int64_t>(ttl.count(), 1));
  Result<Reply> set = command({"SET", keys_.lock, options_.replica, "NX", "PX", ttl_ms});
  if (!set) return Error{set.error()};
  if ((*set)->type == REDIS_REPLY_STATUS) return true;  // OK: taken
  Result<Reply> extend =
      command({"EVAL", kExtendLockScript, "1", keys_.lock, options_.replica, ttl_ms});
  if (!extend) return Error{extend.error()};
  return (*extend)->type == REDIS_REPLY_INTEGER && (*extend)->integer == 1;
}

Result<void> RedisStore::release_rebuild_lock() {
  if (Result<void> r = require_replica(); !r) return r;
  Result<Reply> r = command({"EVAL", kReleaseLockScript, "1", keys_.lock, options_.replica});
  if (!r) return Error{r.error()};
  return {};
}

Result<std::vector<std::pair<std::string, std::string>>> RedisStore::read_all_accumulators() {
  std::vector<std::string> keys;
  std::string cursor = "0";
  const std::string count = std::to_string(kBatch * 4);
  do {
    Result<Reply> r = command({"SCAN", cursor, "MATCH", keys_.acc_pattern, "COUNT", count});
    if (!r) return Error{r.error()};
    const redisReply& page = **r;
    if (page.type != REDIS_REPLY_ARRAY || page.elements != 2 ||
        page.element[0]->type != REDIS_REPLY_STRING || page.element[1]->type != REDIS_REPLY_ARRAY)
      return fail("redis " + endpoint_.describe() + ": SCAN: unexpected reply");
    cursor = std::string(text(*page.element[0]));
    for (std::size_t i = 0; i < page.element[1]->elements; ++i)
      keys.emplace_back(text(*page.element[1]->element[i]));
  } while (cursor != "0");
  // SCAN may return a key more than once (when the keyspace is rehashed mid-scan).
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());

  const std::string acc_base = keys_.acc("");
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t start = 0; start < keys.size(); start += kBatch) {
    const std::size_t end = std::min(keys.size(), start + kBatch);
    std::vector<std::string_view> mget{"MGET"};
    for (std::size_t i = start; i < end; ++i) mget.push_back(keys[i]);
    Result<std::vector<Reply>> r = pipeline(std::span(&mget, 1));
    if (!r) return Error{r.error()};
    const redisReply& values = *r->front();
    if (values.type != REDIS_REPLY_ARRAY || values.elements != end - start)
      return fail("redis " + endpoint_.describe() + ": MGET: unexpected reply");
    for (std::size_t i = start; i < end; ++i) {
      const redisReply& v = *values.element[i - start];
      if (v.type != REDIS_REPLY_STRING) continue;  // expired since the SCAN
      out.emplace_back(keys[i].substr(acc_base.size()), std::string(text(v)));
    }
  }
  return out;
}

Result<std::uint64_t> RedisStore::publish_trie(std::string_view nat_json) {
  Result<Reply> r = command(
      {"EVAL", kPublishTrieScript, "2", keys_.trie, keys_.version, nat_json, keys_.updates});
  if (!r) return Error{r.error()};
  if ((*r)->type != REDIS_REPLY_INTEGER || (*r)->integer < 0)
    return Error{"redis " + endpoint_.describe() + ": publish: unexpected reply"};
  return static_cast<std::uint64_t>((*r)->integer);
}

Result<std::optional<std::pair<std::uint64_t, std::string>>> RedisStore::read_trie() {
  using Published = std::optional<std::pair<std::uint64_t, std::string>>;
  Result<Reply> r = command({"MGET", keys_.trie, keys_.version});
  if (!r) return Error{r.error()};
  const redisReply& values = **r;
  if (values.type != REDIS_REPLY_ARRAY || values.elements != 2)
    return fail("redis " + endpoint_.describe() + ": MGET: unexpected reply");
  if (values.element[0]->type != REDIS_REPLY_STRING) return Published{};
  std::uint64_t version = 0;
  if (values.element[1]->type == REDIS_REPLY_STRING &&
      !parse_u64(text(*values.element[1]), version))
    return Error{"redis " + endpoint_.describe() + ": " + keys_.version +
                 " is not a version number"};
  return Published{std::in_place, version, std::string(text(*values.element[0]))};
}

Result<void> RedisStore::append_runs(std::span<const std::string> run_record_json_lines) {
  const std::string maxlen = std::to_string(options_.runs_maxlen);
  std::vector<std::vector<std::string_view>> batch;
  for (std::size_t start = 0; start < run_record_json_lines.size(); start += kBatch) {
    const std::size_t end = std::min(run_record_json_lines.size(), start + kBatch);
    batch.clear();
    for (std::size_t i = start; i < end; ++i) {
      if (options_.runs_maxlen == 0) {
        batch.push_back({"XADD", keys_.runs, "*", "run", run_record_json_lines[i]});
      } else {
        batch.push_back(
            {"XADD", keys_.runs, "MAXLEN", "~", maxlen, "*", "run", run_record_json_lines[i]});
      }
    }
    if (Result<std::vector<Reply>> r = pipeline(batch); !r) return Error{r.error()};
  }
  return {};
}

}  // namespace augur::store
