// Socket reads that remember when they drained the socket, as nginx's do. Asio tries every read
// at once (a "speculative" recv) before it waits for epoll, so a read issued before the peer has
// answered costs a recv that fails with EAGAIN: about two per proxied request (the next request
// from the client, the response from the upstream). A read here that gets less than it asked for
// tells Asio's reactor the socket is empty, and the next read waits for epoll's next edge without
// trying first. Linux with Boost 1.81's epoll reactor only; elsewhere these are Asio's own reads.
#pragma once

#include <sys/socket.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/detail/config.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <boost/version.hpp>
#include <cerrno>
#include <cstddef>

#include "proxy/net/io.hpp"

#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define AUGUR_DRAIN_AWARE_READS 1
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/memory.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#else
#define AUGUR_DRAIN_AWARE_READS 0
#endif

namespace augur::proxy {

// How a read may begin.
enum class ReadStart {
  // Wait for epoll when an earlier read of ours drained the socket and no readiness event came
  // since. Only for a read whose bytes the peer sends in answer to something augur has just
  // sent: a response, after its request went out. A peer that closed meanwhile answers that with
  // a reset, which epoll reports. (The one thing epoll cannot report again is an end of stream
  // that arrived together with the bytes of the read that drained the socket.)
  answer,
  // Try a recv first, as Asio's own reads do. For every other read: end of stream and bytes a
  // peer sent unprompted (a pipelined request, a client's half-close) are found at once.
  check,
};

#if AUGUR_DRAIN_AWARE_READS

namespace socket_read_detail {

namespace detail = boost::asio::detail;
using boost::system::error_code;

// Reaches basic_socket's implementation (a protected member) without a cast to a type the socket
// is not: naming the member through a derived class yields a pointer to the base's member.
struct SocketAccess : Socket {
  static auto impl() { return &SocketAccess::impl_; }
};

// One recv into `buffer`: done_and_exhausted when it got less than it asked for (the socket is
// empty now), or at end of stream (Asio's own rule), not_done on EAGAIN.
inline detail::reactor_op::status recv_once(int fd, boost::asio::mutable_buffer buffer,
                                            error_code& ec, std::size_t& n) {
  for (;;) {
    const ssize_t r = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (r > 0) {
      ec = {};
      n = static_cast<std::size_t>(r);
      return n < buffer.size() ? detail::reactor_op::done_and_exhausted : detail::reactor_op::done;
    }
    if (r == 0) {
      ec = boost::asio::error::eof;
      n = 0;
      return detail::reactor_op::done_and_exhausted;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return detail::reactor_op::not_done;
    ec = error_code(errno, boost::asio::error::get_system_category());
    n = 0;
    return detail::reactor_op::done;
  }
}

// Asio's reactive_socket_recv_op for one buffer, with recv_once as its perform step.
template <class Handler>
class ReadOp : public detail::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(ReadOp);

  ReadOp(int fd, boost::asio::mutable_buffer buffer, Handler& handler, const IoExecutor& ex)
      : detail::reactor_op(error_code(), &ReadOp::do_perform, &ReadOp::do_complete),
        fd_(fd),
        buffer_(buffer),
        handler_(std::move(handler)),
        work_(handler_, ex) {}

  static status do_perform(detail::reactor_op* base) {
    auto* o = static_cast<ReadOp*>(base);
    return recv_once(o->fd_, o->buffer_, o->ec_, o->bytes_transferred_);
  }

  static void do_complete(void* owner, detail::operation* base, const error_code&, std::size_t) {
    auto* o = static_cast<ReadOp*>(base);
    ptr p = {detail::addressof(o->handler_), o, o};
    detail::handler_work<Handler, IoExecutor> w(std::move(o->work_));
    // The handler is moved out before the operation's memory is freed (it may own that memory).
    detail::binder2<Handler, error_code, std::size_t> handler(o->handler_, o->ec_,
                                                              o->bytes_transferred_);
    p.h = detail::addressof(handler.handler_);
    p.reset();
    if (owner) {
      detail::fenced_block b(detail::fenced_block::half);
      w.complete(handler, handler.handler_);
    }
  }

 private:
  int fd_;
  boost::asio::mutable_buffer buffer_;
  Handler handler_;
  detail::handler_work<Handler, IoExecutor> work_;
};

// Per-operation cancellation (a cancellation slot bound to the handler), as Asio's reads have.
class Cancellation {
 public:
  Cancellation(detail::reactor& reactor, detail::reactor::per_descriptor_data& data, int fd)
      : reactor_(reactor), data_(data), fd_(fd) {}
  void operator()(boost::asio::cancellation_type_t type) {
    using boost::asio::cancellation_type;
    if (!!(type &
           (cancellation_type::terminal | cancellation_type::partial | cancellation_type::total))) {
      reactor_.cancel_ops_by_key(fd_, data_, detail::reactor::read_op, this);
    }
  }

