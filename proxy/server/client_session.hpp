// One client connection, from accept to close, as a sequence of steps over one request at a time:
//   read the request (session.cpp)  ->  forward it: what it is, its prediction, the hints each
//   upstream is sent, the attempts at its upstreams (forward.cpp)  ->  exchange with one upstream:
//   send the request, read the response head, relay the body as it arrives (relay.cpp).
// A request's state lives in one RequestContext the steps pass along. Internal to proxy/server.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/context/request_info.hpp"
#include "proxy/hints/inject.hpp"
#include "proxy/http/http_errors.hpp"
#include "proxy/http/http_util.hpp"
#include "proxy/http/relay_parser.hpp"
#include "proxy/http/request_head.hpp"
#include "proxy/net/deadline.hpp"
#include "proxy/net/io.hpp"
#include "proxy/net/socket_read.hpp"
#include "proxy/observe/request_record.hpp"
#include "proxy/observe/response_meter.hpp"
#include "proxy/server/routing.hpp"
#include "proxy/server/upstream_pool.hpp"
#include "proxy/server/worker.hpp"

namespace augur::proxy {

// One request's state as it moves through the steps (Envoy's StreamInfo): what augur made of it,
// what it was told to do, and what happened, for metrics, the access log and learning. The head and
// body themselves are the connection's buffers (reused from request to request).
struct RequestContext {
  // The config, routing and trie this request uses: held until it is done, so a reload another
  // connection adopts meanwhile cannot release them.
  std::shared_ptr<const Runtime> rt;
  bool client_keep_alive = false;
  RequestInfo info;                // the body's facts
  bool llm_call = false;           // counted in a run, given hints, learned from
  bool end_run_at_answer = false;  // an inferred run: a final answer (no tool call) ends it
  // Where the call was remembered in the conversation table (its run was inferred); else null.
  std::shared_ptr<const ConversationTable::Place> place;
  Hints hints;                       // the prediction (LLM calls)
  bool inject_per_upstream = false;  // several candidates: each attempt writes its own formats
  std::string original_body;         // then the client's body, to start each attempt from
  Clock::time_point started{};       // the whole request read
  Clock::duration connect_time{};    // spent connecting upstream (not augur's overhead)
  // The upstream's response was whole, before its last bytes went to the client: the call's end
  // as the learner sees it. Taken before the write, so it precedes anything the client does
  // next (a stamp after the write could land after the client's next call had ended).
  Clock::time_point response_end{};
  RequestRecord record;  // what happened
  ResponseMeter meter;   // output tokens, read from the response as it passes
};

// How one attempt at an upstream ended.
enum class Attempt {
  done,            // a response (complete or cut short) went to the client
  stale,           // a reused connection was dead before any response byte: retry once
  connect_failed,  // could not connect: try another upstream
  failed,          // failed before any response byte; `error` says how to answer
  client_gone,     // the client went away; nothing more to send
};

struct AttemptResult {
  Attempt kind = Attempt::done;
  ProxyError error = ProxyError::upstream_refused;
  std::string message;
  bool client_keep_alive = false;
  bool upstream_reusable = false;
  bool truncated = false;  // done, but the upstream failed mid-response
};

// What is left to finish a response the upstream cut short (relay.cpp).
struct TruncatedRelay {
  bool event_stream = false;
  bool head_pending = false;  // no response byte went to the client yet
  bool client_keep_alive = false;
  bool stalled = false;  // the stream idle timeout fired (rather than the connection failing)
  ResponseFramer* framer = nullptr;
  SseTail* tail = nullptr;
};

// Watches the client socket while augur waits on the upstream, so a client that hangs up cancels
// the upstream request instead of leaving it generating tokens nobody reads. Armed lazily by the
// worker's tick once an exchange has waited a while (most exchanges end sooner). The state is
// shared with the wait handler, which may run after the session ended; `generation` makes late
// handlers harmless.
struct ClientWatch {
  bool active = false;
  bool gone = false;
  std::uint64_t generation = 0;
  Socket* upstream = nullptr;
};

// Why a request could not be read: the error to answer, or none (the client left, or was cut off
// by a drain).
struct ReadFailure {
  std::optional<ProxyError> error;
  std::string message;
};

class ClientSession final : public SessionLink {
 public:
  ClientSession(Socket socket, Worker& worker);

  void close_idle() override;
  void check_idle() override;
  void watch_client() override;

  // Serves the connection until it closes. Never throws for what a peer does.
  Task<void> run();

 private:
  // session.cpp: reading requests.
  void wait_for_request(const config::Limits& limits);
  void start_parse(RequestParser& parser, const config::Limits& limits);
  ReadFailure head_failure(const beast::error_code& ec) const;
  ReadFailure body_failure(const beast::error_code& ec) const;
  bool expects_continue() const;
  Task<bool> send_continue(const config::Limits& limits);
  Task<void> fail(const ReadFailure& failure, unsigned version);
  Task<void> send_error(ProxyError e, std::string_view message, unsigned version, bool keep_alive);
  void begin_request(bool client_keep_alive);
  void finish_request();

  // forward.cpp: one request, from what it is to how its attempts ended.
  Task<bool> forward();
  void describe(RequestContext& rc);
  void predict_call(RequestContext& rc);
  void prepare_injection(RequestContext& rc, std::span<const std::uint32_t> candidates);
  UpstreamHealth& begin_attempt(RequestContext& rc, const UpstreamTarget& target, std::size_t index,
                                std::size_t attempt);
  Task<std::unique_ptr<UpstreamConn>> connect(RequestContext& rc, ConnectionPool& pool,
                                              AttemptResult& last);
  bool conclude(RequestContext& rc, const AttemptResult& last);

  // relay.cpp: one exchange with one upstream connection.
  template <class Stream>
  Task<AttemptResult> exchange(Stream& up, UpstreamConn& conn, RequestContext& rc,
                               const config::UpstreamTimeouts& timeouts);
  Task<bool> write_to_client(const ResponseFramer::Buffers& buffers);
  Task<AttemptResult> end_truncated(const TruncatedRelay& cut);
  void begin_exchange(Socket& upstream);
  void end_exchange();
  void unwatch_client();

  // The config of the request being handled (held in rc_.rt until the next one starts).
  const config::Config& cfg() const { return *rc_.rt->config; }

  Worker& worker_;
  Socket socket_;
  Deadline deadline_;
  SocketReader reader_;
  std::string head_buf_;  // serialised heads, reused across requests
  RelayResponseParser::Scratch relay_scratch_;
  beast::flat_buffer buffer_;
  // The request being handled: its head and body, buffers reused across the connection's requests.
  RequestHead head_;
  std::string body_;
  std::string remote_;
  std::shared_ptr<ClientWatch> watch_;
  // A member rather than a coroutine local, so run()'s frame stays small.
  RequestContext rc_;
};

}  // namespace augur::proxy
