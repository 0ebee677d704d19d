// Everything known about one proxied request once its response has ended: the call observation
// learning consumes, plus what metrics and the access log report. The session fills one per request
// and hands it to its worker (Worker::finish), on the worker's thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "learning/engine/observation.hpp"

namespace augur::proxy {

// How a request ended, for errors by kind (`augur_upstream_errors_total{kind}`).
enum class Outcome : std::uint8_t {
  ok,               // a whole response was relayed (any status)
  no_upstream,      // 503 before any upstream was tried
  connect_failed,   // every candidate refused or timed out connecting
  timeout,          // upstream timed out before or during the response
  upstream_failed,  // reset, closed or invalid response before any byte reached the client
  truncated,        // the upstream failed mid-response (the client saw a cut or an SSE error)
  client_gone,      // the client went away first
};

constexpr std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::ok:
      return "ok";
    case Outcome::no_upstream:
      return "no_upstream";
    case Outcome::connect_failed:
      return "connect";
    case Outcome::timeout:
      return "timeout";
    case Outcome::upstream_failed:
      return "upstream";
    case Outcome::truncated:
      return "truncated";
    case Outcome::client_gone:
      return "client_gone";
  }
  return "ok";
}

struct RequestRecord {
  learning::CallObservation call;
  // The upstream's configured name; "" when none was tried. Owned: the runtime snapshot the
  // session routed with may be gone by Worker::finish (a SIGHUP mid-request).
  std::string upstream;
  int upstream_index = -1;  // index into Runtime::routing->upstreams, -1 when none
  std::string method;       // as sent (short: no allocation)
  std::string target;       // request target as the client sent it (owned: the session's
                            // copy ends with its forward step, before finish)
  bool llm_call = false;    // a POST with a JSON body: an LLM call learning should see
  int status = 0;           // status sent to the client (augur's own error status included)
  Outcome outcome = Outcome::ok;
  double duration_s = 0;  // request read → response end (steady clock)
  double overhead_s = 0;  // request read → request written to the upstream (augur's own work plus
                          // upstream connect when no pooled connection was free)
  double ttfb_s = -1;     // request read → upstream response headers; -1 when none arrived
};

}  // namespace augur::proxy
