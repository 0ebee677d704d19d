#include "proxy/server/worker.hpp"

#include "learning/engine/learner.hpp"
#include "proxy/observe/access_log.hpp"
#include "proxy/observe/request_record.hpp"
#include "proxy/server/server.hpp"

namespace augur::proxy {

namespace {
constexpr auto tick = std::chrono::milliseconds(100);
constexpr unsigned ticks_per_sweep = 10;
constexpr std::size_t max_free_buffers = 256;
}  // namespace

Worker::Worker(Server& server, unsigned index, bool only_thread)
    : server_(server),
      index_(index),
      ioc_(only_thread ? BOOST_ASIO_CONCURRENCY_HINT_UNSAFE
                       : BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO),
      runtime_(server.runtime()) {}

Worker::~Worker() {
  // A session still open when the io thread stopped (past shutdown_timeout) is a suspended
  // coroutine frame; destroying it runs its scope guards, which give back relay buffers and
  // count in this worker's members. Destroy it now, not in ~io_context after those members.
  ioc_.shutdown();
}

const std::shared_ptr<const Runtime>& Worker::runtime_ptr() {
  // One relaxed load per request; the shared_ptr copy only happens after a reload.
  if (server_.generation() != runtime_->generation) runtime_ = server_.runtime();
  return runtime_;
}

ConnectionPool& Worker::pool(const std::shared_ptr<const UpstreamTarget>& target) {
  auto it = pools_.find(target->key);
  if (it == pools_.end()) {
    it = pools_
             .emplace(target->key,
                      std::make_unique<ConnectionPool>(target, counters_.upstream_conn_discarded))
             .first;
  } else if (&it->second->target() != target.get()) {
    it->second->retarget(target);  // same name and URL after a reload: keep the connections
  }
  return *it->second;
}

std::unique_ptr<char[]> Worker::take_buffer() {
  if (free_buffers_.empty()) return std::make_unique<char[]>(relay_buffer_size);
  auto buf = std::move(free_buffers_.back());
  free_buffers_.pop_back();
  return buf;
}

void Worker::give_buffer(std::unique_ptr<char[]> buf) {
  if (buf && free_buffers_.size() < max_free_buffers) free_buffers_.push_back(std::move(buf));
}

void Worker::finish(RequestRecord& record) {
  metrics_.record(record);
  if (server_.access_log()) {
    // Batched per thread: one hand-over to the writer per tick instead of a wake-up per request.
    if (!log_batch_.empty()) log_batch_ += '\n';
    AccessLog::format(record, log_batch_);
    if (log_batch_.size() >= max_log_batch) flush_access_log();
  }
  if (!record.llm_call) return;
  if (auto* learner = server_.learner()) learner->submit(std::move(record.call));
}

void Worker::flush_access_log() {
  if (log_batch_.empty()) return;
  if (auto* log = server_.access_log()) log->write(log_batch_);
  log_batch_.clear();
}

void Worker::begin_drain() {
  draining_ = true;
  drained_ = true;
  for (auto& s : sessions_) {
    if (s.idle) s.close_idle();
  }
}

void Worker::start_maintenance() {
  sweep_timer_.expires_after(tick);
  sweep_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    const auto now = Clock::now();
    for (auto& s : sessions_) {
      if (s.awaiting_since != Clock::time_point{} && now - s.awaiting_since >= tick) {
        s.watch_client();
      }
      if (s.idle && s.idle_unchecked) s.check_idle();
    }
    flush_access_log();  // lines reach the log within a tick
    if (++ticks_ % ticks_per_sweep == 0) {
      // Pools are never erased while running (a session may hold one across an await); the pool
      // of an upstream a reload removed just empties here.
      for (auto& [key, pool] : pools_) pool->sweep(now);
      if (index_ == 0) server_.runs().expire(now);  // idle runs end (DESIGN: run_idle_timeout)
    }
    start_maintenance();
  });
}

void Worker::stop_maintenance() { sweep_timer_.cancel(); }

}  // namespace augur::proxy
