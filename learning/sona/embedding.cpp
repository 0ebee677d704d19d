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
#include <unordered_map>

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

// One float added to one element of the embedding.
struct Addition {
  std::uint32_t at;
  float value;
};

// Collects one group's features, then adds them to the output scaled to the group's weight.
class Group {
 public:
  void add(std::uint64_t hash, float weight) {
    if (n_ < items_.size()) items_[n_++] = {hash, weight};
  }
  // Adds the group to `out` and appends each addition to `record`, so that replaying the record
  // adds exactly the same floats in the same order.
  void flush(float group_weight, std::span<float> out, std::vector<Addition>& record) {
    float norm2 = 0;
    for (std::size_t i = 0; i < n_; ++i) norm2 += items_[i].weight * items_[i].weight;
    if (norm2 > 0 && !out.empty()) {
      const float scale = group_weight / std::sqrt(norm2);
      for (std::size_t i = 0; i < n_; ++i) {
        const std::uint64_t h = items_[i].hash;
        const float sign = (h >> 63) != 0 ? -1.0f : 1.0f;
        const float add = sign * scale * items_[i].weight;
        const auto at = static_cast<std::uint32_t>(h % out.size());
        out[at] += add;
        record.push_back({at, add});
      }
    }
    n_ = 0;
  }

 private:
  struct Item {
    std::uint64_t hash;
    float weight;
  };
  std::array<Item, 128> items_;  // the first n_ are set; not zeroed (2 KiB per embedding)
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

// What an embedding depends on besides the path: buckets, not raw values, so calls whose request
// grew a little share an entry.
struct Shape {
  std::uint64_t index = 0;       // index_bucket(call_index)
  std::uint64_t bytes = 0;       // log2 buckets
  std::uint64_t max_tokens = 0;  // kNoMaxTokens when absent
  std::uint64_t messages = 0;
  bool tools = false;
  bool stream = false;
  bool operator==(const Shape&) const = default;
};
constexpr std::uint64_t kNoMaxTokens = ~std::uint64_t{0};

Shape shape_of(const CallFeatures& f) noexcept {
  Shape s;
  s.index = index_bucket(f.call_index);
  s.bytes = log2_bucket(f.request_bytes);
  s.max_tokens =
      f.max_tokens
          ? log2_bucket(static_cast<std::uint64_t>(std::max<std::int64_t>(0, *f.max_tokens)))
          : kNoMaxTokens;
  s.messages = log2_bucket(f.message_count);
  s.tools = f.tools;
  s.stream = f.stream;
  return s;
}

// Adds every feature group of the call to v (all zeros on entry), recording each addition into
// `record`.
void add_groups(const CallFeatures& f, const Shape& shape, std::span<float> v,
                std::vector<Addition>& record) {
  Group g;
  const std::string_view leaf = f.path.empty() ? std::string_view("<root>") : f.path.back();
  const std::uint64_t index = shape.index;

  add_name(g, 'L', leaf, 0, /*trigrams=*/true);
  g.flush(kLeafWeight, v, record);

  add_name(g, 'X', leaf, index, /*trigrams=*/false);
  g.flush(kLeafIndexWeight, v, record);

  // Ancestors, nearest first, tagged with their distance from the leaf.
  const std::size_t depth = f.path.size();
  for (std::size_t up = 1; up < depth && up <= 8; ++up) {
    const float w = 1.0f / static_cast<float>(up);
    const std::string_view name = f.path[depth - 1 - up];
    g.add(feature_hash('A', name, up), w);
    for_each_piece(name, [&](std::string_view p) { g.add(feature_hash('B', p, up), 0.5f * w); });
  }
  g.flush(kAncestorWeight, v, record);

  // The call index, with its neighbours at lower weight so index 5 is near 4 and 6.
  g.add(feature_hash('I', {}, index), 1.0f);
  g.add(feature_hash('I', {}, index + 1), 0.4f);
  if (index > 0) g.add(feature_hash('I', {}, index - 1), 0.4f);
  g.flush(kIndexWeight, v, record);

  g.add(feature_hash('D', {}, std::min<std::size_t>(depth, 16)), 1.0f);
  g.flush(kDepthWeight, v, record);

  if (!f.model.empty()) {
    g.add(feature_hash('M', f.model), 1.0f);
    g.flush(kModelWeight, v, record);
  }

  g.add(feature_hash('R', {}, shape.bytes), 1.0f);
  g.flush(kShapeWeight, v, record);
  g.add(shape.max_tokens != kNoMaxTokens ? feature_hash('T', {}, shape.max_tokens)
                                         : feature_hash('T', "none"),
        1.0f);
  g.flush(kShapeWeight, v, record);
  g.add(feature_hash('C', {}, shape.messages), 1.0f);
  g.flush(kShapeWeight, v, record);
  g.add(feature_hash('F', shape.tools ? "tools" : "no-tools"), 1.0f);
  g.add(feature_hash('F', shape.stream ? "stream" : "no-stream"), 1.0f);
  g.flush(kShapeWeight, v, record);
}

// Embedding a call costs a few thousand instructions (name pieces, trigrams, a hash per feature,
// the norm), yet calls repeat the same path, call-index bucket and shape over and over. Each
// thread keeps, per such key, the additions the groups made and the normalising factor, and
// replays them: the same floats added in the same order, then the same scaling, so the embedding
// is bit-identical to one computed afresh. Bounded (emptied when full); an entry is a few hundred
// bytes.
class EmbeddingCache {
 public:
  static constexpr std::size_t kMaxEntries = 4096;

