// Typed access to a simdjson DOM with errors that name the JSON path, shared by this component's
// readers (NAT trie, run records, builder state). Internal adapter: include it only from those
// .cpp files, never from a public header, so that simdjson stays out of augur's interfaces.
// Not thread-safe: one reader per parse.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "learning/trie/field_path.hpp"

namespace augur::trie::detail {

namespace dom = simdjson::dom;

// Which of an object's known keys (by position in the reader's key list) have been seen, to reject
// duplicates (simdjson keeps them all) and report missing ones.
class SeenKeys {
 public:
  // True the first time `bit` is seen.
  bool first(unsigned bit) {
    const std::uint32_t mask = std::uint32_t{1} << bit;
    const bool fresh = (seen_ & mask) == 0;
    seen_ |= mask;
    return fresh;
  }
  bool has(unsigned bit) const { return (seen_ & (std::uint32_t{1} << bit)) != 0; }

 private:
  std::uint32_t seen_ = 0;
};

// Base of the readers: owns the path that every failure names. Each accessor either returns the
// typed value or throws TrieError("<prefix><path>: <what>") through path_.fail.
class JsonReader {
 public:
  // Prepended to every error message, e.g. "line 12: ".
  void set_prefix(std::string prefix) { path_.prefix = std::move(prefix); }

 protected:
  // Parses `text` with `parser` (the element lives as long as the parser's document); fails with
  // "invalid JSON: <simdjson's reason>" at the current path.
  dom::element parse(dom::parser& parser, std::string_view text);

  dom::object object_of(dom::element e) {
    if (e.type() != dom::element_type::OBJECT) path_.fail("must be an object");
    return e.get_object().value_unsafe();
  }

  dom::array array_of(dom::element e, std::string_view what = "must be an array") {
    if (e.type() != dom::element_type::ARRAY) path_.fail(what);
    return e.get_array().value_unsafe();
  }

  std::string_view string_of(dom::element e) {
    if (e.type() != dom::element_type::STRING) path_.fail("must be a string");
    return e.get_string().value_unsafe();
  }

  // Any JSON number as a double; not checked for range.
  double number_of(dom::element e) {
    switch (e.type()) {
      case dom::element_type::DOUBLE:
        return e.get_double().value_unsafe();
      case dom::element_type::INT64:
        return static_cast<double>(e.get_int64().value_unsafe());
      case dom::element_type::UINT64:
        return static_cast<double>(e.get_uint64().value_unsafe());
      default:
        path_.fail("must be a number");
    }
  }

  static bool is_null(dom::element e) { return e.type() == dom::element_type::NULL_VALUE; }

  // A call-index key as NAT writes it (str(int)): 1..kMaxCallIndex in decimal, no sign, no
  // leading zero (so "1" and "01" cannot both name index 1).
  std::uint32_t call_index_of(std::string_view key);

  [[noreturn]] void duplicate(std::string_view key);
  [[noreturn]] void missing(std::string_view key);

  // Calls f(bit, value) for each field of `obj` whose key is keys[bit], inside that key's path
  // scope; other keys are skipped (readers ignore unknown keys for forward compatibility). Fails
  // on a repeated known key. Returns which keys were present.
  template <class F>
  SeenKeys for_each_field(dom::object obj, std::span<const std::string_view> keys, F&& f) {
    SeenKeys seen;
    for (const dom::key_value_pair field : obj) {
      const std::string_view key = field.key;
      unsigned bit = 0;
      while (bit < keys.size() && keys[bit] != key) ++bit;
      if (bit == keys.size()) continue;
      if (!seen.first(bit)) duplicate(key);
      FieldScope scope(path_, key);
      f(bit, field.value);
    }
    return seen;
  }

  // Fails with "missing key" for the first of `required` (indices into `keys`) not in `seen`.
  void require(const SeenKeys& seen, std::span<const std::string_view> keys,
               std::initializer_list<unsigned> required) {
    for (const unsigned bit : required) {
      if (!seen.has(bit)) missing(keys[bit]);
    }
  }

  // Reads a {"<call index>": value} object into `map`, calling read(value, map[index]) with the
  // key on the path (quoted); fails on a repeated index.
  template <class Map, class Read>
  void read_by_call_index(dom::object obj, Map& map, Read&& read) {
    for (const dom::key_value_pair field : obj) {
      path_.push_quoted(field.key);
      const std::uint32_t index = call_index_of(field.key);
      const auto [it, inserted] = map.try_emplace(index);
      if (!inserted) path_.fail("duplicate call index");
      read(field.value, it->second);
      path_.pop();
    }
  }

  // Calls f(item) for each element of `arr`, inside its "[i]" path scope.
  template <class F>
  void for_each_item(dom::array arr, F&& f) {
    std::size_t i = 0;
    for (const dom::element item : arr) {
      FieldScope scope(path_, i++);
      f(item);
    }
  }

  FieldPath path_;
};

}  // namespace augur::trie::detail
