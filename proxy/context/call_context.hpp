// Where in an agent an LLM call comes from: run id, function path and call index, read from the
// request headers and body (DESIGN.md "Request context") and counted per run in a RunTable shared
// by all io threads. The builder and the lookup key on exactly these values, so they must not
// drift.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/context/conversations.hpp"
#include "proxy/context/request_info.hpp"
#include "proxy/http/request_head.hpp"

namespace augur::proxy {

using Clock = std::chrono::steady_clock;

// Bounds on what a client can make augur store or forward. Longer run ids and names are cut (NAT
// ids are ~40 bytes); a run with more distinct paths than kMaxPathsPerRun still gets indices, but
// new paths past the bound are not remembered (every call on them is index 1).
inline constexpr std::size_t kMaxRunIdBytes = 256;
inline constexpr std::size_t kMaxPathNames = 64;
inline constexpr std::size_t kMaxNameBytes = 256;
inline constexpr std::size_t kMaxPathsPerRun = 1024;
inline constexpr std::uint32_t kMaxCallIndex = 1'000'000;

// Where a run's id came from (metrics: augur_runs_total{source}).
enum class RunSource : std::uint8_t {
  header,             // x-nat-run-id, x-prefix-id, x-dynamo-session-id, nvext prefix_id
  session_header,     // the agents' own: Claude Code, Codex, OpenCode
  previous_response,  // Responses' previous_response_id (or a Responses call augur follows)
  conversation,       // inferred: the conversation extends a live run's, or starts one
  sub_agent,          // inferred: opened with a task a live run's tool call handed out
};
inline constexpr std::size_t kRunSources = 5;
std::string_view to_string(RunSource s);

// What happened to runs, per source: started (a run's first call), continued (later calls),
// ended (the client's end signal, the idle timeout, or eviction from a full table).
struct RunEvents {
  std::uint64_t started = 0;
  std::uint64_t continued = 0;
  std::uint64_t ended = 0;
};

struct CallContext {
  std::string run_id;  // never empty; printable ASCII only (safe for headers and JSON)
  // The run goes on beyond this call (the client named it, or a Responses chain may continue
  // it); false: a generated id, the call is a run of its own.
  bool run_id_from_client = false;
  bool run_named_by_client = false;  // the id is the client's (a session a router can follow)
  std::string parent_id;             // the parent run, when the client said; "" otherwise
  std::vector<std::string> path;     // function names, root first; empty = root
  std::uint32_t call_index = 1;      // 1-based, per (run id, path)
  std::uint32_t calls_in_run = 1;    // calls this run has made so far, this one included
  bool run_end = false;              // the run ends with this call (client said so, or no run id)
  bool client_final = false;         // the client marked this call as its run's last
  // Where the run id came from; absent for a generated id (a run of one call).
  std::optional<RunSource> source;
  // The run was inferred from this call's own conversation (not a sub-agent's, which is counted
  // in its parent's run; not a Responses call, whose answer a later call may continue by naming
  // it): an answer without a tool call is the agent's last and ends the run.
  bool ends_at_answer = false;
  // Where the call was remembered in the conversation table (its run was inferred); null
  // otherwise. Tasks its answer hands out are remembered under the same place.
  std::shared_ptr<const ConversationTable::Place> place;
};

// What the client told us, before any counting. Pure function of the request.
struct ClientContext {
  std::optional<std::string> run_id;  // sanitised; nullopt when no source carried one
  std::string parent_id;              // sanitised; "" when none (never equal to run_id)
  std::vector<std::string> path;
  std::optional<std::uint32_t> call_index;  // x-nat-call-index, when valid (1..kMaxCallIndex)
  bool run_end = false;
  RunSource source = RunSource::header;  // which header named the run (with run_id)
};

// Reads the run id, first found of: x-nat-run-id, x-prefix-id, x-dynamo-session-id, the agents'
// own session headers as Dynamo maps them (Claude Code: x-claude-code-agent-id, else
// x-claude-code-session-id; Codex: thread-id; OpenCode: x-session-id), body nvext prefix_id
// minus its "-d<digits>" suffix. The parent run: x-dynamo-parent-session-id (with
// x-dynamo-session-id, or an x-nat-run-id / x-prefix-id run), x-claude-code-parent-agent-id or,
// for a Claude Code sub-agent, its root session; x-codex-parent-thread-id; x-parent-session-id;
// never the run itself. Function path (x-nat-function-path, "a/b" or a JSON array of strings),
// x-nat-call-index, and run end (x-nat-run-end / x-dynamo-session-final true: 1, true, on, yes in
// any case, as Dynamo reads them).
// Malformed values are ignored (treated as absent) rather than failing the request; bytes outside
// printable ASCII in ids and names are percent-encoded so CR/LF can never reach an upstream header.
// Never throws except std::bad_alloc. Thread-safe (no shared state).
ClientContext parse_client_context(const RequestHead& headers, const RequestInfo& info);

// Whether a header names the call's run (any run id source above but the body's): such a call
// needs no inferred context, so its conversation need not be read.
bool names_run(const RequestHead& headers);

// Function path parsing alone (the x-nat-function-path value). Exposed for tests and the CLI.
std::vector<std::string> parse_function_path(std::string_view value);

// Makes a client-supplied id or name safe to store and forward: trims blanks, percent-encodes bytes
// outside 0x20..0x7E (and nothing else, so ordinary ids pass unchanged), cuts to `max_bytes`.
std::string sanitize_token(std::string_view raw, std::size_t max_bytes);

// A process-unique run id for calls that carry none ("augur-<random>-<counter>"). Thread-safe.
std::string generate_run_id();

// Live runs: per (run id, path) call counters and per-run call totals, shared by every io thread.
// Sharded by run id, one mutex per shard, critical sections are a hash lookup and a list splice.
// Bounded: each shard holds at most ceil(max_runs / shards) runs and evicts its least recently used
// one beyond that, so the table never exceeds max_runs rounded up to a multiple of the shard count.
// All methods are thread-safe. The clock is injected (`now`) so tests need no sleeps.
class RunTable {
 public:
  struct Assignment {
    std::uint32_t call_index = 1;
    std::uint32_t calls_in_run = 1;
  };

