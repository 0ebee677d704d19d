// Text helpers shared by this component's JSON writers: numbers spelled exactly as Python's
// json.dump spells them, so files augur writes are byte-for-byte what NAT would write (strings:
// common/json_string.hpp, which writes them the same way).
// Internal to learning/trie; pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace augur::trie::json_text {

// Appends repr(float) as Python prints it: the shortest digits that read back to the same double,
// "3.0" for integral values, exponent form ("1e-05", "1e+16") outside 1e-4 <= |v| < 1e16.
// `v` must be finite (JSON has no NaN/Infinity); a non-finite value is written as `null`.
void append_double(std::string& out, double v);

// Appends an integer in decimal.
void append_int(std::string& out, long long v);
void append_uint(std::string& out, unsigned long long v);

// Appends the integer, or `null` when it is absent.
void append_int_or_null(std::string& out, std::optional<long long> v);
void append_uint_or_null(std::string& out, std::optional<unsigned long long> v);

// Appends a newline plus `level` x 2 spaces: json.dump(indent=2) layout.
void newline_indent(std::string& out, int level);

}  // namespace augur::trie::json_text
