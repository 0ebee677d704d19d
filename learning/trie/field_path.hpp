// The JSON path of the field a reader is looking at, kept as a stack of views into the document so
// that a successful parse builds no strings; only an error formats it (`root.children.a."1".mean`).
// Internal to learning/trie's readers; not thread-safe (one per parse).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace augur::trie {

class FieldPath {
 public:
  // A key written bare when it is a plain identifier, JSON-quoted otherwise.
  void push_key(std::string_view key) { segs_.push_back({key, 0, Kind::key}); }
  // A key always written JSON-quoted (call-index keys: "1").
  void push_quoted(std::string_view key) { segs_.push_back({key, 0, Kind::quoted}); }
  void push_index(std::size_t index) { segs_.push_back({{}, index, Kind::index}); }
  void pop() noexcept { segs_.pop_back(); }
  void clear() noexcept { segs_.clear(); }

  // "(document)" for the top level.
  std::string str() const;

  // Throws TrieError("<prefix><path>: <what>").
  [[noreturn]] void fail(std::string_view what) const;

  // Prepended to every error message, e.g. "line 12: ".
  std::string prefix;

 private:
  enum class Kind { key, quoted, index };
  struct Seg {
    std::string_view key;
    std::size_t index;
    Kind kind;
  };
  std::vector<Seg> segs_;
};

// Pushes a segment for the lifetime of the guard.
class FieldScope {
 public:
  FieldScope(FieldPath& path, std::string_view key) : path_(path) { path_.push_key(key); }
  FieldScope(FieldPath& path, std::size_t index) : path_(path) { path_.push_index(index); }
  FieldScope(const FieldScope&) = delete;
  FieldScope& operator=(const FieldScope&) = delete;
  ~FieldScope() { path_.pop(); }

 private:
  FieldPath& path_;
};

}  // namespace augur::trie
