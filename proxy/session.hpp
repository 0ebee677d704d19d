// A client connection: reads requests (with header/body limits and timeouts), forwards each to an
// upstream through this thread's pool, and streams the response back as it arrives.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace augur::proxy {

class Worker;

// Serves one accepted client connection until it closes. Never throws: every failure is answered
// (when a response can still be sent), counted, and ends the connection.
boost::asio::awaitable<void> serve_client(boost::asio::ip::tcp::socket socket, Worker& worker);

}  // namespace augur::proxy
