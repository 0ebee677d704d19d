// JSON string literals, written the same way by everything augur emits (trie files, run records,
// hint bodies, error bodies, access log lines, stats, the mock's responses): ASCII only, as
// Python's json.dumps writes them by default, so NAT reads byte-identical files and every line is
// valid UTF-8 whatever bytes a client sent.
#pragma once

#include <string>
#include <string_view>

namespace augur {

// Appends `s` as a JSON string: '"' and '\\' escaped, \b \f \n \r \t as such, other controls and
// DEL as \u00XX, non-ASCII as \uXXXX (surrogate pairs above the BMP), and every byte of invalid
// UTF-8 as \ufffd. Thread-safe.
void append_json_string(std::string& out, std::string_view s);

// The same without the surrounding quotes: for text built up piece by piece inside one string.
void append_json_chars(std::string& out, std::string_view s);

}  // namespace augur
