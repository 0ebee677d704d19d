#include "proxy/context/conversations.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace augur::proxy {

ConversationTable::ConversationTable(std::size_t max_conversations)
    : max_entries_(std::clamp<std::size_t>(max_conversations, 1, UINT32_MAX)) {}

std::optional<ConversationTable::Found> ConversationTable::find(const ConversationShape& conv) {
  // The call before this one sent a prefix of this list: the longest remembered prefix wins.
  // The list's own full hash is not looked up: a call that repeats a list extends nothing.
  std::lock_guard lock(mu_);
  for (std::size_t n = conv.prefix.size(); n-- > 1;) {
    const std::uint64_t key = conv.prefix[n - 1];
    const auto it = index_.find(key);
    if (it == index_.end()) continue;
    // Used now: the entry becomes the most recently used, in its slot (its key is unchanged).
    unlink(it->second);
    link_front(it->second);
    // Messages from position n on were added since: a user turn among them is a new task.
    return Found{slots_[it->second].place, conv.last_user_turn >= static_cast<std::int64_t>(n)};
  }
  return std::nullopt;
}

void ConversationTable::unlink(std::uint32_t slot) {
  Slot& s = slots_[slot];
  (s.prev == kNone ? head_ : slots_[s.prev].next) = s.next;
  (s.next == kNone ? tail_ : slots_[s.next].prev) = s.prev;
}

void ConversationTable::link_front(std::uint32_t slot) {
  Slot& s = slots_[slot];
  s.prev = kNone;
  s.next = head_;
  (head_ == kNone ? tail_ : slots_[head_].prev) = slot;
  head_ = slot;
}

void ConversationTable::release(std::uint32_t slot) {
  unlink(slot);
  Slot& s = slots_[slot];
  s.place.reset();
  s.next = free_;
  free_ = slot;
}

void ConversationTable::put(std::uint64_t key, std::shared_ptr<const Place> place, bool task) {
  Index& index = task ? tasks_ : index_;
  if (const auto it = index.find(key); it != index.end()) {
    release(it->second);
    index.erase(it);
  }
  std::uint32_t slot = free_;
  if (slot != kNone) {
    free_ = slots_[slot].next;
  } else if (slots_.size() < max_entries_) {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  } else {
    slot = tail_;  // full: the least recently used entry makes room
    (slots_[slot].task ? tasks_ : index_).erase(slots_[slot].key);
    unlink(slot);
  }
  slots_[slot] = Slot{key, std::move(place), kNone, kNone, task};
  link_front(slot);
  index.emplace(key, slot);
}

void ConversationTable::remember(std::uint64_t key, std::shared_ptr<const Place> place) {
  std::lock_guard lock(mu_);
  put(key, std::move(place), false);
}

void ConversationTable::forget(std::span<const std::uint64_t> prefix, std::string_view run_id) {
  std::lock_guard lock(mu_);
  for (const std::uint64_t key : prefix) {
    const auto it = index_.find(key);
    if (it == index_.end()) continue;
    // Another run's conversation may share the opening messages (same agent, same first task).
    if (slots_[it->second].place->run_id == run_id) {
      release(it->second);
      index_.erase(it);
    }
  }
}

void ConversationTable::add_tasks(std::span<const std::uint64_t> tasks, Place parent) {
  if (!tasks.empty()) add_tasks(tasks, std::make_shared<const Place>(std::move(parent)));
}

void ConversationTable::add_tasks(std::span<const std::uint64_t> tasks,
                                  const std::shared_ptr<const Place>& place) {
  if (tasks.empty()) return;
  std::lock_guard lock(mu_);
  for (const std::uint64_t t : tasks.first(std::min(tasks.size(), kMaxTasksPerCall))) {
    put(t, place, true);
  }
}

std::shared_ptr<const ConversationTable::Place> ConversationTable::take_task(std::uint64_t task) {
  std::lock_guard lock(mu_);
  const auto it = tasks_.find(task);
  if (it == tasks_.end()) return nullptr;
  std::shared_ptr<const Place> parent = std::move(slots_[it->second].place);
  release(it->second);
  tasks_.erase(it);
  return parent;
}

std::string ConversationTable::agent_name(const ConversationShape& conv, bool new_run,
                                          std::int64_t unix_ms) {
  std::lock_guard lock(mu_);
  auto it = agent_index_.find(conv.agent);
  if (it == agent_index_.end()) {
    if (agents_.size() >= kMaxAgents) {
      agent_index_.erase(agents_.back().fingerprint);
      agents_.pop_back();
    }
    Agent a;
    a.fingerprint = conv.agent;
    if (conv.agent_name.empty()) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "agent-%08x", static_cast<unsigned>(conv.agent >> 32));
      a.name = buf;
    } else {
      a.name = conv.agent_name;
    }
    a.tools = conv.tools;
    a.first_seen_ms = unix_ms;
    agents_.push_front(std::move(a));
    it = agent_index_.emplace(conv.agent, agents_.begin()).first;
  } else {
    agents_.splice(agents_.begin(), agents_, it->second);
  }
  Agent& a = *it->second;
  ++a.calls;
  if (new_run) ++a.runs;
  a.last_seen_ms = unix_ms;
  return a.name;
}

std::vector<ConversationTable::Agent> ConversationTable::agents() const {
  std::lock_guard lock(mu_);
  return {agents_.begin(), agents_.end()};
}

std::size_t ConversationTable::size() const {
  std::lock_guard lock(mu_);
  return index_.size();
}

}  // namespace augur::proxy
