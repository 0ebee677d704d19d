// Host name resolution for an io thread whose io_context runs without locks (one io thread:
// BOOST_ASIO_CONCURRENCY_HINT_UNSAFE), where Asio's own async_resolve is unsupported: it finishes
// on a private thread and posts back into the scheduler. Here getaddrinfo runs on a short-lived
// thread of its own and hands its answer back through an eventfd the io thread waits on, so only
// the io thread ever touches its io_context.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/net/io.hpp"

namespace augur::proxy {

struct Resolved {
  boost::system::error_code ec;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;
};

// The addresses of host:port. A numeric address (IPv4, IPv6) is answered at once, without a
// thread. Resolution is bounded by the system resolver's own timeouts, as Asio's is.
Task<Resolved> resolve(std::string host, std::uint16_t port);

}  // namespace augur::proxy
