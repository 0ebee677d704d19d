// A client request's head as augur forwards it: method, target, version and the fields, each kept
// as its own "name: value\r\n" line in one arena the object owns and reuses across requests.
// Replaces Beast's basic_fields on the request path, which allocated a tree node per field and
// then had augur edit that tree (strip, set, erase) field by field; here an edit is a flag or an
// appended line, and the upstream head is a copy of the live lines.
#pragma once

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "proxy/http/http1_parser.hpp"

namespace augur::proxy {

// Case-insensitive ASCII comparison (only letters fold), for header names and token values such
// as "100-continue" or "true". Beast 1.81's iequals can read one byte past the end of its
// arguments, so augur uses this one.
// Inline: callers compare against many names, and most differ in length.
inline bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] | 0x20) : a[i];
    const char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] | 0x20) : b[i];
    if (x != y) return false;
  }
  return true;
}

// Views it returns (method_string, target, find, operator[], for_each's arguments) point into the
// arena: insert, set and target(t) may move it, so copy what must outlive the next edit.
class RequestHead {
 public:
  using field = boost::beast::http::field;
  using verb = boost::beast::http::verb;

  // Forgets the previous request, keeping the buffers' capacity (shrunk after a huge head).
  void clear();

  // The request line. `method` is the method text as sent (for verbs Beast does not know).
  void start(verb method, std::string_view method_text, std::string_view target, unsigned version);
  verb method() const { return method_; }
  std::string_view method_string() const { return slice(method_text_); }
  std::string_view target() const { return slice(target_); }
  void target(std::string_view t);  // replaces the target (e.g. an upstream's base path added)
  unsigned version() const { return version_; }  // the client's (upstream is always sent 1.1)

  // Appends a field; `id` must be what classify_field gives for `name` (the parser passes it):
  // field::unknown for the names augur never looks up by id. Lookups by an id classify_field does
  // not give compare names, so find(field::accept) still finds "Accept".
  void insert(field id, std::string_view name, std::string_view value);
  void insert(std::string_view name, std::string_view value);
  void insert(field id, std::string_view value);

  // Removes every field of that name, then appends one (basic_fields::set semantics). The
  // three-argument form skips the name classification: `id` must be what insert() requires.
  void set(std::string_view name, std::string_view value);
  void set(field id, std::string_view value);
  void set(field id, std::string_view name, std::string_view value);

  // Removes every field of that name; returns how many there were.
  std::size_t erase(std::string_view name);
  std::size_t erase(field id);

  // The first live field of that name (names compare case-insensitively), or nullopt.
  std::optional<std::string_view> find(std::string_view name) const;
  std::optional<std::string_view> find(field id) const;
  // find's value, or "" when absent.
  std::string_view operator[](std::string_view name) const { return find(name).value_or(""); }
  std::string_view operator[](field id) const { return find(id).value_or(""); }
  std::size_t count(std::string_view name) const;
  std::size_t count(field id) const;

  // Calls f(id, name, value) for each live field, in order (client fields first, then set ones).
  template <class F>
  void for_each(F&& f) const {
    for (const Field& x : fields_) {
      if (!x.removed) f(x.id, name_of(x), value_of(x));
    }
  }
  // Removes the live fields for which pred(id, name) (or pred(id, name, value)) is true; returns
  // how many.
  template <class Pred>
  std::size_t erase_if(Pred&& pred) {
    std::size_t n = 0;
    for (Field& x : fields_) {
      if (x.removed) continue;
      bool erase = false;
      if constexpr (std::is_invocable_v<Pred&, field, std::string_view, std::string_view>) {
        erase = pred(x.id, name_of(x), value_of(x));
      } else {
        erase = pred(x.id, name_of(x));
      }
      if (erase) {
        x.removed = true;
        ++n;
      }
    }
    return n;
  }

  // "METHOD TARGET HTTP/1.1\r\n", the live fields, "\r\n" into `out` (replacing its content).
  void serialize(std::string& out) const;

 private:
  struct Span {
    std::uint32_t offset = 0, length = 0;
  };
  // One "name: value\r\n" line in the arena.
  struct Field {
    field id;
    bool removed;
    std::uint32_t offset;  // of the line
    std::uint32_t name_length;
    std::uint32_t line_length;  // name ": " value "\r\n"
  };

  std::string_view slice(Span s) const { return {arena_.data() + s.offset, s.length}; }
  std::string_view name_of(const Field& f) const {
    return {arena_.data() + f.offset, f.name_length};
  }
  std::string_view value_of(const Field& f) const {
    return {arena_.data() + f.offset + f.name_length + 2, f.line_length - f.name_length - 4};
  }
  Span append(std::string_view s);
  bool matches(const Field& f, std::string_view name) const;

  // Bytes that only ever grow at the end until clear(): a std::string would zero-fill each
  // resize and check its capacity per append; a head takes ~16 field insertions per request.
  class Arena {
   public:
    const char* data() const { return bytes_.get(); }
    std::size_t size() const { return size_; }
    std::size_t capacity() const { return capacity_; }
    // n more bytes at the end, for the caller to fill (may move everything).
    char* extend(std::size_t n) {
      if (capacity_ - size_ < n) grow(n);
      char* p = bytes_.get() + size_;
      size_ += n;
      return p;
    }
    void clear(std::size_t keep_capacity);  // empty; memory released beyond keep_capacity

   private:
    void grow(std::size_t n);
    std::unique_ptr<char[]> bytes_;
    std::size_t size_ = 0, capacity_ = 0;
  };

  verb method_ = verb::unknown;
  Span method_text_, target_;
  unsigned version_ = 11;
  Arena arena_;
  std::vector<Field> fields_;
};

// The request parser (Http1Parser, Beast's basic_parser semantics) feeding a RequestHead and a
// body string, both owned by the connection and reused (Beast's request_parser<string_body>
// built a fresh field tree and body per request). Bounds: header_limit and body_limit. The
// constructor clears `head` and `body`. A body of declared length gets `body_slack` more bytes of
// capacity (room a JSON parser may read past the end).
class RequestParser final : public Http1Parser<true> {
 public:
  RequestParser(RequestHead& head, std::string& body, std::size_t body_slack = 0);

 private:
  void on_request(verb method, std::string_view method_text, std::string_view target,
                  int version) override;
  void on_field(field id, std::string_view name, std::string_view value) override;
  void on_body_init(const boost::optional<std::uint64_t>& length) override;
  std::size_t on_body(std::string_view data, boost::beast::error_code& ec) override;

  RequestHead& head_;
  std::string& body_;
  std::size_t body_slack_;
};

}  // namespace augur::proxy
