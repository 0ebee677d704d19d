// Inferred run context for agents that send no run header (DESIGN "Request context"): which live
// run a call's conversation continues, which run a new conversation is a sub-agent of, and the
// agents seen so far. Keeps hashes, run ids and agent names only, never prompt text; bounded by
// `max_conversations` with least-recently-used eviction. Thread-safe (one mutex; each call holds
// it for a few hash lookups).
//
// Laid out so the memory a busy table touches stays small and warm: entries sit in one vector of
// fixed-size slots, kept in least-recently-used order by a list of slot numbers, and keys are
// found through open-addressing maps. A freed slot (a finished conversation, a taken task) is the
// next one used, so while conversations end as fast as they start the same few slots serve them
// all, however large the bound; remembering a call allocates nothing but its run's place, which
// all of the run's entries share.
#pragma once

#include <boost/unordered/unordered_flat_map.hpp>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
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
    bool sub_agent = false;  // a sub-agent's conversation, counted in its parent's run
  };
  // An earlier call this conversation extends, and whether the messages added since open a new
  // user turn (which starts a new run of the same agent).
  struct Found {
    std::shared_ptr<const Place> place;  // never null
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
  // Remembers that the call whose chained hash is `key` belongs to `place` (shared: a run's calls
  // hand on the place their run was found under).
  void remember(std::uint64_t key, std::shared_ptr<const Place> place);
  // The conversation whose chained hashes are `prefix` got its final answer in run `run_id`: it
  // can only go on with a new user turn, which starts a new run whether or not its calls are
  // remembered, so they are forgotten now rather than aging out (which keeps a table of finished
  // conversations from growing cold and full).
  void forget(std::span<const std::uint64_t> prefix, std::string_view run_id);
  // Task texts (hashes) found in the tool-call arguments of a response in `parent`: a new
  // conversation that opens with one of them is a sub-agent of that run.
  void add_tasks(std::span<const std::uint64_t> tasks, const std::shared_ptr<const Place>& parent);
  void add_tasks(std::span<const std::uint64_t> tasks, Place parent);
  // The run that handed out `task`, or null (each task starts one sub-agent: it is used up).
  std::shared_ptr<const Place> take_task(std::uint64_t task);

  // The agent's path name (a configured one, else "agent-<8 hex>"), counting the call (and a run
  // when `new_run`) under it.
  std::string agent_name(const ConversationShape& conv, bool new_run, std::int64_t unix_ms);

  std::vector<Agent> agents() const;  // most recently seen first
  std::size_t size() const;           // conversations remembered

 private:
  static constexpr std::uint32_t kNone = UINT32_MAX;
  // A slot of the table; `place` null: free (its key moved on, was forgotten or was taken).
  // Live slots form a list from the most (head_) to the least (tail_) recently used; free ones a
  // stack through `next`.
  struct Slot {
    std::uint64_t key = 0;
    std::shared_ptr<const Place> place;
    std::uint32_t prev = kNone;
    std::uint32_t next = kNone;
    bool task = false;  // a pending sub-agent task rather than a conversation
  };
  using Index = boost::unordered_flat_map<std::uint64_t, std::uint32_t>;  // key -> slot
  // Makes `key` the most recently used entry, in a free slot (the least recently used entry's,
  // evicted, once max_entries_ are held).
  void put(std::uint64_t key, std::shared_ptr<const Place> place, bool task);
  // Frees a live slot (its index entry is the caller's to erase).
  void release(std::uint32_t slot);
  void unlink(std::uint32_t slot);
  void link_front(std::uint32_t slot);  // makes a slot out of the list its head

  std::size_t max_entries_;
  mutable std::mutex mu_;
  std::vector<Slot> slots_;  // grows to max_entries_
  std::uint32_t head_ = kNone, tail_ = kNone, free_ = kNone;
  Index index_;              // conversation keys
  Index tasks_;              // pending task hashes
  std::list<Agent> agents_;  // most recently seen first
  std::unordered_map<std::uint64_t, std::list<Agent>::iterator> agent_index_;
};

}  // namespace augur::proxy