 private:
  detail::reactor& reactor_;
  detail::reactor::per_descriptor_data& data_;
  int fd_;
};

struct Initiation {
  template <class Handler>
  void operator()(Handler&& handler, detail::reactor* reactor_ptr, Socket* socket,
                  boost::asio::mutable_buffer buffer, ReadStart start) const {
    auto& reactor = *reactor_ptr;
    auto& impl = ((*socket).*SocketAccess::impl()).get_implementation();
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    using Op = ReadOp<std::decay_t<Handler>>;
    typename Op::ptr p = {detail::addressof(handler), Op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) Op(impl.socket_, buffer, handler, socket->get_executor());
    // As Asio's reads: nothing to read completes at once; the descriptor is made non-blocking
    // first (an error, a closed socket's included, completes the read).
    const bool nothing_to_do =
        buffer.size() == 0 ||
        (!(impl.state_ & detail::socket_ops::non_blocking) &&
         !detail::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, p.p->ec_));
    // In check mode, a recv of our own first: the reactor may believe the socket empty while
    // an end of stream waits in it. Done here, the read completes as Asio's speculative one would.
    if (nothing_to_do || (start == ReadStart::check &&
                          recv_once(impl.socket_, buffer, p.p->ec_, p.p->bytes_transferred_) !=
                              detail::reactor_op::not_done)) {
      reactor.post_immediate_completion(p.p, is_continuation);
      p.v = p.p = nullptr;
      return;
    }
    if (slot.is_connected()) {
      p.p->cancellation_key_ =
          &slot.template emplace<Cancellation>(reactor, impl.reactor_data_, impl.socket_);
    }
    // Speculative unless a read of ours drained the socket and nothing has arrived since.
    reactor.start_op(detail::reactor::read_op, impl.socket_, impl.reactor_data_, p.p,
                     is_continuation, true);
    p.v = p.p = nullptr;
  }
};

}  // namespace socket_read_detail

// Reads plain sockets of one io_context. Made once per connection: finding the reactor takes the
// service registry's mutex.
class SocketReader {
 public:
  explicit SocketReader(boost::asio::execution_context& context)
      : reactor_(&boost::asio::use_service<socket_read_detail::detail::reactor>(context)) {}

  // Reads some bytes into `buffer` (not empty) like socket.async_read_some: completes with
  // (error_code, bytes), eof at end of stream; cancelled by socket.cancel(), close() and a bound
  // cancellation slot. Thread safety as Asio's own reads. Once a socket has been read with this,
  // read it only with this: Asio's own reads trust the reactor's record the way `answer` does.
  template <class Token>
  auto read(Socket& socket, boost::asio::mutable_buffer buffer, ReadStart start,
            Token&& token) const {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        socket_read_detail::Initiation{}, token, reactor_, &socket, buffer, start);
  }

 private:
  socket_read_detail::detail::reactor* reactor_;
};

#else

class SocketReader {
 public:
  explicit SocketReader(boost::asio::execution_context&) {}
  template <class Token>
  auto read(Socket& socket, boost::asio::mutable_buffer buffer, ReadStart, Token&& token) const {
    return socket.async_read_some(buffer, std::forward<Token>(token));
  }
};

#endif

}  // namespace augur::proxy
