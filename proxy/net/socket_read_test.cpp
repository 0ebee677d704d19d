// proxy::SocketReader on a real loopback TCP connection: bytes and end of stream as Asio's reads
// give them, cancellation, and the one case `answer` reads cannot see (a close that came in with
// the bytes that drained the socket), which `check` reads find.
#include "proxy/net/socket_read.hpp"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <optional>
#include <string>

namespace asio = boost::asio;
using augur::proxy::ReadStart;
using augur::proxy::Socket;
using augur::proxy::SocketReader;
using augur::proxy::Task;
using augur::proxy::task_tuple;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {

// A connected pair on loopback: `ours` is read through a SocketReader, `peer` is written to with
// blocking calls.
struct Connection {
  asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE};
  Socket ours{ioc};
  tcp::socket peer{ioc};
  SocketReader reader{ioc};

  Connection() {
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    peer.connect(acceptor.local_endpoint());
    acceptor.accept(ours);
  }

  // The peer's next bytes leave together with its FIN, in one segment.
  void send_with_close(std::string_view bytes) {
    const int one = 1;
    REQUIRE(::setsockopt(peer.native_handle(), IPPROTO_TCP, TCP_CORK, &one, sizeof one) == 0);
    asio::write(peer, asio::buffer(bytes));
    peer.shutdown(tcp::socket::shutdown_send);
  }
};

struct ReadResult {
  error_code ec;
  std::string bytes;
};

// Starts one read; `out` is set when it completes.
void start_read(Connection& c, ReadStart start, std::optional<ReadResult>& out) {
  asio::co_spawn(
      c.ioc,
      [&c, start, &out]() -> Task<void> {
        std::array<char, 256> buf{};
        auto [ec, n] = co_await c.reader.read(c.ours, asio::buffer(buf), start, task_tuple);
        out = ReadResult{ec, std::string(buf.data(), n)};
      },
      asio::detached);
}

// Runs the io_context until `out` is set, or `limit` passes.
void run_until(Connection& c, const std::optional<ReadResult>& out,
               std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!out && std::chrono::steady_clock::now() < end) {
    c.ioc.restart();
    c.ioc.run_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

TEST_CASE("reads give the peer's bytes, then end of stream, in either mode") {
  for (const ReadStart start : {ReadStart::answer, ReadStart::check}) {
    Connection c;
    asio::write(c.peer, asio::buffer(std::string_view("hello")));
    std::optional<ReadResult> first;
    start_read(c, start, first);
    run_until(c, first, std::chrono::seconds(10));
    REQUIRE(first);
    CHECK_FALSE(first->ec);
    CHECK(first->bytes == "hello");

    c.peer.close();
    std::optional<ReadResult> second;
    start_read(c, start, second);
    run_until(c, second, std::chrono::seconds(10));
    REQUIRE(second);
    CHECK(second->ec == asio::error::eof);
    CHECK(second->bytes.empty());
  }
}

TEST_CASE("a read that waits for bytes completes when they arrive, or aborts when cancelled") {
  Connection c;
  std::optional<ReadResult> waiting;
  start_read(c, ReadStart::answer, waiting);
  run_until(c, waiting, std::chrono::milliseconds(50));
  CHECK_FALSE(waiting);  // nothing sent yet
  asio::write(c.peer, asio::buffer(std::string_view("late")));
  run_until(c, waiting, std::chrono::seconds(10));
  REQUIRE(waiting);
  CHECK(waiting->bytes == "late");

  std::optional<ReadResult> cancelled;
  start_read(c, ReadStart::answer, cancelled);
  run_until(c, cancelled, std::chrono::milliseconds(50));
  CHECK_FALSE(cancelled);
  c.ours.cancel();
  run_until(c, cancelled, std::chrono::seconds(10));
  REQUIRE(cancelled);
  CHECK(cancelled->ec == asio::error::operation_aborted);
}

TEST_CASE("a close that came with the draining bytes: check reads find it, answer reads wait") {
  Connection c;
  // The read waits first, so the segment's one readiness event is spent on it.
  std::optional<ReadResult> drained;
  start_read(c, ReadStart::answer, drained);
  run_until(c, drained, std::chrono::milliseconds(50));
  REQUIRE_FALSE(drained);
  c.send_with_close("last");
  run_until(c, drained, std::chrono::seconds(10));
  REQUIRE(drained);
  CHECK(drained->bytes == "last");

  // No event will come for the FIN: an answer read waits (augur only issues those where the
  // peer must send something new, or, for a client's half-close, looks once per tick)...
  std::optional<ReadResult> answer;
  start_read(c, ReadStart::answer, answer);
  run_until(c, answer, std::chrono::milliseconds(200));
  CHECK_FALSE(answer);
  c.ours.cancel();
  run_until(c, answer, std::chrono::seconds(10));
  REQUIRE(answer);
  CHECK(answer->ec == asio::error::operation_aborted);

  // ... and a check read finds the end of stream at once.
  std::optional<ReadResult> check;
  start_read(c, ReadStart::check, check);
  run_until(c, check, std::chrono::seconds(10));
  REQUIRE(check);
  CHECK(check->ec == asio::error::eof);
}
