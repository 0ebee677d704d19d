// Redis connection URLs (`store.url`): parsed strictly so that a typo is a clear start-up error
// rather than a connection that silently goes somewhere else. No hiredis here: the config loader
// validates URLs with this without linking a client.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace augur {

// Where and how to connect. Either `unix_path` is set (unix://) or `host`/`port` are (redis://).
struct RedisEndpoint {
  std::string host;  // hostname, IPv4 address, or IPv6 address without brackets
  std::uint16_t port = 6379;
  std::string unix_path;
  std::string username;  // Redis 6 ACL user; empty = AUTH with the password alone
  std::string password;  // empty = no AUTH
  int db = 0;            // SELECT db when not 0

  // "host:port/db" or "unix:/path/db", without credentials: safe for logs and error messages.
  std::string describe() const;
};

// Accepts
//   redis://[[username]:password@]host[:port][/db]   (host: name, IPv4 or [IPv6]; port 1..65535,
//                                                     default 6379; db 0..2^31-1, default 0)
//   unix://[[username]:password@]/absolute/path[?db=N]
// User and password may be percent-encoded. Rejects, with a message saying what is wrong: other
// schemes (rediss:// because the hiredis 0.14 that augur links has no TLS), an empty host, a bad
// port or db, query strings other than unix's db, fragments, and stray characters. Thread-safe.
Result<RedisEndpoint> parse_redis_url(std::string_view url);

}  // namespace augur
