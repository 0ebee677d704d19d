#include "learning/trie/field_path.hpp"

#include "common/json_string.hpp"
#include "learning/trie/json_text.hpp"
#include "learning/trie/trie.hpp"

namespace augur::trie {

namespace {
bool is_plain(std::string_view key) {
  if (key.empty()) return false;
  for (const char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}
}  // namespace

std::string FieldPath::str() const {
  if (segs_.empty()) return "(document)";
  std::string out;
  for (const Seg& seg : segs_) {
    if (seg.kind == Kind::index) {
      out += '[';
      json_text::append_uint(out, seg.index);
      out += ']';
      continue;
    }
    if (!out.empty()) out += '.';
    if (seg.kind == Kind::key && is_plain(seg.key)) {
      out += seg.key;
    } else {
      append_json_string(out, seg.key);
    }
  }
  return out;
}

void FieldPath::fail(std::string_view what) const {
  std::string message = prefix;
  message += str();
  message += ": ";
  message += what;
  throw TrieError(message);
}

}  // namespace augur::trie