  struct Entry {
    std::vector<std::string> path;
    std::string model;
    Shape shape;
    std::size_t dim = 0;
    std::vector<Addition> additions;
    float factor = 0;  // what normalize() scaled by; 0: it left the vector unchanged
  };

  // The entry for the key, or null (then compute into fill() and call keep()).
  const Entry* find(const CallFeatures& f, const Shape& shape, std::size_t dim) {
    key_hash_ = hash_of(f, shape, dim);
    const auto it = entries_.find(key_hash_);
    if (it == entries_.end()) return nullptr;
    const Entry& e = it->second;
    if (e.shape != shape || e.dim != dim || e.model != f.model ||
        !std::equal(f.path.begin(), f.path.end(), e.path.begin(), e.path.end()))
      return nullptr;  // a hash collision: computed afresh, the older entry kept
    return &e;
  }

  // Scratch for a miss: additions and factor are recorded here, then keep() stores them.
  Entry& fill() {
    fill_.additions.clear();
    fill_.factor = 0;
    return fill_;
  }

  // Keeps fill() under the key of the last find().
  void keep(const CallFeatures& f, const Shape& shape, std::size_t dim) {
    if (entries_.size() >= kMaxEntries) entries_.clear();
    auto [it, added] = entries_.try_emplace(key_hash_);
    if (!added) return;  // the collision case above
    Entry& e = it->second;
    e.path.assign(f.path.begin(), f.path.end());
    e.model = f.model;
    e.shape = shape;
    e.dim = dim;
    e.additions = fill_.additions;
    e.factor = fill_.factor;
  }

 private:
  static std::uint64_t hash_of(const CallFeatures& f, const Shape& s, std::size_t dim) noexcept {
    std::uint64_t h = kFnvOffset;
    for (const std::uint64_t x :
         {s.index, s.bytes, s.max_tokens, s.messages,
          std::uint64_t{s.tools} << 1 | std::uint64_t{s.stream}, std::uint64_t{dim}})
      h = (h ^ x) * kFnvPrime;
    h = (fnv(h, f.model) ^ f.model.size()) * kFnvPrime;
    for (const std::string& name : f.path) {
      h = fnv(h, name);
      h = (h ^ name.size()) * kFnvPrime;  // ("ab","c") is not ("a","bc")
    }
    return mix(h);
  }

  std::unordered_map<std::uint64_t, Entry> entries_;
  Entry fill_;
  std::uint64_t key_hash_ = 0;
};

}  // namespace

ShapeKey shape_key(const CallFeatures& f) noexcept {
  const Shape s = shape_of(f);
  return {s.index, s.bytes, s.max_tokens, s.messages,
          std::uint64_t{s.tools} << 1 | std::uint64_t{s.stream}};
}

std::vector<std::string> name_pieces(std::string_view name) {
  std::vector<std::string> out;
  for_each_piece(name, [&](std::string_view p) { out.emplace_back(p); });
  return out;
}

void embed_call(const CallFeatures& f, std::size_t dim, Embedding& out) {
  out.values.assign(dim, 0.0f);
  const std::span<float> v = out.values;
  const Shape shape = shape_of(f);
  thread_local EmbeddingCache cache;
  if (const auto* e = cache.find(f, shape, dim)) {
    for (const Addition& a : e->additions) v[a.at] += a.value;
    if (e->factor != 0) scale(e->factor, v);
    return;
  }
  auto& fill = cache.fill();
  add_groups(f, shape, v, fill.additions);
  // normalize(v), keeping its factor.
  const float norm = std::sqrt(dot(v, v));
  if (norm > 1e-12f) {
    fill.factor = 1.0f / norm;
    scale(fill.factor, v);
  }
  cache.keep(f, shape, dim);
}

Embedding embed_call(const CallFeatures& f, std::size_t dim) {
  Embedding e;
  embed_call(f, dim, e);
  return e;
}

}  // namespace augur::sona
