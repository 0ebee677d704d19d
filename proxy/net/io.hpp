// The io types of the request path, bound to io_context's own executor. Asio's default executor,
// any_io_executor, is type-erased: each completion copies and destroys it and wraps the handler
// in an executor_function, work every socket operation would pay for (loadtest/README.md).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace augur::proxy {

using IoExecutor = boost::asio::io_context::executor_type;
using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, IoExecutor>;
using Timer = boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, IoExecutor>;
// A coroutine on an io thread.
template <class T>
using Task = boost::asio::awaitable<T, IoExecutor>;
// Completion token: `auto [ec, n] = co_await op(..., task_tuple);`. A deferred operation is
// awaited in place; use_awaitable would first run the initiation as a coroutine of its own, one
// more frame allocated and freed per socket operation.
inline constexpr auto task_tuple = boost::asio::as_tuple(boost::asio::deferred);

}  // namespace augur::proxy
