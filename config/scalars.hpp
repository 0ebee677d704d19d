// Parsers for the text of single config values: durations, byte sizes, counts, endpoints and
// upstream URLs. Internal to augur_config: each returns the value or a sentence saying what is
// wrong, which the YAML loader (config.cpp) wraps with file, line and key. Pure functions,
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace augur::config::detail {

// A parse result: `value` when good, otherwise `error` says why ("must not be negative").
template <class T>
struct Parsed {
  std::optional<T> value;
  std::string error;

  static Parsed ok(T v) { return Parsed{std::move(v), {}}; }
  static Parsed bad(std::string why) { return Parsed{std::nullopt, std::move(why)}; }
};

Parsed<Duration> duration(std::string_view text);
Parsed<std::size_t> size(std::string_view text);
Parsed<Endpoint> endpoint(std::string_view text);

// A non-negative decimal integer, digits only (no sign, no suffix).
Parsed<std::uint64_t> count(std::string_view text);
// A finite decimal number.
Parsed<double> number(std::string_view text);
// YAML's booleans as yaml-cpp reads them: true/false, yes/no, on/off, y/n (any case).
Parsed<bool> boolean(std::string_view text);

// The parts of an upstream URL: http(s)://host[:port][/base/path], no query or fragment.
struct Url {
  bool https = false;
  std::string host;  // IPv6 without brackets
  std::uint16_t port = 0;
  std::string base_path;  // "" or "/prefix" without a trailing slash
};
Parsed<Url> url(std::string_view text);

// `text` with each ${NAME} (NAME = [A-Za-z_][A-Za-z0-9_]*) replaced by lookup(NAME), textually,
// so a value can be put together from several ("redis://${HOST}:6379"). `$${` is a literal `${`;
// any other `$` stays as it is. An unset variable (lookup returns null), a `${` without its `}`
// and a bad name are errors. The result is not scanned again.
Parsed<std::string> expand_env(std::string_view text,
                               const std::function<const char*(const std::string&)>& lookup);

// The candidate closest to `word` by edit distance when it is close enough to be a likely typo
// ("conect" -> "connect"); empty otherwise.
std::string nearest(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace augur::config::detail
