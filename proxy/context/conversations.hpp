// Inferred run context for agents that send no run header (DESIGN "Request context"): which live
// run a call's conversation continues, which run a new conversation is a sub-agent of, and the
// agents seen so far. Keeps hashes, run ids and agent names only, never prompt text; bounded by
// `max_conversations` with least-recently-used eviction. Thread-safe (one mutex; each call holds
// it for a few hash lookups).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/context/request_info.hpp"

namespace augur::proxy {

class ConversationTable {
 public:
  // Where a call sits: its run and function path.
  struct Place {
    std::string run_id;
    std::vector<std::string> path;
  };
  // An earlier call this conversation extends, and whether the messages added since open a new
  // user turn (which starts a new run of the same agent).
  struct Found {
    Place place;
    bool new_turn = false;
  };
  struct Agent {
    std::uint64_t fingerprint = 0;
    std::string name;
    std::vector<std::string> tools;
    std::uint64_t calls = 0;
    std::uint64_t runs = 0;
    std::int64_t first_seen_ms = 0;  // Unix epoch milliseconds
    std::int64_t last_seen_ms = 0;
  };

  static constexpr std::size_t kMaxAgents = 1024;
  static constexpr std::size_t kMaxTasksPerCall = 16;

  // Whether a run found here is still live is the run table's to say (extract_context asks it):
  // a conversation may wait longer than the idle timeout while its sub-agents keep the run busy.
  explicit ConversationTable(std::size_t max_conversations);

  // The remembered call whose message list `conv`'s extends the most, if any.
  std::optional<Found> find(const ConversationShape& conv);
  // Remembers that the call whose chained hash is `key` belongs to `place`.
  void remember(std::uint64_t key, const Place& place);
  // Task texts (hashes) found in the tool-call arguments of a response in `parent`: a new
  // conversation that opens with one of them is a sub-agent of that run.
  void add_tasks(std::span<const std::uint64_t> tasks, const Place& parent);
  // The run that handed out `task`, if any (each task starts one sub-agent: it is used up).
  std::optional<Place> take_task(std::uint64_t task);

  // The agent's path name (a configured one, else "agent-<8 hex>"), counting the call (and a run
  // when `new_run`) under it.
  std::string agent_name(const ConversationShape& conv, bool new_run, std::int64_t unix_ms);

  std::vector<Agent> agents() const;  // most recently seen first
  std::size_t size() const;           // conversations remembered

 private:
  struct Entry {
    std::uint64_t key;
    Place place;
    bool task = false;  // a pending sub-agent task rather than a conversation
  };
  using Lru = std::list<Entry>;  // most recently used first
  void put(std::uint64_t key, Entry entry);

  std::size_t max_entries_;
  mutable std::mutex mu_;
  Lru lru_;
  std::unordered_map<std::uint64_t, Lru::iterator> index_;  // conversation keys
  std::unordered_map<std::uint64_t, Lru::iterator> tasks_;  // pending task hashes
  std::list<Agent> agents_;                                 // most recently seen first
  std::unordered_map<std::uint64_t, std::list<Agent>::iterator> agent_index_;
};

}  // namespace augur::proxy
