// Merging a few members into a JSON object body without re-serialising it: a small scanner finds
// the object's members (keys compared decoded, so "nv\u0065xt" is "nvext"), augur's values
// replace same-named ones in place and the rest are appended, in one linear pass and one copy.
// Request bodies carry whole conversations (often hundreds of KB), so rewriting a few dozen bytes
// must not cost a parse and a print, and must not reformat what the client sent.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace augur::proxy {

// One member augur wants in an object: a JSON leaf, or a nested object merged recursively.
struct Member {
  std::string_view key;              // plain ASCII, written as it is
  std::string_view leaf;             // JSON text, when `object` is empty
  std::span<const Member> object{};  // members of a nested object
  bool is_object = false;
};

// Merges `member` into the top-level JSON object `body` (an object value merges member by member,
// at every level; a leaf replaces the value). `key_absent`: the caller knows the body has no key of
// that name (the parser saw every key), so the member goes before the closing brace without a
// scan. Returns false, leaving `body` untouched, when the body is not an object as expected. The
// body must be valid JSON (simdjson checked it); the scanner still checks every bound. Not
// thread-safe for the same body; uses per-thread scratch buffers.
bool merge_member(std::string& body, const Member& member, bool key_absent);

}  // namespace augur::proxy
