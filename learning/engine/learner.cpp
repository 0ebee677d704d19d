#include "learning/engine/learner.hpp"

#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "common/unix_time.hpp"
#include "learning/engine/redis_sync.hpp"
#include "learning/trie/nat_json.hpp"

namespace augur::learning {

namespace {

// How often the thread wakes to drain the queue when nobody asks it to stop.
constexpr auto poll_interval = std::chrono::milliseconds(20);
// A run longer than this is closed and the rest counted as a new run (bounded memory).
constexpr std::size_t max_calls_per_run = 10000;

double log_error(double predicted, double actual) {
  return std::abs(std::log((std::max(predicted, 0.0) + 1) / (std::max(actual, 0.0) + 1)));
}

trie::SensitivityConfig sensitivity(int scale) {
  trie::SensitivityConfig s;
  s.scale = scale;
  return s;
}

// Asks the scheduler (Linux 6.12+, EEVDF: sched_attr.sched_runtime of a SCHED_OTHER thread is
// its slice) for the longest slice. That sounds backwards for a background thread, but a long
// slice puts its virtual deadline far out, and EEVDF lets a woken task with a shorter slice cut the
// running one's protected slice short (PREEMPT_SHORT): whatever shares the core (a client, an io
// thread) runs as soon as it wakes instead of after up to a default slice of SONA's background
// cycle, which shows in the proxy's tail latency (loadtest/README.md). Older kernels ignore the
// field or refuse the call; nice 10 stays in force either way.
void request_long_slice() {
  struct SchedAttr {  // the kernel's struct sched_attr (glibc 2.36 has no wrapper)
    std::uint32_t size;
    std::uint32_t sched_policy;
    std::uint64_t sched_flags;
    std::int32_t sched_nice;
    std::uint32_t sched_priority;
    std::uint64_t sched_runtime, sched_deadline, sched_period;
  };
  SchedAttr attr{};
  attr.size = sizeof attr;
  attr.sched_policy = SCHED_OTHER;
  attr.sched_nice = 10;
  attr.sched_runtime = 100'000'000;  // ns: the kernel's maximum slice
  (void)syscall(SYS_sched_setattr, 0, &attr, 0u);
}

}  // namespace

Learner::Learner(LearnerOptions options, Publish publish)
    : cfg_(std::move(options)),
      store_cfg_(cfg_.store),
      sensitivity_scale_(cfg_.sensitivity_scale),
      limits_(cfg_.limits),
      publish_(std::move(publish)),
      queue_(cfg_.queue_capacity),
      builder_(sensitivity(cfg_.sensitivity_scale), limits_),
      tracker_(cfg_.run_idle_timeout, cfg_.max_runs, max_calls_per_run,
               [this](ClosedRun&& run) { on_closed(std::move(run)); }) {
  if (store_cfg_.kind == "redis") {
    redis_ = std::make_unique<RedisSync>(store_cfg_, cfg_, sensitivity(sensitivity_scale_), limits_,
                                         stats_);
  }
}

Learner::~Learner() { stop(); }

void Learner::start() {
  if (started_) return;
  started_ = true;
  const auto now = Clock::now();
  last_rebuild_ = last_snapshot_ = last_state_check_ = now;
  if (redis_) {
    // Resume this replica's state and serve the merged trie every replica built.
    if (auto t = redis_->start(builder_)) {
      adopt(std::move(t), redis_->loaded_version());
    } else if (builder_.state().run_count() > 0) {
      runs_since_rebuild_ = 1;
      rebuild(now);
    }
  } else {
    load_snapshot();
  }
  if (!redis_ && builder_.state().run_count() > 0) {
    runs_since_rebuild_ = 1;  // publish what the snapshot knew at once
    rebuild(now);
  }
  thread_ = std::thread([this] { run(); });
}

void Learner::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (!started_) return;
  // Runs still open are not complete: their remaining-call counts would be wrong, so they are
  // not learned. Everything closed so far is kept.
  step(Clock::now());
  if (redis_) {
    redis_->stop(builder_);
  } else if (runs_since_snapshot_ > 0) {
    save_snapshot();
  }
}

