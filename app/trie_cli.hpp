// `augur trie build|lookup|convert|export` as plain functions: the augur main wires them into
// CLI11. Each takes its arguments and the streams to write to and returns the process exit code, so
// they are testable without a process. Thread-safe apart from the streams they are given.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "learning/trie/builder.hpp"

namespace augur::trie {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;     // unreadable or malformed input, unwritable output
inline constexpr int kExitNotFound = 2;  // lookup: no prediction on the path; export: no trie

inline constexpr std::string_view kDefaultWorkflowName = "augur";

inline constexpr std::string_view kTrieBuildHelp =
    "Build a NAT prediction_trie.json from run records (JSON Lines, one run per line), exactly as "
    "the live proxy learns with its default learning settings (path bounds, 2 min half-life by "
    "each run's end time; every path in the file is admitted at once). --out - writes to stdout.";
inline constexpr std::string_view kTrieLookupHelp =
    "Look up the prediction for a function path (\"a/b\" or a JSON array [\"a\",\"b\"]; empty = "
    "root) and call index, with NAT's fallback. Prints one JSON object: source (exact, any_index, "
    "ancestor, root), depth, matched_depth, the three metrics and latency_sensitivity. Exit code 2 "
    "when the trie has no prediction on that path.";
inline constexpr std::string_view kTrieConvertHelp =
    "Read a prediction_trie.json (as NAT or augur wrote it) and write it back normalised: "
    "validated, NAT's key order, indent 2, numbers as Python writes them. NAT JSON is augur's only "
    "trie format, so this validates and normalises; it does not translate between formats. "
    "--out - writes to stdout.";
inline constexpr std::string_view kTrieExportHelp =
    "Write the trie published in Redis (KEY_PREFIX NAMESPACE:trie, as the replicas sharing that "
    "namespace publish it) as NAT JSON. The trie is validated first: a corrupt one is an error "
    "(exit 1) and nothing is written. Exit code 2 when no trie is published. --out - writes to "
    "stdout.";

// Where `trie export` reads: the store.url, store.namespace and store.key_prefix of the replicas.
struct TrieExportSource {
  std::string redis_url;
  std::string ns = "default";
  std::string key_prefix = "augur:";
};

// Reads runs from `runs_path`, builds the trie (default sensitivity settings, `limits`) and writes
// it to `out_path` ("-" = `out`). Prints a one-line summary to `out` (to `err` when the trie goes
// to `out`). Returns kExitOk, or kExitError with the reason (file, line, field) on `err`.
int trie_build(const std::filesystem::path& runs_path, const std::filesystem::path& out_path,
               std::string_view workflow_name, std::ostream& out, std::ostream& err,
               const BuilderLimits& limits = offline_limits());

// Loads the trie at `trie_path` and prints the lookup of (`function_path`, `call_index`) to `out`
// as one JSON line. Returns kExitOk, kExitNotFound (message on `err`) or kExitError.
int trie_lookup(const std::filesystem::path& trie_path, std::string_view function_path,
                std::uint32_t call_index, std::ostream& out, std::ostream& err);

// Reads the trie at `in_path` and writes it normalised to `out_path` ("-" = `out`). Returns
// kExitOk or kExitError (reason on `err`).
int trie_convert(const std::filesystem::path& in_path, const std::filesystem::path& out_path,
                 std::ostream& out, std::ostream& err);

// Reads the published trie from Redis, validates it with the trie reader and writes it normalised
// to `out_path` ("-" = `out`), with a summary (version, nodes) on `out` (on `err` when the trie
// goes to `out`). Returns kExitOk, kExitNotFound when nothing is published, or kExitError (bad URL,
// Redis unreachable or timing out, corrupt trie, unwritable output; reason on `err`).
int trie_export(const TrieExportSource& source, const std::filesystem::path& out_path,
                std::ostream& out, std::ostream& err);

// "a/b" (empty names skipped, so "" and "/" are the root) or a JSON array of strings. Throws
// TrieError when the array form is malformed or the path is deeper than kMaxTrieDepth.
std::vector<std::string> parse_function_path(std::string_view text);

}  // namespace augur::trie
