// parse_redis_url: what `store.url` accepts, and that every rejection says what is wrong.
#include "common/redis_url.hpp"

#include <doctest/doctest.h>

#include "learning/store/redis_store.hpp"

namespace augur::store {
namespace {

RedisEndpoint ok(std::string_view url) {
  Result<RedisEndpoint> r = parse_redis_url(url);
  INFO(url);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error()));
  return *r;
}

std::string error_of(std::string_view url) {
  Result<RedisEndpoint> r = parse_redis_url(url);
  INFO(url);
  REQUIRE(!r.ok());
  CHECK(r.error().find(std::string(url)) != std::string::npos);  // the message names the URL
  return r.error();
}

bool says(const std::string& message, std::string_view what) {
  return message.find(what) != std::string::npos;
}

}  // namespace

TEST_CASE("redis URLs that parse") {
  RedisEndpoint ep = ok("redis://127.0.0.1:6379");
  CHECK(ep.host == "127.0.0.1");
  CHECK(ep.port == 6379);
  CHECK(ep.db == 0);
  CHECK(ep.password.empty());
  CHECK(ep.describe() == "127.0.0.1:6379");

  ep = ok("redis://redis");
  CHECK(ep.host == "redis");
  CHECK(ep.port == 6379);

  ep = ok("redis://:s3cr%40t@cache.internal:7000/3");
  CHECK(ep.host == "cache.internal");
  CHECK(ep.port == 7000);
  CHECK(ep.db == 3);
  CHECK(ep.username.empty());
  CHECK(ep.password == "s3cr@t");
  CHECK(ep.describe() == "cache.internal:7000/3");  // no credentials in logs

  ep = ok("redis://augur:p:w@h/");
  CHECK(ep.username == "augur");
  CHECK(ep.password == "p:w");
  CHECK(ep.db == 0);

  ep = ok("redis://[::1]:6380");
  CHECK(ep.host == "::1");
  CHECK(ep.port == 6380);
  CHECK(ep.describe() == "[::1]:6380");

  ep = ok("unix:///run/redis/redis.sock");
  CHECK(ep.unix_path == "/run/redis/redis.sock");
  CHECK(ep.host.empty());

  ep = ok("unix://:pw@/tmp/r.sock?db=2");
  CHECK(ep.unix_path == "/tmp/r.sock");
  CHECK(ep.password == "pw");
  CHECK(ep.db == 2);
}

TEST_CASE("redis URLs that are rejected, with the reason") {
  CHECK(says(error_of("rediss://h:6379"), "TLS"));
  CHECK(says(error_of("http://h:6379"), "expected redis://"));
  CHECK(says(error_of("127.0.0.1:6379"), "expected redis://"));
  CHECK(says(error_of("redis://"), "missing host"));
  CHECK(says(error_of("redis://:6379"), "missing host"));
  CHECK(says(error_of("redis://h:0"), "port must be 1..65535"));
  CHECK(says(error_of("redis://h:65536"), "port must be 1..65535"));
  CHECK(says(error_of("redis://h:63x9"), "port must be 1..65535"));
  CHECK(says(error_of("redis://h:"), "empty port"));
  CHECK(says(error_of("redis://h/x"), "database must be a number"));
  CHECK(says(error_of("redis://h/-1"), "database must be a number"));
  CHECK(says(error_of("redis://h/1/2"), "database must be a number"));
  CHECK(says(error_of("redis://h?db=1"), "query"));
  CHECK(says(error_of("redis://h#x"), "fragment"));
  CHECK(says(error_of("redis://h o"), "spaces"));
  CHECK(says(error_of("redis://secret@h"), "credentials"));
  CHECK(says(error_of("redis://:@h"), "empty password"));
  CHECK(says(error_of("redis://:%zz@h"), "percent-encoding"));
  CHECK(says(error_of("redis://h!st"), "bad host"));
  CHECK(says(error_of("redis://[::1"), "unclosed"));
  CHECK(says(error_of("unix://relative.sock"), "three slashes"));
  CHECK(says(error_of("unix:///"), "missing socket path"));
  CHECK(says(error_of("unix:///tmp/r.sock?x=1"), "db=N"));
}

TEST_CASE("key names follow DESIGN.md") {
  const RedisKeys k("augur:", "prod");
  CHECK(k.acc("r1") == "augur:prod:acc:r1");
  CHECK(k.acc_pattern == "augur:prod:acc:*");
  CHECK(k.trie == "augur:prod:trie");
  CHECK(k.version == "augur:prod:trie:version");
  CHECK(k.updates == "augur:prod:trie:updates");
  CHECK(k.lock == "augur:prod:lock:rebuild");
  CHECK(k.runs == "augur:prod:runs");
  // Glob characters in the prefix or namespace match only themselves.
  CHECK(RedisKeys("a*", "n?[x]").acc_pattern == "a\\*n\\?\\[x\\]:acc:*");
}

TEST_CASE("a store with a bad URL is a start-up error, not a network one") {
  RedisOptions o;
  o.url = "redis://h:99999";
  CHECK_THROWS_AS(RedisStore{o}, std::invalid_argument);
  CHECK_THROWS_AS(TrieSubscriber(o, [](std::uint64_t) {}), std::invalid_argument);
  o.url = "redis://127.0.0.1:1";
  o.ns = "";
  CHECK_THROWS_AS(RedisStore{o}, std::invalid_argument);
  CHECK_THROWS_AS(TrieSubscriber(o, [](std::uint64_t) {}), std::invalid_argument);
}

}  // namespace augur::store