bool Learner::submit(CallObservation&& call) noexcept {
  if (!queue_.try_push(std::move(call))) {
    stats_.observations_dropped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  stats_.observations.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void Learner::run() {
  // Named so operators (top -H) and the benchmark (CPU pinning) can tell it from the io threads.
  pthread_setname_np(pthread_self(), "augur-learn");
  // Learning is background work: at nice 10 (a tenth of an io thread's CPU share when both want
  // the same core) it mostly uses what serving leaves. If it falls behind under sustained
  // saturation, the queue fills and observations are dropped (counted), the intended trade.
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
  request_long_slice();
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    try {
      step(Clock::now());
    } catch (const std::exception& e) {
      // Nothing a client sends may stop learning for good; log (rate-limited by the poll) and go
      // on.
      spdlog::error("learning: {}", e.what());
    }
    lock.lock();
    wake_.wait_for(lock, poll_interval, [this] { return stopping_; });
  }
}

void Learner::step(Clock::time_point now) {
  for (std::size_t n = 0; n < queue_.capacity(); ++n) {
    auto call = queue_.try_pop();
    if (!call) break;
    tracker_.add(std::move(*call));
  }
  tracker_.expire(unix_ms(now));
  if (redis_) {
    if (auto t = redis_->poll_updates()) adopt(std::move(t), redis_->loaded_version());
  }
  stats_.open_runs.store(tracker_.open_runs(), std::memory_order_relaxed);
  stats_.runs_evicted.store(tracker_.evicted(), std::memory_order_relaxed);
  publish_bounds();

  const bool by_count = cfg_.rebuild_runs > 0 && runs_since_rebuild_ >= cfg_.rebuild_runs;
  if (by_count || now - last_rebuild_ >= cfg_.rebuild_interval) rebuild(now);
  if (!store_cfg_.snapshot_file.empty() && runs_since_snapshot_ > 0 &&
      now - last_snapshot_ >= store_cfg_.snapshot_interval) {
    save_snapshot();
  }
}

void Learner::on_closed(ClosedRun&& run) {
  std::vector<trie::CallContext> contexts;
  try {
    contexts = builder_.add_run(run.record);
  } catch (const trie::TrieError& e) {
    spdlog::warn("learning: run {} not learned: {}", run.record.run_id, e.what());
    return;
  }
  const auto checks = measure(run, contexts);
  const auto trajectory = make_trajectory(run, checks);
  stats_.trajectories.fetch_add(1, std::memory_order_relaxed);
  stats_.trajectory_quality_sum.store(
      stats_.trajectory_quality_sum.load(std::memory_order_relaxed) + trajectory.quality,
      std::memory_order_relaxed);
  if (on_trajectory_) on_trajectory_(trajectory, run, checks);
  if (redis_) redis_->queue_run(trie::serialize_run_record(run.record));
  ++runs_since_rebuild_;
  ++runs_since_snapshot_;
  // Every rebuild_runs closed runs, even inside one batch: a learner that fell behind and drains
  // many runs at once still rebuilds at the same run counts. Before the run is counted as
  // completed, so when the count reaches a multiple of rebuild_runs the served trie has them all.
  if (cfg_.rebuild_runs > 0 && runs_since_rebuild_ >= cfg_.rebuild_runs) rebuild(Clock::now());
  stats_.runs_completed.fetch_add(1, std::memory_order_relaxed);
  stats_.calls_learned.fetch_add(run.calls.size(), std::memory_order_relaxed);
}

std::vector<HintErrors> Learner::measure(const ClosedRun& run,
                                         const std::vector<trie::CallContext>& contexts) {
  // What really happened, by the builder's own definitions (its contexts for this run), against
  // what was injected.
  std::vector<HintErrors> errors(run.calls.size());
  for (const auto& ctx : contexts) {
    const auto i = static_cast<std::size_t>(ctx.call - run.record.calls.data());
    const auto& h = run.calls[i].hints;
    auto& e = errors[i];
    const auto source = [&](bool from_static) {
      return from_static ? trie::Source::static_fallback : h.source;
    };
    e.actual_remaining_calls = ctx.remaining_calls;
    e.actual_interarrival_ms = ctx.interarrival_ms;
    const bool followed = ctx.remaining_calls > 0;
    if (h.speculative_prefill) {
      (followed ? stats_.speculative_prefill_followed : stats_.speculative_prefill_wasted)
          .fetch_add(1, std::memory_order_relaxed);
    }
    if (h.final_predicted && followed) {
      stats_.session_final_premature.fetch_add(1, std::memory_order_relaxed);
    }
    e.remaining_calls = log_error(static_cast<double>(h.remaining), ctx.remaining_calls);
    stats_.error(Hint::remaining_calls, source(h.remaining_static)).observe(*e.remaining_calls);
    if (run.calls[i].output_tokens) {
      e.output_tokens =
          log_error(static_cast<double>(h.osl), static_cast<double>(*run.calls[i].output_tokens));
      stats_.error(Hint::output_tokens, source(h.osl_static)).observe(*e.output_tokens);
    }
    if (ctx.interarrival_ms) {
      e.interarrival_ms = log_error(static_cast<double>(h.iat_ms), *ctx.interarrival_ms);
      stats_.error(Hint::interarrival_ms, source(h.iat_static)).observe(*e.interarrival_ms);
    }
  }
  return errors;
}

void Learner::adopt(std::shared_ptr<const trie::Trie> trie, std::uint64_t version) {
  std::atomic_store(&trie_, trie);
  if (publish_) publish_(std::move(trie));
  // Reported once served: whoever reads a version from the metric gets that trie's hints.
  if (version != 0) stats_.trie_version.store(version, std::memory_order_relaxed);
}

void Learner::rebuild(Clock::time_point now) {
  last_rebuild_ = now;
  if (redis_) {
    // Shared learning: flush, and merge + publish when leader, even with nothing new here (other
    // replicas may have learned). Until a merged trie was ever obtained, serve our own.
    runs_since_rebuild_ = 0;
    if (auto t = redis_->sync(builder_, now)) {
      adopt(std::move(t), redis_->loaded_version());
      return;
    }
    if (!redis_->never_loaded() || builder_.state().run_count() == 0) return;
    auto built = builder_.build_within(cfg_.max_trie_bytes, "augur", now);
    auto own = std::make_shared<const trie::Trie>(std::move(built.trie));
    stats_.trie_nodes.store(trie::count_nodes(*own), std::memory_order_relaxed);
    stats_.trie_bytes.store(built.json.size(), std::memory_order_relaxed);
    adopt(std::move(own), 0);  // not a shared version
    return;
  }
  if (runs_since_rebuild_ == 0) return;
  runs_since_rebuild_ = 0;
  // The state is measured (serialised) at most once per rebuild interval: with rebuild_runs set,
  // rebuilds can follow every run.
  if (now - last_state_check_ >= cfg_.rebuild_interval) {
    last_state_check_ = now;
    stats_.state_bytes.store(builder_.state_within(cfg_.max_state_bytes).size(),
                             std::memory_order_relaxed);
  }
  auto built = builder_.build_within(cfg_.max_trie_bytes, "augur", now);
  auto trie = std::make_shared<const trie::Trie>(std::move(built.trie));
  stats_.trie_nodes.store(trie::count_nodes(*trie), std::memory_order_relaxed);
  stats_.trie_bytes.store(built.json.size(), std::memory_order_relaxed);
  stats_.rebuilds.fetch_add(1, std::memory_order_relaxed);
  publish_bounds();
  adopt(std::move(trie), stats_.trie_version.load(std::memory_order_relaxed) + 1);
}

void Learner::publish_bounds() {
  const trie::BuilderState& state = builder_.state();
  stats_.trie_paths.store(state.path_count(), std::memory_order_relaxed);
  stats_.path_candidates.store(builder_.candidate_count(), std::memory_order_relaxed);
  for (std::size_t i = 0; i < trie::kEvictionReasons; ++i) {
    std::uint64_t n = state.evictions()[i];
    if (redis_) n += redis_->leader_evictions()[i];
    stats_.evicted[i].store(n, std::memory_order_relaxed);
  }
}

void Learner::load_snapshot() {
  const std::filesystem::path file = store_cfg_.snapshot_file;
  if (file.empty()) return;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    spdlog::info("learning: no snapshot at {} yet; starting empty", file.string());
    return;
  }
  try {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open the file");
    std::ostringstream text;
    text << in.rdbuf();
    builder_ = trie::Builder::from_state(trie::BuilderState::from_string(text.str()),
                                         sensitivity(sensitivity_scale_), limits_);
    spdlog::info("learning: resumed from {} ({} runs, {} nodes)", file.string(),
                 builder_.state().run_count(), builder_.state().node_count());
  } catch (const std::exception& e) {
    // Keep the bad file for inspection instead of overwriting it at the next save.
    auto aside = file;
    aside += ".corrupt";
    std::filesystem::rename(file, aside, ec);
    spdlog::error("learning: snapshot {} unusable ({}); moved to {}, starting empty", file.string(),
                  e.what(), aside.string());
  }
}

void Learner::save_snapshot() {
  last_snapshot_ = Clock::now();
  const std::filesystem::path file = store_cfg_.snapshot_file;
  if (file.empty()) return;
  auto tmp = file;
  tmp += ".tmp";
  {
    const std::string state = builder_.state_within(cfg_.max_state_bytes);
    stats_.state_bytes.store(state.size(), std::memory_order_relaxed);
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << state;
    out.flush();
    if (!out) {
      stats_.snapshot_errors.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("learning: cannot write snapshot {}", tmp.string());
      return;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);  // atomic: a crash leaves the old or the new file
  if (ec) {
    stats_.snapshot_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("learning: cannot replace snapshot {}: {}", file.string(), ec.message());
    return;
  }
  runs_since_snapshot_ = 0;
  stats_.snapshot_saves.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace augur::learning
