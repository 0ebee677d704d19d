#include "learning/engine/redis_sync.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "learning/store/redis_store.hpp"
#include "learning/trie/nat_json.hpp"

namespace augur::learning {

namespace {

// Run records kept while Redis is away; beyond this the oldest are dropped (the accumulators,
// which hold what was learned from them, are not).
constexpr std::size_t max_pending_runs = 10000;
constexpr std::size_t runs_per_sync = 1000;

std::string default_replica() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] ? host : "augur") + "-" + std::to_string(::getpid());
}

store::RedisOptions options(const StoreOptions& s, const std::string& replica) {
  store::RedisOptions o;
  o.url = s.url;
  o.key_prefix = s.key_prefix;
  o.ns = s.ns;
  o.replica = replica;
  return o;
}

}  // namespace

RedisSync::RedisSync(const StoreOptions& store, const LearnerOptions& learning,
                     trie::SensitivityConfig sensitivity, trie::BuilderLimits limits,
                     LearnerStats& stats)
    : stats_(stats),
      sensitivity_(sensitivity),
      limits_(limits),
      max_trie_bytes_(learning.max_trie_bytes),
      max_state_bytes_(learning.max_state_bytes),
      replica_(store.replica.empty() ? default_replica() : store.replica),
      // Held across ticks by the replica that has it, so leadership is stable while it lives.
      lock_ttl_(std::max<std::chrono::milliseconds>(learning.rebuild_interval * 3,
                                                    std::chrono::seconds(5))),
      store_(std::make_unique<store::RedisStore>(options(store, replica_))) {
  stats_.redis_up.store(0, std::memory_order_relaxed);
  subscriber_ = std::make_unique<store::TrieSubscriber>(
      options(store, replica_),
      [this](std::uint64_t v) {
        auto seen = announced_.load(std::memory_order_relaxed);
        while (v > seen && !announced_.compare_exchange_weak(seen, v)) {
        }
      },
      [](const std::string&) {});  // the learning thread reports Redis trouble itself
}

RedisSync::~RedisSync() {
  if (subscriber_) subscriber_->stop();
}

void RedisSync::note(bool ok, const std::string& what, const std::string& error) {
  stats_.redis_up.store(ok ? 1 : 0, std::memory_order_relaxed);
  if (!ok) stats_.redis_errors.fetch_add(1, std::memory_order_relaxed);
  if (ok != was_up_) {
    // Log transitions only: a Redis that stays down would otherwise fill the log.
    if (ok) {
      spdlog::info("redis: back ({})", what);
      published_fingerprint_.clear();  // it may have lost its data: publish again
    } else {
      spdlog::warn("redis: {} failed: {}; serving and learning on, will flush when it returns",
                   what, error);
    }
    was_up_ = ok;
  }
}

bool RedisSync::resume(trie::Builder& builder) {
  if (resumed_) return true;
  auto own = store_->load_own_accumulator();
  if (!own) {
    note(false, "resume", own.error());
    return false;
  }
  note(true, "resume");
  resumed_ = true;
  if (!own->has_value()) return true;
  try {
    builder.merge(trie::BuilderState::from_string(**own));
    dirty_ = true;
    spdlog::info("redis: replica {} resumed its learning ({} runs)", replica_,
                 builder.state().run_count());
  } catch (const std::exception& e) {
    spdlog::error("redis: replica {}'s stored state is unusable ({}); it will be replaced",
                  replica_, e.what());
  }
  return true;
}

std::shared_ptr<const trie::Trie> RedisSync::start(trie::Builder& builder) {
  if (!resume(builder)) return nullptr;
  announced_.store(std::max<std::uint64_t>(announced_.load(), 1));  // read whatever is published
  return poll_updates();
}

void RedisSync::queue_run(std::string json_line) {
  if (pending_runs_.size() >= max_pending_runs) pending_runs_.pop_front();
  pending_runs_.push_back(std::move(json_line));
  dirty_ = true;
  stats_.runs_pending_redis.store(pending_runs_.size(), std::memory_order_relaxed);
}

std::shared_ptr<const trie::Trie> RedisSync::load_version() {
  auto published = store_->read_trie();
  if (!published) {
    note(false, "read trie", published.error());
    return nullptr;
  }
  note(true, "read trie");
  if (!published->has_value()) return nullptr;
  const auto& [version, json] = **published;
  if (version <= loaded_version_ || version == rejected_version_) return nullptr;
  try {
    auto t = std::make_shared<const trie::Trie>(trie::parse_trie(json));
    loaded_version_ = version;
    stats_.trie_nodes.store(trie::count_nodes(*t), std::memory_order_relaxed);
    stats_.trie_bytes.store(json.size(), std::memory_order_relaxed);
    return t;
  } catch (const std::exception& e) {
    rejected_version_ = version;
    stats_.tries_rejected.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("redis: published trie version {} rejected, keeping version {}: {}", version,
                  loaded_version_, e.what());
    return nullptr;
  }
}

