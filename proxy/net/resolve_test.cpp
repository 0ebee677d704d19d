// proxy::resolve: numeric addresses answered at once, host names looked up on a thread of their
// own and handed back to an io_context that runs without locks (augur's one-io-thread setup).
#include "proxy/net/resolve.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

namespace asio = boost::asio;
using augur::proxy::resolve;
using augur::proxy::Resolved;
using augur::proxy::Task;

namespace {

// Runs resolve(host, port) to completion on a lock-free io_context.
Resolved resolve_now(std::string host, std::uint16_t port) {
  asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE};
  std::optional<Resolved> out;
  asio::co_spawn(
      ioc, [&]() -> Task<void> { out = co_await resolve(host, port); }, asio::detached);
  ioc.run();
  REQUIRE(out);
  return *out;
}

}  // namespace

TEST_CASE("a numeric address is its own answer") {
  const Resolved v4 = resolve_now("127.0.0.1", 8080);
  CHECK_FALSE(v4.ec);
  REQUIRE(v4.endpoints.size() == 1);
  CHECK(v4.endpoints[0].address().to_string() == "127.0.0.1");
  CHECK(v4.endpoints[0].port() == 8080);

  const Resolved v6 = resolve_now("::1", 443);
  CHECK_FALSE(v6.ec);
  REQUIRE(v6.endpoints.size() == 1);
  CHECK(v6.endpoints[0].address().is_v6());
}

TEST_CASE("a host name is looked up off the io thread and answered on it") {
  // Asio's own async_resolve fails with operation_not_supported on this io_context.
  const Resolved r = resolve_now("localhost", 9000);
  CHECK_FALSE(r.ec);
  REQUIRE_FALSE(r.endpoints.empty());
  for (const auto& e : r.endpoints) {
    CAPTURE(e.address().to_string());
    CHECK(e.address().is_loopback());
    CHECK(e.port() == 9000);
  }
}

TEST_CASE("a name that does not exist is an error") {
  const Resolved r = resolve_now("no-such-host.invalid", 80);
  CHECK(r.ec);
  CHECK(r.endpoints.empty());
}

TEST_CASE("the io side may go away while the lookup runs") {
  {
    asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE};
    asio::co_spawn(
        ioc, []() -> Task<void> { co_await resolve("localhost", 80); }, asio::detached);
    ioc.poll();  // starts the lookup; usually suspends on its eventfd before the answer comes
  }              // a suspended coroutine is destroyed here, closing the io side's descriptor
  // The lookup thread still writes to its own descriptor and frees the shared state; the
  // sanitizer builds check that nothing it touches is gone.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
}
