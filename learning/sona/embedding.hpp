// The context embedding of an LLM call: hashed features of its function path (with sub-word
// pieces, so `web_search_tool` lands near `web_search`), call index, model and request shape, in a
// fixed-dimension unit vector. Computed once per request, before forwarding.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace augur::sona {

// What the proxy knows about a call before forwarding it.
struct CallFeatures {
  std::span<const std::string> path;  // function names, root first (may be empty)
  std::uint32_t call_index = 1;
  std::string_view model;
  std::size_t request_bytes = 0;
  std::optional<std::int64_t> max_tokens;
  std::uint32_t message_count = 0;
  bool tools = false;
  bool stream = false;
};

// A unit vector of the engine's embedding dimension (all zeros only if dim is 0).
struct Embedding {
  std::vector<float> values;
  std::span<const float> view() const noexcept { return values; }
};

// Embeds `f` into `dim` floats. Deterministic (no RNG, no shared state): thread-safe. Each thread
// remembers how it embedded each context (path, call-index bucket, model, shape buckets), bounded,
// so a repeated context is replayed bit for bit instead of re-hashed; a context's first call
// allocates that entry, otherwise only the result vector is allocated (and nothing when `out`
// already has `dim` elements).
void embed_call(const CallFeatures& f, std::size_t dim, Embedding& out);
Embedding embed_call(const CallFeatures& f, std::size_t dim);

// What an embedding depends on besides path, model and dimension: the call-index and request-shape
// buckets. Calls with equal buckets, path and model embed identically (caches key on this).
using ShapeKey = std::array<std::uint64_t, 5>;
ShapeKey shape_key(const CallFeatures& f) noexcept;

// The lower-case sub-word pieces of a function name: split at non-alphanumerics, camelCase
// humps and letter/digit boundaries ("WebSearch_v2" -> web, search, v, 2). Exposed for tests.
std::vector<std::string> name_pieces(std::string_view name);

}  // namespace augur::sona
