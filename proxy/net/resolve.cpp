#include "proxy/net/resolve.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>
#include <boost/asio/this_coro.hpp>
#include <memory>
#include <thread>

namespace augur::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// What the lookup thread fills in; shared, so whichever side finishes last frees it (a drain may
// destroy the waiting coroutine first).
struct Lookup {
  std::string host, port;
  Resolved result;
  std::atomic<bool> done{false};
};

void run_lookup(const std::shared_ptr<Lookup>& lookup, int notify_fd) {
  asio::io_context scratch;  // the synchronous resolver needs an execution context; it never runs
  tcp::resolver resolver(scratch);
  boost::system::error_code ec;
  const auto results = resolver.resolve(lookup->host, lookup->port, ec);
  lookup->result.ec = ec;
  for (const auto& r : results) lookup->result.endpoints.push_back(r.endpoint());
  lookup->done.store(true, std::memory_order_release);
  const std::uint64_t one = 1;
  // An eventfd write cannot block (the counter is far from overflowing) nor raise SIGPIPE.
  [[maybe_unused]] const auto n = ::write(notify_fd, &one, sizeof one);
  ::close(notify_fd);
}

}  // namespace

Task<Resolved> resolve(std::string host, std::uint16_t port) {
  Resolved out;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (!ec) {
    out.endpoints.emplace_back(address, port);
    co_return out;
  }

  const int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) {
    out.ec = boost::system::error_code(errno, boost::system::system_category());
    co_return out;
  }
  // The thread writes to its own descriptor of the same eventfd: the io side may close its one
  // (a destroyed coroutine) while the lookup is still running.
  const int thread_fd = ::dup(efd);
  if (thread_fd < 0) {
    out.ec = boost::system::error_code(errno, boost::system::system_category());
    ::close(efd);
    co_return out;
  }
  asio::posix::basic_stream_descriptor<IoExecutor> wake(co_await asio::this_coro::executor, efd);

  auto lookup = std::make_shared<Lookup>();
  lookup->host = std::move(host);
  lookup->port = std::to_string(port);
  try {
    std::thread(run_lookup, lookup, thread_fd).detach();
  } catch (const std::system_error& e) {
    ::close(thread_fd);
    out.ec = e.code();
    co_return out;
  }

  std::uint64_t count = 0;
  auto [rec, n] = co_await wake.async_read_some(asio::buffer(&count, sizeof count), task_tuple);
  if (rec) {
    out.ec = rec;
    co_return out;
  }
  // Pairs with the thread's release store, made before its eventfd write.
  (void)lookup->done.load(std::memory_order_acquire);
  co_return std::move(lookup->result);
}

}  // namespace augur::proxy
