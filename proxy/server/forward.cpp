// One request, from what it is to how it ended: describe it (its body's facts, whether it is an LLM
// call), predict it (its run, path and call index, the trie's and SONA's answer), prepare the hints
// each upstream is sent, then attempt its upstreams in routing order until one answers (relay.cpp
// does each exchange), and conclude: the record's outcome, and an error response if none answered.
#include <boost/beast/http/write.hpp>

#include "proxy/hints/predict.hpp"
#include "proxy/server/client_session.hpp"
#include "proxy/server/server.hpp"
#include "proxy/server/session_io.hpp"

namespace augur::proxy {

using namespace session_io;

namespace {

// An upstream that refused a connection is skipped this long (Envoy's "no healthy upstream").
constexpr auto refused_cooldown = std::chrono::seconds(1);

// What learning is told augur sent for a call (it scores the hints against what happened).
learning::InjectedHints injected(const Hints& h) {
  learning::InjectedHints out;
  out.source = h.source;
  out.remaining = h.remaining;
  out.osl = h.osl;
  out.iat_ms = h.iat_ms;
  out.latency_sensitivity = h.latency_sensitivity;
  out.remaining_static = h.from_static.remaining;
  out.osl_static = h.from_static.osl;
  out.iat_static = h.from_static.iat;
  out.samples = {h.remaining_evidence.samples, h.osl_evidence.samples, h.iat_evidence.samples};
  out.spread = {h.remaining_evidence.spread, h.osl_evidence.spread, h.iat_evidence.spread};
  out.priority = h.priority;
  out.speculative_prefill = h.speculative_prefill;
  out.session_final = h.session_final;
  out.final_predicted = h.final_predicted;
  return out;
}

AttemptResult connect_failure(const beast::error_code& ec) {
  if (is_timeout(ec)) {
    return {Attempt::connect_failed, ProxyError::upstream_timeout, "upstream connect timed out"};
  }
  return {Attempt::connect_failed, ProxyError::upstream_refused,
          "upstream connection failed: " + ec.message()};
}

Outcome outcome_of(const AttemptResult& last) {
  if (last.error == ProxyError::upstream_timeout) return Outcome::timeout;
  if (last.error == ProxyError::no_upstream) return Outcome::no_upstream;
  if (last.kind == Attempt::connect_failed) return Outcome::connect_failed;
  return Outcome::upstream_failed;
}

}  // namespace

// The request's facts, for routing, the record and learning. Only LLM calls are calls of a run:
// they get hints and are learned from; anything else (models, embeddings, health checks) is
// proxied untouched.
void ClientSession::describe(RequestContext& rc) {
  rc.record.target.assign(head_.target());         // kept for the record and every failover attempt
  rc.record.method.assign(head_.method_string());  // a copy: the head's arena grows below
  // The conversation is read only for a call that may need its run inferred.
  const bool infer = rc.rt->config->context.infer && !names_run(head_);
  const bool padded = body_.capacity() - body_.size() >= kJsonPadding;
  parse_request_body(rc.info, body_, dialect_of(rc.record.target), rc.rt->agent_rules, infer,
                     padded);
  rc.llm_call = is_llm_call(head_.method() == http::verb::post, rc.info);
  rc.record.llm_call = rc.llm_call;
}

// Where in its agent run the call comes from and what the trie and SONA predict for it. The
// request's start time is recent enough for the run table and SONA (one clock read fewer).
void ClientSession::predict_call(RequestContext& rc) {
  const auto& config = cfg();
  auto& server = worker_.server();
  CallContext ctx = extract_context(head_, rc.info, server.runs(), rc.started,
                                    config.context.infer ? server.conversations() : nullptr);
  if (!config.context.trust_client_hints) strip_client_hints(head_);
  rc.hints =
      predict(config, rc.rt->trie.get(), ctx, rc.info, body_.size(), server.sona(), rc.started);
  auto& call = rc.record.call;
  call.run_id = std::move(ctx.run_id);  // ctx is not read again
  call.run_id_from_client = ctx.run_id_from_client;
  call.run_end = ctx.run_end;
  call.path = std::move(ctx.path);
  call.call_index = ctx.call_index;
  call.calls_in_run = ctx.calls_in_run;
  rc.end_run_at_answer = ctx.ends_at_answer;
  rc.place = std::move(ctx.place);
  call.hints = injected(rc.hints);
  call.shape.model = rc.info.model;
  call.shape.request_bytes = body_.size();
  call.shape.max_tokens = rc.info.max_tokens;
  call.shape.message_count = static_cast<std::uint32_t>(rc.info.message_count);
  call.shape.tools = rc.info.has_tools;
  call.shape.stream = rc.info.stream;
}

// Hints go into the request once when only one upstream can take it. With several candidates
// each attempt writes its upstream's formats from the client's request, so hints written for one
// upstream's formats (headers or nvext members) never reach another.
void ClientSession::prepare_injection(RequestContext& rc,
                                      std::span<const std::uint32_t> candidates) {
  rc.inject_per_upstream = rc.llm_call && candidates.size() > 1;
  if (rc.inject_per_upstream) {
    rc.original_body = body_;
  } else if (rc.llm_call) {
    apply_hints(head_, body_, rc.hints, rc.rt->routing->upstreams[candidates[0]]->cfg, rc.info);
  }
  prepare_upstream_request(head_, body_, remote_);
}

// The request as this upstream gets it: its base path, its Host, its hint formats. Counts the
// attempt in the upstream's health (the caller ends `outstanding`).
UpstreamHealth& ClientSession::begin_attempt(RequestContext& rc, const UpstreamTarget& target,
                                             std::size_t index, std::size_t attempt) {
  rc.record.upstream = target.cfg.name;
  rc.record.upstream_index = static_cast<int>(index);
  auto& health = *target.health;
  health.requests.fetch_add(1, std::memory_order_relaxed);
  health.outstanding.fetch_add(1, std::memory_order_relaxed);

  const std::string& original_target = rc.record.target;
  if (!target.cfg.base_path.empty()) {
    head_.target(target.cfg.base_path + original_target);
  } else if (attempt > 0) {
    head_.target(original_target);
  }
  // prepare_upstream_request removed the client's Host; a failover replaces the last one's.
  if (attempt == 0) {
    head_.insert(http::field::host, target.host_header);
  } else {
    head_.set(http::field::host, target.host_header);
  }
  if (!rc.inject_per_upstream) return health;
  if (attempt > 0) {
    if (!cfg().context.trust_client_hints) strip_client_hints(head_);
    if (body_ != rc.original_body) {
      body_ = rc.original_body;
      head_.set(http::field::content_length, std::to_string(body_.size()));
    }
  }
  apply_hints(head_, body_, rc.hints, target.cfg, rc.info);  // fixes Content-Length itself
  return health;
}

// A new connection to the pool's upstream; on failure, null with `last` saying why.
Task<std::unique_ptr<UpstreamConn>> ClientSession::connect(RequestContext& rc, ConnectionPool& pool,
                                                           AttemptResult& last) {
  beast::error_code ec;
  const auto start = Clock::now();
  auto conn = co_await pool.connect(ec);
  rc.connect_time += Clock::now() - start;
  if (!conn) last = connect_failure(ec);
  co_return conn;
}

// Forwards the request read into head_/body_ and relays its response. True when the client
// connection may carry another request (the response told it to keep alive).
Task<bool> ClientSession::forward() {
  RequestContext& rc = rc_;
  // The latest config and routing (a reload may have come while the request was read), held in
  // rc.rt with the upstream targets until the request is done.
  rc.rt = worker_.runtime_ptr();
  describe(rc);
  const auto candidates = rc.rt->routing->candidates(rc.record.target, rc.info.model);
  if (candidates.empty()) {
    rc.record.call.failed = true;
    rc.record.outcome = Outcome::no_upstream;
    rc.record.status = static_cast<int>(status_of(ProxyError::no_upstream));
    co_await send_error(ProxyError::no_upstream, "no upstream is configured for this request",
                        head_.version(), rc.client_keep_alive);
    co_return rc.client_keep_alive;
  }
  if (rc.llm_call) predict_call(rc);
  prepare_injection(rc, candidates);

  const Routing& routing = *rc.rt->routing;
  std::uint64_t tried = 0;
  AttemptResult last{Attempt::failed, ProxyError::no_upstream,
                     "no healthy upstream: every candidate refused connections just now"};
  for (std::size_t n = 0; n < candidates.size(); ++n) {
    const int pick = routing.pick(candidates, tried, n == 0 ? rc.started : Clock::now());
    if (pick < 0) break;
    tried |= std::uint64_t{1} << pick;
    const auto& target = routing.upstreams[candidates[pick]];
    auto& health = begin_attempt(rc, *target, candidates[pick], n);
    const ScopeExit outstanding{
        [&] { health.outstanding.fetch_sub(1, std::memory_order_relaxed); }};

    // A pooled connection or a new one, and once more on a new one when a pooled connection
    // turns out dead before any response byte.
    auto& pool = worker_.pool(target);
    auto conn = pool.take_idle(n == 0 ? rc.started : Clock::now());
    for (int round = 0; round < 2; ++round) {
      if (!conn && !(conn = co_await connect(rc, pool, last))) break;
      last = co_await conn->visit(
          [&](auto& s) { return exchange(s, *conn, rc, pool.target().cfg.timeouts); });
      if (last.kind == Attempt::stale && round == 0) {
        // The server closed a pooled connection we thought idle; nothing was processed.
        worker_.counters().upstream_retries.fetch_add(1, std::memory_order_relaxed);
        conn.reset();
        continue;
      }
      if (last.kind == Attempt::stale) {
        last = {Attempt::failed, ProxyError::upstream_refused,
                "upstream closed the connection before responding"};
      }
      if (last.upstream_reusable) pool.give_back(std::move(conn), coarse_now());
      break;
    }
    if (last.kind != Attempt::connect_failed) break;
    health.failures.fetch_add(1, std::memory_order_relaxed);  // fail over to the next candidate
    health.down_until_ns.store((Clock::now() + refused_cooldown).time_since_epoch().count(),
                               std::memory_order_relaxed);
  }
  if (conclude(rc, last)) co_return last.kind == Attempt::done&& last.client_keep_alive;
  co_await send_error(last.error, last.message, head_.version(), rc.client_keep_alive);
  co_return rc.client_keep_alive;
}

// How the request ended, in its record. True when the client got a response (or is gone); false
// when it is still owed an error response.
bool ClientSession::conclude(RequestContext& rc, const AttemptResult& last) {
  auto& record = rc.record;
  auto& call = record.call;
  if (rc.llm_call) {
    // A final answer (whole, 2xx, no tool call): its conversation can only go on with a new user
    // turn, which starts a new run, so the calls remembered for it are done with. It ends an
    // inferred run (learning closes it at once).
    const bool final_answer = last.kind == Attempt::done && !last.truncated &&
                              call.status / 100 == 2 && !rc.meter.tool_call();
    auto& server = worker_.server();
    if (auto* table = server.conversations(); table && final_answer && rc.place) {
      table->forget(rc.info.conversation.prefix, call.run_id);
    }
    if (final_answer && rc.end_run_at_answer) {
      call.run_end = true;
      server.runs().forget(call.run_id);
    } else {
      server.runs().touch(call.run_id, coarse_now());
    }
  }
  record.status = call.status;
  switch (last.kind) {
    case Attempt::done:
      record.outcome = last.truncated ? Outcome::truncated : Outcome::ok;
      call.failed = last.truncated;
      return true;
    case Attempt::client_gone:
      record.outcome = Outcome::client_gone;
      if (record.status == 0) record.status = 499;  // nginx's "client closed request"
      call.failed = true;
      return true;
    case Attempt::connect_failed:
    case Attempt::stale:
    case Attempt::failed:
      break;
  }
  call.failed = true;
  record.status = static_cast<int>(status_of(last.error));
  record.outcome = outcome_of(last);
  worker_.counters().upstream_errors.fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace augur::proxy
