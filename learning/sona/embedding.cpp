// Feature hashing for call contexts. Each feature group (leaf name, leaf x call index, ancestors,
// call index, request shape) is scaled to a fixed weight before the groups are summed, so a long
// name with many pieces does not drown the call index, and similarity between two calls reads as
// "how many of these groups agree". Signed hashing keeps collisions unbiased.
#include "learning/sona/embedding.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cmath>

#include "learning/sona/vec.hpp"

namespace augur::sona {

namespace {

// Group weights, tuned on the offline evaluation (loadtest/sona): the leaf and its pairing with
// the call index decide most hints; ancestors and shape refine.
constexpr float kLeafWeight = 1.0f;
constexpr float kLeafIndexWeight = 1.0f;
constexpr float kAncestorWeight = 0.6f;
constexpr float kIndexWeight = 0.7f;
constexpr float kDepthWeight = 0.2f;
constexpr float kModelWeight = 0.3f;
constexpr float kShapeWeight = 0.25f;  // each of: request size, max_tokens, messages, tools, stream
// Within a name: the whole name, each piece (1.0) and each character trigram.
constexpr float kWholeNameWeight = 0.5f;
constexpr float kTrigramWeight = 0.3f;

constexpr std::uint64_t kFnvOffset = 14695981039346656037ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;

std::uint64_t fnv(std::uint64_t h, std::string_view s) noexcept {
  for (unsigned char c : s) h = (h ^ c) * kFnvPrime;
  return h;
}

std::uint64_t mix(std::uint64_t h) noexcept {  // splitmix64 finaliser: spreads FNV's low bits
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

// A feature is (tag, text, number); tag and number keep "idx 3" apart from a name "3".
std::uint64_t feature_hash(char tag, std::string_view text, std::uint64_t number = 0) noexcept {
  std::uint64_t h = (kFnvOffset ^ static_cast<unsigned char>(tag)) * kFnvPrime;
  h = fnv(h, text);
  h = (h ^ number) * kFnvPrime;
  return mix(h);
}

// Collects one group's features, then adds them to the output scaled to the group's weight.
class Group {
 public:
  void add(std::uint64_t hash, float weight) {
    if (n_ < items_.size()) items_[n_++] = {hash, weight};
  }
  void flush(float group_weight, std::span<float> out) {
    float norm2 = 0;
    for (std::size_t i = 0; i < n_; ++i) norm2 += items_[i].weight * items_[i].weight;
    if (norm2 > 0 && !out.empty()) {
      const float scale = group_weight / std::sqrt(norm2);
      for (std::size_t i = 0; i < n_; ++i) {
        const std::uint64_t h = items_[i].hash;
        const float sign = (h >> 63) != 0 ? -1.0f : 1.0f;
        out[h % out.size()] += sign * scale * items_[i].weight;
      }
    }
    n_ = 0;
  }

 private:
  struct Item {
    std::uint64_t hash;
    float weight;
  };
  std::array<Item, 128> items_{};
  std::size_t n_ = 0;
};

// Calls 1..16 each get their own bucket; later ones share log2 buckets.
std::uint64_t index_bucket(std::uint32_t index) noexcept {
  if (index <= 16) return index;
  return 16 + static_cast<std::uint64_t>(std::bit_width(index) - 5);
}

std::uint64_t log2_bucket(std::uint64_t v) noexcept { return std::bit_width(v); }

// Visits the pieces of `name` without allocating (the view points into `buf`).
template <class F>
void for_each_piece(std::string_view name, F&& f) {
  char buf[64];
  std::size_t n = 0;
  auto emit = [&] {
    if (n > 0) f(std::string_view(buf, n));
    n = 0;
  };
  char prev = 0;
  for (char raw : name) {
    const unsigned char c = static_cast<unsigned char>(raw);
    if (!std::isalnum(c)) {
      emit();
      prev = 0;
      continue;
    }
    const bool boundary =
        n > 0 && ((std::isupper(c) && std::islower(static_cast<unsigned char>(prev))) ||
                  (std::isdigit(c) != 0) != (std::isdigit(static_cast<unsigned char>(prev)) != 0));
    if (boundary || n == sizeof buf) emit();
    buf[n++] = static_cast<char>(std::tolower(c));
    prev = raw;
  }
  emit();
}

// The whole name weighs less than its pieces: a renamed function (`web_search_tool`) differs in
// its whole name but keeps most pieces and trigrams.
void add_name(Group& g, char tag, std::string_view name, std::uint64_t number, bool trigrams) {
  g.add(feature_hash(tag, name, number), kWholeNameWeight);
  for_each_piece(name, [&](std::string_view piece) {
    g.add(feature_hash(static_cast<char>(tag + 1), piece, number), 1.0f);
  });
  if (!trigrams) return;
  // Character trigrams of the lower-cased, separator-free name, padded at both ends: they tie
  // "retriever" to "retrieve_docs" where whole pieces differ.
  char buf[66];
  std::size_t n = 0;
  buf[n++] = '^';
  for (char raw : name) {
    const unsigned char c = static_cast<unsigned char>(raw);
    if (std::isalnum(c) && n < sizeof buf - 1) buf[n++] = static_cast<char>(std::tolower(c));
  }
  buf[n++] = '$';
  for (std::size_t i = 0; i + 3 <= n; ++i)
    g.add(feature_hash(static_cast<char>(tag + 2), std::string_view(buf + i, 3), number),
          kTrigramWeight);
}

}  // namespace

std::vector<std::string> name_pieces(std::string_view name) {
  std::vector<std::string> out;
  for_each_piece(name, [&](std::string_view p) { out.emplace_back(p); });
  return out;
}

void embed_call(const CallFeatures& f, std::size_t dim, Embedding& out) {
  out.values.assign(dim, 0.0f);
  std::span<float> v = out.values;
  Group g;
  const std::string_view leaf = f.path.empty() ? std::string_view("<root>") : f.path.back();
  const std::uint64_t index = index_bucket(f.call_index);

  add_name(g, 'L', leaf, 0, /*trigrams=*/true);
  g.flush(kLeafWeight, v);

  add_name(g, 'X', leaf, index, /*trigrams=*/false);
  g.flush(kLeafIndexWeight, v);

  // Ancestors, nearest first, tagged with their distance from the leaf.
  const std::size_t depth = f.path.size();
  for (std::size_t up = 1; up < depth && up <= 8; ++up) {
    const float w = 1.0f / static_cast<float>(up);
    const std::string_view name = f.path[depth - 1 - up];
    g.add(feature_hash('A', name, up), w);
    for_each_piece(name, [&](std::string_view p) { g.add(feature_hash('B', p, up), 0.5f * w); });
  }
  g.flush(kAncestorWeight, v);

  // The call index, with its neighbours at lower weight so index 5 is near 4 and 6.
  g.add(feature_hash('I', {}, index), 1.0f);
  g.add(feature_hash('I', {}, index + 1), 0.4f);
  if (index > 0) g.add(feature_hash('I', {}, index - 1), 0.4f);
  g.flush(kIndexWeight, v);

  g.add(feature_hash('D', {}, std::min<std::size_t>(depth, 16)), 1.0f);
  g.flush(kDepthWeight, v);

  if (!f.model.empty()) {
    g.add(feature_hash('M', f.model), 1.0f);
    g.flush(kModelWeight, v);
  }

  g.add(feature_hash('R', {}, log2_bucket(f.request_bytes)), 1.0f);
  g.flush(kShapeWeight, v);
  g.add(f.max_tokens
            ? feature_hash(
                  'T', {},
                  log2_bucket(static_cast<std::uint64_t>(std::max<std::int64_t>(0, *f.max_tokens))))
            : feature_hash('T', "none"),
        1.0f);
  g.flush(kShapeWeight, v);
  g.add(feature_hash('C', {}, log2_bucket(f.message_count)), 1.0f);
  g.flush(kShapeWeight, v);
  g.add(feature_hash('F', f.tools ? "tools" : "no-tools"), 1.0f);
  g.add(feature_hash('F', f.stream ? "stream" : "no-stream"), 1.0f);
  g.flush(kShapeWeight, v);

  normalize(v);
}

Embedding embed_call(const CallFeatures& f, std::size_t dim) {
  Embedding e;
  embed_call(f, dim, e);
  return e;
}

}  // namespace augur::sona
