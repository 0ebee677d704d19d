#include "proxy/context/conversations.hpp"

#include <algorithm>
#include <cstdio>

namespace augur::proxy {

ConversationTable::ConversationTable(std::size_t max_conversations)
    : max_entries_(std::max<std::size_t>(max_conversations, 1)) {}

std::optional<ConversationTable::Found> ConversationTable::find(const ConversationShape& conv) {
  // The call before this one sent a prefix of this list: the longest remembered prefix wins.
  // The list's own full hash is not looked up: a call that repeats a list extends nothing.
  std::lock_guard lock(mu_);
  for (std::size_t n = conv.prefix.size(); n-- > 1;) {
    const auto it = index_.find(conv.prefix[n - 1]);
    if (it == index_.end()) continue;
    Entry& e = *it->second;
    lru_.splice(lru_.begin(), lru_, it->second);
    // Messages from position n on were added since: a user turn among them is a new task.
    return Found{e.place, conv.last_user_turn >= static_cast<std::int64_t>(n)};
  }
  return std::nullopt;
}

void ConversationTable::put(std::uint64_t key, Entry entry) {
  auto& index = entry.task ? tasks_ : index_;
  if (const auto it = index.find(key); it != index.end()) {
    *it->second = std::move(entry);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  if (lru_.size() >= max_entries_) {
    const Entry& oldest = lru_.back();
    (oldest.task ? tasks_ : index_).erase(oldest.key);
    lru_.pop_back();
  }
  lru_.push_front(std::move(entry));
  index.emplace(key, lru_.begin());
}

void ConversationTable::remember(std::uint64_t key, const Place& place) {
  std::lock_guard lock(mu_);
  put(key, Entry{key, place, false});
}

void ConversationTable::add_tasks(std::span<const std::uint64_t> tasks, const Place& parent) {
  std::lock_guard lock(mu_);
  for (const std::uint64_t t : tasks.first(std::min(tasks.size(), kMaxTasksPerCall))) {
    put(t, Entry{t, parent, true});
  }
}

std::optional<ConversationTable::Place> ConversationTable::take_task(std::uint64_t task) {
  std::lock_guard lock(mu_);
  const auto it = tasks_.find(task);
  if (it == tasks_.end()) return std::nullopt;
  std::optional<Place> parent = std::move(it->second->place);
  lru_.erase(it->second);
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
