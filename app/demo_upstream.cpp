#include "app/demo_upstream.hpp"

#include <spdlog/spdlog.h>

#include <string>

#include "loadtest/mock/mock_upstream.hpp"

namespace augur::app {

DemoUpstream::DemoUpstream()
    : mock_(std::make_unique<mock::MockUpstream>(ioc_, mock::MockOptions{})),
      port_(mock_->bind("127.0.0.1", 0)) {
  mock_->start();
  thread_ = std::thread([this] { ioc_.run(); });
  spdlog::info("demo: serving the bundled mock upstream at http://127.0.0.1:{}", port_);
}

DemoUpstream::~DemoUpstream() {
  mock_->stop();
  ioc_.stop();
  if (thread_.joinable()) thread_.join();
}

config::Upstream DemoUpstream::upstream() const {
  config::Upstream u;
  u.name = "mock";
  u.url = "http://127.0.0.1:" + std::to_string(port_);
  u.host = "127.0.0.1";
  u.port = port_;
  u.hints = {config::HintFormat::nat_headers};
  return u;
}

}  // namespace augur::app
