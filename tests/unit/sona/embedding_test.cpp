// The call embedding: deterministic unit vectors in which a renamed function lands near the
// original and far from other functions.
#include "learning/sona/embedding.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "learning/sona/vec.hpp"

using namespace augur::sona;

namespace {

Embedding embed(std::vector<std::string> path, std::uint32_t index) {
  CallFeatures f;
  f.path = path;
  f.call_index = index;
  f.model = "llama";
  f.message_count = 4;
  f.request_bytes = 1200;
  return embed_call(f, 256);
}

}  // namespace

TEST_CASE("name pieces split separators, camel case and digits") {
  CHECK(name_pieces("WebSearch_v2") == std::vector<std::string>{"web", "search", "v", "2"});
  CHECK(name_pieces("web-search.tool") == std::vector<std::string>{"web", "search", "tool"});
  CHECK(name_pieces("").empty());
}

TEST_CASE("embeddings are deterministic unit vectors") {
  const Embedding a = embed({"agent", "web_search"}, 2);
  const Embedding b = embed({"agent", "web_search"}, 2);
  CHECK(a.values == b.values);
  CHECK(std::sqrt(dot(a.values, a.values)) == doctest::Approx(1.0).epsilon(1e-5));
  const Embedding root = embed({}, 1);
  CHECK(std::sqrt(dot(root.values, root.values)) == doctest::Approx(1.0).epsilon(1e-5));
}

TEST_CASE("a renamed function lands nearer its original than any other function") {
  const Embedding web = embed({"research", "web_search"}, 1);
  const Embedding web_tool = embed({"research", "web_search_tool"}, 1);
  const Embedding summarize = embed({"research", "summarize"}, 1);
  const Embedding web_later = embed({"research", "web_search"}, 5);
  CHECK(cosine(web.values, web_tool.values) > 0.7f);
  CHECK(cosine(web.values, web_tool.values) > cosine(web.values, summarize.values) + 0.2f);
  CHECK(cosine(web_tool.values, summarize.values) < cosine(web_tool.values, web.values));
  // The call index matters: the same function at another index is a different context.
  CHECK(cosine(web.values, web_later.values) < 0.8f);
  const Embedding web2 = embed({"research", "web_search"}, 2);
  CHECK(cosine(web.values, web2.values) > cosine(web.values, web_later.values));
}

TEST_CASE("a path embeds the same on its first call, on later calls and on any thread") {
  // More (path, call index) pairs than a thread keeps, so the kept ones are also dropped and
  // computed again; every answer must equal the one a thread that never saw the path gives.
  std::vector<std::vector<std::string>> paths;
  paths.reserve(1501);
  for (int i = 0; i < 1500; ++i)
    paths.push_back({"workflow" + std::to_string(i % 7), "agent_" + std::to_string(i), "tool"});
  paths.push_back({"ab", "c"});
  paths.push_back({"a", "bc"});
  auto embed_all = [&] {
    std::vector<std::vector<float>> out;
    for (const auto& p : paths)
      for (std::uint32_t index : {1u, 2u, 3u}) out.push_back(embed(p, index).values);
    return out;
  };
  const auto first = embed_all();
  const auto again = embed_all();
  std::vector<std::vector<float>> fresh;
  std::thread([&] { fresh = embed_all(); }).join();
  CHECK(first == again);
  CHECK(first == fresh);
  // Names are told apart, not just concatenated.
  CHECK(embed({"ab", "c"}, 1).values != embed({"a", "bc"}, 1).values);
}
