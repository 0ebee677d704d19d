// NAT prediction_trie.json reader and writer. Reads what NAT (save_prediction_trie) and
// nemo-flow-adaptive write, rejecting malformed files with the JSON path of the bad field; writes
// byte-for-byte what Python's json.dump(indent=2) would write for the same trie.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "learning/trie/trie.hpp"

namespace augur::trie {

// Parses a NAT prediction_trie.json document. Tolerant where NAT's loader is: missing
// predictions_by_call_index / children read as empty, missing latency_sensitivity and metric
// fields as null / 0, unknown keys are ignored. Rejects (TrieError naming the JSON path, e.g.
// `root.children.a.predictions_by_call_index."0": call index must be a positive integer`): invalid
// JSON, wrong types, call-index keys that are not 1..kMaxCallIndex without leading zeros,
// duplicate keys, a child whose "name" differs from its key, trees deeper than kMaxTrieDepth,
// sample counts above 2^53, metric values that are non-finite or beyond +-1e15, latency
// sensitivities outside 0..1000, an envelope version whose major is not 1.
// Thread-safe (no shared state).
Trie parse_trie(std::string_view json);

// Reads and parses a file. Throws TrieError with the file name prepended on I/O or parse failure.
Trie load_trie_file(const std::filesystem::path& file);

// The NAT JSON text of `trie`: json.dump(indent=2) layout, keys in NAT's order, no trailing
// newline. Throws TrieError if a metric value is not finite (JSON cannot carry it). Thread-safe.
std::string serialize_trie(const Trie& trie);

// Writes serialize_trie(trie) to `file` atomically (temporary file in the same directory, then
// rename), so concurrent readers see the old or the new file, never half of one. Throws TrieError.
void save_trie_file(const Trie& trie, const std::filesystem::path& file);

}  // namespace augur::trie