std::shared_ptr<const trie::Trie> RedisSync::poll_updates() {
  if (announced_.load(std::memory_order_relaxed) <= loaded_version_) return nullptr;
  return load_version();
}

std::shared_ptr<const trie::Trie> RedisSync::sync(trie::Builder& builder, Clock::time_point now) {
  if (!resume(builder)) return nullptr;

  if (dirty_) {
    const std::string state = builder.state_within(max_state_bytes_);
    stats_.state_bytes.store(state.size(), std::memory_order_relaxed);
    auto flushed = store_->flush_accumulator(state);
    note(flushed.ok(), "flush", flushed.ok() ? "" : flushed.error());
    if (!flushed) return nullptr;
    dirty_ = false;
  }
  while (!pending_runs_.empty()) {
    const std::size_t n = std::min(pending_runs_.size(), runs_per_sync);
    const std::vector<std::string> batch(pending_runs_.begin(), pending_runs_.begin() + n);
    auto appended = store_->append_runs(batch);
    note(appended.ok(), "append runs", appended.ok() ? "" : appended.error());
    if (!appended) break;
    pending_runs_.erase(pending_runs_.begin(), pending_runs_.begin() + n);
  }
  stats_.runs_pending_redis.store(pending_runs_.size(), std::memory_order_relaxed);

  auto leader = store_->try_acquire_rebuild_lock(lock_ttl_);
  note(leader.ok(), "rebuild lock", leader.ok() ? "" : leader.error());
  if (!leader || !*leader) return poll_updates();

  // Leader: merge every replica's state (this one's from memory: it is the freshest) and publish.
  auto all = store_->read_all_accumulators();
  note(all.ok(), "read accumulators", all.ok() ? "" : all.error());
  if (!all) return nullptr;
  // What the merge is made of; when it equals the last publish's there is nothing new to publish
  // (each replica's run count only grows while it lives).
  std::string fingerprint = replica_ + ":" + std::to_string(builder.state().run_count());
  std::vector<trie::BuilderState> others;
  for (const auto& [replica, state] : *all) {
    if (replica == replica_) continue;
    try {
      others.push_back(trie::BuilderState::from_string(state));
      fingerprint += "," + replica + ":" + std::to_string(others.back().run_count());
    } catch (const std::exception& e) {
      stats_.tries_rejected.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("redis: accumulator of replica {} skipped: {}", replica, e.what());
    }
  }
  if (builder.state().run_count() == 0 && others.empty()) return nullptr;
  if (fingerprint == published_fingerprint_ && loaded_version_ > 0) return poll_updates();
  // Every replica's state is bounded, their merge is bounded again (paths that lose out stay in
  // their own replica's state), and so is the published trie.
  trie::Builder merged = trie::Builder::from_state(builder.state(), sensitivity_, limits_);
  const trie::EvictionCounts before = merged.state().evictions();
  for (const trie::BuilderState& other : others) merged.state().merge(other);
  merged.state().evict_to(limits_.max_paths, trie::Eviction::merge);
  if (merged.state().run_count() == 0) return nullptr;
  auto built = merged.build_within(max_trie_bytes_, "augur", now);
  for (std::size_t i = 0; i < trie::kEvictionReasons; ++i) {
    leader_evicted_[i] += merged.state().evictions()[i] - before[i];
  }
  auto t = std::make_shared<const trie::Trie>(std::move(built.trie));
  auto version = store_->publish_trie(built.json);
  note(version.ok(), "publish trie", version.ok() ? "" : version.error());
  if (!version) return nullptr;
  published_fingerprint_ = std::move(fingerprint);
  loaded_version_ = *version;
  stats_.trie_nodes.store(trie::count_nodes(*t), std::memory_order_relaxed);
  stats_.trie_bytes.store(built.json.size(), std::memory_order_relaxed);
  stats_.rebuilds.fetch_add(1, std::memory_order_relaxed);
  return t;
}

void RedisSync::stop(trie::Builder& builder) {
  subscriber_->stop();
  if (resumed_ && (dirty_ || !pending_runs_.empty())) {
    sync(builder, Clock::now());
  }
  if (resumed_) (void)store_->release_rebuild_lock();
}

}  // namespace augur::learning
