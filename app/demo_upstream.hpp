// The demo's upstream: the bundled mock OpenAI upstream on loopback, served from a thread of its
// own, so `augur` with no config answers at once. Only the app links the mock; no proxy library
// knows about it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <thread>

#include "config/config.hpp"

namespace augur::mock {
class MockUpstream;
}

namespace augur::app {

class DemoUpstream {
 public:
  // Binds an ephemeral loopback port and starts serving. Throws std::exception when it cannot.
  DemoUpstream();
  // Stops the mock and joins its thread.
  ~DemoUpstream();
  DemoUpstream(const DemoUpstream&) = delete;
  DemoUpstream& operator=(const DemoUpstream&) = delete;

  // The upstream entry that points at it: name "mock", the nat_headers hint format.
  config::Upstream upstream() const;

 private:
  boost::asio::io_context ioc_;
  std::unique_ptr<mock::MockUpstream> mock_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace augur::app