  RunTable(std::size_t max_runs, Clock::duration idle_timeout, std::size_t shards = 16);
  RunTable(const RunTable&) = delete;
  RunTable& operator=(const RunTable&) = delete;
  ~RunTable();

  // Counts one call of `run_id` on `path`. The index is the per-path count so far (this call
  // included) unless `index_override` is given, which also resets that path's counter to it so
  // later uncounted calls continue from there. `run_end` forgets the run after this call. Never
  // fails; may evict the least recently used run of the shard when it is full.
  Assignment record_call(std::string_view run_id, std::span<const std::string> path,
                         std::optional<std::uint32_t> index_override, bool run_end,
                         Clock::time_point now, RunSource source = RunSource::header);

  // Marks the run active at `now` (call it when a response ends: the idle timeout runs from the
  // run's last response, not its last request). Unknown run ids are ignored.
  void touch(std::string_view run_id, Clock::time_point now);

  // Whether the run is in the table and was active within the idle timeout at `now`.
  bool live(std::string_view run_id, Clock::time_point now) const;

  // Removes the run (e.g. the tracker closed it). Unknown run ids are ignored.
  void forget(std::string_view run_id);

  // Removes every run idle for at least idle_timeout at `now` and returns their ids (unordered).
  std::vector<std::string> expire(Clock::time_point now);

  std::size_t size() const;
  std::uint64_t evicted() const;  // runs dropped because the table was full, since construction
  // Runs started, continued and ended per source (index: RunSource), since construction.
  std::array<RunEvents, kRunSources> events() const;

  // Responses chaining: the run a response belongs to, by the response's id, so a call naming it
  // in previous_response_id continues that run. Holds as many links as the table holds runs; the
  // oldest go first. Thread-safe.
  void link_response(std::string_view response_id, std::string_view run_id);
  std::optional<std::string> run_of_response(std::string_view response_id) const;

 private:
  struct Shard;
  struct ResponseLinks;
  // The run id's hash picks its shard and keys that shard's index: computed once per call.
  Shard& shard_for(std::size_t run_hash) const;

  std::size_t per_shard_cap_;
  Clock::duration idle_timeout_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unique_ptr<ResponseLinks> links_;
  struct Counters;
  std::unique_ptr<Counters> counters_;
};

// parse_client_context + RunTable::record_call. A call without a run id: a Responses call naming
// a response augur relayed (previous_response_id) continues that response's run; else, with
// `conversations` and a message list, the run is inferred from the conversation (DESIGN "Request
// context": it extends a live run's call, or is a sub-agent a live run's tool call started, or
// starts a run of its agent, whose name becomes the path when the client sent none); else a
// Responses call starts a run augur follows, and any other call gets a generated id, index 1,
// calls_in_run 1 and run_end true, and is not stored (it can have no second call). Inferred and
// followed runs end by the idle timeout. Thread-safe; never throws except std::bad_alloc.
CallContext extract_context(const RequestHead& headers, const RequestInfo& info, RunTable& runs,
                            Clock::time_point now, ConversationTable* conversations = nullptr);

}  // namespace augur::proxy
