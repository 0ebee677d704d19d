// TrieSubscriber: a hiredis context in subscribe mode, read with poll(2) alongside a wake-up pipe
// so that stop() interrupts any wait at once instead of after a socket timeout.
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <system_error>

#include "learning/store/redis_connection.hpp"
#include "learning/store/redis_store.hpp"

namespace augur::store {

namespace {

using Clock = std::chrono::steady_clock;

std::string_view text(const redisReply& r) { return {r.str, r.len}; }

bool is_array_of_strings(const redisReply& r, std::size_t n) {
  if (r.type != REDIS_REPLY_ARRAY || r.elements != n) return false;
  for (std::size_t i = 0; i + 1 < n; ++i) {
    if (r.element[i]->type != REDIS_REPLY_STRING) return false;
  }
  return true;
}

}  // namespace

struct TrieSubscriber::Loop {
  enum class Wait { ready, timeout, stopped };

  Loop(RedisOptions o, OnVersion v, OnError e, std::atomic<bool>& connected_flag)
      : options(std::move(o)),
        endpoint(detail::endpoint_or_throw(options, "redis subscriber")),
        keys(options.key_prefix, options.ns),
        on_version(std::move(v)),
        on_error(std::move(e)),
        connected(connected_flag),
        backoff(options.backoff_initial, options.backoff_max,
                detail::backoff_seed(options.replica) ^ 0x9e3779b97f4a7c15ull) {
    if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0)
      throw std::system_error(errno, std::generic_category(), "redis subscriber: pipe");
  }

  ~Loop() {
    close(wake[0]);
    close(wake[1]);
  }

  void run() {
    while (!stopping.load()) {
      std::string error;
      Result<detail::ContextPtr> c =
          detail::open_connection(endpoint, options.connect_timeout, options.command_timeout);
      if (c) {
        Result<void> session = subscribed(**c);
        connected.store(false);
        if (stopping.load()) break;
        error = session ? "subscription ended" : session.error();
      } else {
        error = c.error();
      }
      report("redis subscriber: " + error);
      wait(-1, Clock::now() + backoff.next());
    }
  }

  // Waits until `fd` (if >= 0) is readable, `deadline` passes or stop() is called.
  Wait wait(int fd, Clock::time_point deadline) {
    for (;;) {
      if (stopping.load()) return Wait::stopped;
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return Wait::timeout;
      pollfd fds[2] = {{wake[0], POLLIN, 0}, {fd, POLLIN, 0}};
      const int n = poll(fds, fd >= 0 ? 2 : 1, static_cast<int>(left.count()));
      if (n < 0 && errno != EINTR) return Wait::timeout;
      if (fds[0].revents != 0 || stopping.load()) return Wait::stopped;
      if (n > 0 && fds[1].revents != 0) return Wait::ready;
    }
  }

  // The next reply on `c`, waiting at most until `deadline`.
  Result<detail::ReplyPtr> read_reply(redisContext& c, Clock::time_point deadline) {
    for (;;) {
      void* raw = nullptr;
      if (redisGetReplyFromReader(&c, &raw) != REDIS_OK)
        return Error{detail::context_error(endpoint, c)};
      if (raw != nullptr) return detail::ReplyPtr(static_cast<redisReply*>(raw));
      switch (wait(c.fd, deadline)) {
        case Wait::stopped:
          return Error{"stopped"};
        case Wait::timeout:
          return Error{endpoint.describe() + ": timed out"};
        case Wait::ready:
          break;
      }
      if (redisBufferRead(&c) != REDIS_OK) return Error{detail::context_error(endpoint, c)};
    }
  }

  Result<void> send(redisContext& c, std::initializer_list<std::string_view> args) {
    // The socket is blocking with a send timeout, so flushing is bounded.
    if (!detail::append_command(c, std::span(args.begin(), args.size())) ||
        !detail::flush_output(c))
      return Error{detail::context_error(endpoint, c)};
    return {};
  }

  // The published version, read on a connection of its own because a subscribed connection
  // cannot GET. Read after SUBSCRIBE has taken effect, so a publish is either counted here or
  // delivered as a message: none falls in between.
  Result<std::uint64_t> current_version() {
    Result<detail::ContextPtr> c =
        detail::open_connection(endpoint, options.connect_timeout, options.command_timeout);
    if (!c) return Error{c.error()};
    const std::string_view get[] = {"GET", keys.version};
    const detail::ReplyPtr r = detail::run_command(**c, get);
    if (!r) return Error{detail::context_error(endpoint, **c)};
    if (r->type == REDIS_REPLY_NIL) return std::uint64_t{0};
    std::uint64_t v = 0;
    const std::string_view s = r->type == REDIS_REPLY_STRING ? text(*r) : std::string_view{};
    if (s.empty() || std::from_chars(s.data(), s.data() + s.size(), v).ptr != s.data() + s.size())
      return Error{endpoint.describe() + ": " + keys.version + " is not a version number"};
    return v;
  }

