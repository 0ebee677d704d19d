// A client connection: reads requests (with header/body limits and timeouts), forwards each to an
// upstream through this thread's pool, and streams the response back as it arrives.
#pragma once

#include "proxy/net/io.hpp"

namespace augur::proxy {

class Worker;

// Serves one accepted client connection until it closes. Never throws: every failure is answered
// (when a response can still be sent), counted, and ends the connection.
Task<void> serve_client(Socket socket, Worker& worker);

}  // namespace augur::proxy
