// `augur trie export`: the published trie written out as NAT JSON, and the clear errors for a
// corrupt trie, no trie, and no server.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/trie_cli.hpp"
#include "learning/store/redis_store.hpp"
#include "learning/trie/nat_json.hpp"
#include "tests/unit/store/redis_server.hpp"

namespace augur::trie {
namespace {

using store::testing::RawClient;
using store::testing::RedisServer;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct TempDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("augur_trie_export_test_" + std::to_string(getpid()));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("trie export writes the published trie, and refuses a corrupt one") {
  RedisServer server;
  TempDir dir;
  const TrieExportSource source{server.url(), "prod", "augur:"};
  const std::string nat =
      read_file(std::filesystem::path(AUGUR_TRIE_TEST_DATA) / "nat_generated_prediction_trie.json");
  REQUIRE_FALSE(nat.empty());
  const std::filesystem::path out_file = dir.path / "exported.json";

  SUBCASE("nothing published") {
    std::ostringstream out, err;
    CHECK(trie_export(source, out_file, out, err) == kExitNotFound);
    CHECK(err.str().find("no trie published at augur:prod:trie") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(out_file));
  }

  SUBCASE("a good trie, to a file and to stdout") {
    store::RedisOptions o;
    o.url = server.url();
    o.ns = "prod";
    store::RedisStore redis(o);
    REQUIRE(redis.publish_trie(nat).ok());
    REQUIRE(redis.publish_trie(nat).ok());

    std::ostringstream out, err;
    REQUIRE(trie_export(source, out_file, out, err) == kExitOk);
    CHECK(err.str().empty());
    CHECK(out.str().find("version 2") != std::string::npos);
    // NAT wrote this file with json.dump(indent=2); the export is that same text.
    CHECK(read_file(out_file) == nat);

    std::ostringstream out2, err2;
    REQUIRE(trie_export(source, "-", out2, err2) == kExitOk);
    CHECK(out2.str() == nat + "\n");
    CHECK(err2.str().find("wrote stdout: version 2") != std::string::npos);
  }

  SUBCASE("a corrupt trie is an error and nothing is written") {
    RawClient raw(server.port());
    raw.run({"SET", "augur:prod:trie", R"({"version": "1.0", "root": {"children": 7}})"});
    raw.run({"SET", "augur:prod:trie:version", "5"});
    std::ostringstream out, err;
    CHECK(trie_export(source, out_file, out, err) == kExitError);
    CHECK(err.str().find("augur:prod:trie (version 5) is corrupt") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(out_file));
  }

  SUBCASE("another key prefix") {
    RawClient raw(server.port());
    raw.run({"SET", "p/prod:trie", nat});
    std::ostringstream out, err;
    CHECK(trie_export({server.url(), "prod", "p/"}, out_file, out, err) == kExitOk);
    CHECK(read_file(out_file) == nat);
  }
}

TEST_CASE("trie export without a server or with a bad URL fails clearly") {
  std::ostringstream out, err;
  const std::string url = "redis://127.0.0.1:" + std::to_string(store::testing::free_port());
  CHECK(trie_export({url, "prod", "augur:"}, "-", out, err) == kExitError);
  CHECK(err.str().find("Connection refused") != std::string::npos);
  CHECK(out.str().empty());

  std::ostringstream out2, err2;
  CHECK(trie_export({"redis://h:0", "prod", "augur:"}, "-", out2, err2) == kExitError);
  CHECK(err2.str().find("port must be 1..65535") != std::string::npos);
}

}  // namespace augur::trie