  // Subscribes on `c` and delivers versions until the connection fails or stop() is called.
  Result<void> subscribed(redisContext& c) {
    if (Result<void> r = send(c, {"SUBSCRIBE", keys.updates}); !r) return r;
    Result<detail::ReplyPtr> confirm = read_reply(c, Clock::now() + options.command_timeout);
    if (!confirm) return Error{confirm.error()};
    if (!is_array_of_strings(**confirm, 3) || text(*(*confirm)->element[0]) != "subscribe")
      return Error{endpoint.describe() + ": SUBSCRIBE: unexpected reply"};
    Result<std::uint64_t> version = current_version();
    if (!version) return Error{version.error()};
    connected.store(true);
    backoff.reset();
    deliver(*version);

    // The wait runs to the next PING, or, while one is unanswered, to the end of its answer's time.
    auto deadline = Clock::now() + options.subscriber_ping_interval;
    bool ping_out = false;
    for (;;) {
      switch (wait(c.fd, deadline)) {
        case Wait::stopped:
          return {};
        case Wait::timeout:
          if (ping_out) return Error{endpoint.describe() + ": no answer to PING"};
          if (Result<void> r = send(c, {"PING"}); !r) return r;
          ping_out = true;
          deadline = Clock::now() + options.command_timeout;
          continue;
        case Wait::ready:
          break;
      }
      if (redisBufferRead(&c) != REDIS_OK) return Error{detail::context_error(endpoint, c)};
      for (;;) {
        void* raw = nullptr;
        if (redisGetReplyFromReader(&c, &raw) != REDIS_OK)
          return Error{detail::context_error(endpoint, c)};
        if (raw == nullptr) break;
        const detail::ReplyPtr reply(static_cast<redisReply*>(raw));
        // Anything the server says proves the connection alive.
        ping_out = false;
        deadline = Clock::now() + options.subscriber_ping_interval;
        if (is_array_of_strings(*reply, 3) && text(*reply->element[0]) == "message" &&
            reply->element[2]->type == REDIS_REPLY_STRING) {
          const std::string_view payload = text(*reply->element[2]);
          std::uint64_t v = 0;
          const auto [end, ec] =
              std::from_chars(payload.data(), payload.data() + payload.size(), v);
          if (ec == std::errc() && end == payload.data() + payload.size() && !payload.empty()) {
            deliver(v);
          } else {
            report("redis subscriber: ignored a message that is not a version: \"" +
                   std::string(payload.substr(0, 64)) + "\"");
          }
        }
      }
    }
  }

  // Callbacks must not take the subscriber thread down: an exception is reported, not rethrown.
  void deliver(std::uint64_t version) {
    try {
      if (on_version) on_version(version);
    } catch (const std::exception& e) {
      report(std::string("redis subscriber: on_version threw: ") + e.what());
    }
  }

  void report(const std::string& message) noexcept {
    try {
      if (on_error) on_error(message);
    } catch (...) {
    }
  }

  RedisOptions options;
  RedisEndpoint endpoint;
  RedisKeys keys;
  OnVersion on_version;
  OnError on_error;
  std::atomic<bool>& connected;
  detail::Backoff backoff;
  std::atomic<bool> stopping{false};
  int wake[2] = {-1, -1};
};

TrieSubscriber::TrieSubscriber(RedisOptions options, OnVersion on_version, OnError on_error)
    : loop_(std::make_unique<Loop>(std::move(options), std::move(on_version), std::move(on_error),
                                   connected_)),
      thread_([loop = loop_.get()] { loop->run(); }) {}

TrieSubscriber::~TrieSubscriber() { stop(); }

void TrieSubscriber::stop() {
  std::call_once(stop_once_, [this] {
    loop_->stopping.store(true);
    const char byte = 1;
    [[maybe_unused]] const ssize_t n = write(loop_->wake[1], &byte, 1);
    if (thread_.joinable()) thread_.join();
  });
}

}  // namespace augur::store
