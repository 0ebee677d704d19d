// Run records: what one completed agent run did (its LLM and tool calls with times), the input of
// the trie builder. Stored as JSON Lines, one run per line (DESIGN.md "Run records"); the live
// proxy produces them, `augur trie build --runs` reads them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace augur::trie {

// One call made during a run. Only kind "llm" feeds predictions; other kinds (tool calls...) are
// kept so exports round-trip and so they count towards the run's duration.
struct CallRecord {
  std::string kind = "llm";
  std::vector<std::string> path;  // function path below the root; empty = the root
  // 1-based index of this call among the run's LLM calls with the same path, as the proxy assigned
  // it; when absent the builder numbers calls per path in start order (the proxy's definition).
  std::optional<std::uint32_t> call_index;
  std::int64_t started_at_ms = 0;              // Unix epoch milliseconds
  std::optional<std::int64_t> ended_at_ms;     // absent: never completed (ignored by the builder)
  std::optional<std::uint64_t> output_tokens;  // completion tokens; absent counts as 0
  int status = 0;  // HTTP status of the upstream response; 0 = none (transport failure)

  bool is_llm() const noexcept { return kind == "llm"; }
  bool operator==(const CallRecord&) const = default;
};

struct RunRecord {
  std::string run_id;
  std::int64_t started_at_ms = 0;
  std::optional<std::int64_t> ended_at_ms;  // absent: the last call's end is used
  std::vector<CallRecord> calls;

  bool operator==(const RunRecord&) const = default;
};

// Longest path a call may have (the trie's depth limit).
inline constexpr std::size_t kMaxPathLength = 64;

// Parses one JSON object (one JSONL line). Unknown keys are ignored; "run_id", "started_at_ms",
// "calls" and, per call, "kind" and "started_at_ms" are required; nullable fields accept null.
// Throws TrieError naming the field, e.g. `calls[2].ended_at_ms: must be an integer`, for invalid
// JSON, wrong types, duplicate keys, an end before its start, a call index of 0, a path longer
// than kMaxPathLength. Thread-safe (no shared state).
RunRecord parse_run_record(std::string_view json);

// Reads JSON Lines from `in`, calling `on_run` for each run in order; blank lines are skipped.
// Returns the number of runs read. Throws TrieError prefixed with "line N: " on the first bad line
// (runs before it have already been delivered), or on a read error. Exceptions from `on_run`
// propagate. Thread-safe (no shared state).
std::size_t read_runs_jsonl(std::istream& in, const std::function<void(RunRecord&&)>& on_run);

// Opens `file` and reads it as above; errors are prefixed with the file name.
std::size_t read_runs_file(const std::filesystem::path& file,
                           const std::function<void(RunRecord&&)>& on_run);

// One line of JSON (no newline), keys in DESIGN.md's order; absent optionals are written as null.
// parse_run_record(serialize_run_record(r)) == r.
std::string serialize_run_record(const RunRecord& run);

// Writes each run on its own line, each line ended by '\n'.
void write_runs_jsonl(std::ostream& out, std::span<const RunRecord> runs);

}  // namespace augur::trie
