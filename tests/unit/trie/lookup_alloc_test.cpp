// Proves lookup never allocates: this binary replaces the global operator new with a counting one
// and checks that the count does not move across many lookups (hits, misses and fallbacks).
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "learning/trie/lookup.hpp"
#include "trie_test_support.hpp"

namespace {
std::atomic<std::size_t> g_allocations{0};
}  // namespace

// GCC (at -O1 with sanitizers) takes the free() in the replacement deletes below for a mismatch
// with the replaced operator new: they are one pair, allocating with malloc.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
// The nothrow forms too (simdjson uses them): they pair with the plain deletes below.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return ::operator new(size, tag);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace augur::trie {

TEST_CASE("lookup performs no allocation") {
  const Trie trie = test::load_fixture(test::kNatGenerated);
  // Paths made up front: string_views into static strings, so building them is not counted.
  const std::vector<std::vector<std::string_view>> paths = {
      {"react_workflow", "react_agent"},
      {"react_workflow", "react_agent", "web_search"},
      {"react_agent", "web_search"},
      {"nope"},
      {},
  };
  const std::size_t before = g_allocations.load();
  std::size_t found = 0;
  for (int round = 0; round < 1000; ++round) {
    for (const auto& path : paths) {
      for (std::uint32_t index : {1u, 2u, 3u, 9u}) {
        if (const auto r = lookup(trie, path, index)) found += r->depth + 1;
      }
    }
  }
  const std::size_t after = g_allocations.load();
  CHECK(found > 0);
  CHECK(after == before);

  // The counter works: a std::string too long for the small-string buffer allocates.
  const std::size_t before_string = g_allocations.load();
  auto* volatile s = new std::string(100, 'x');
  CHECK(g_allocations.load() > before_string);
  delete s;
}

}  // namespace augur::trie
