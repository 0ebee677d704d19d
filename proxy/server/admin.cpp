#include "proxy/server/admin.hpp"

#include <fmt/format.h>

#include <iterator>
#include <memory>
#include <mutex>
#include <vector>

#include "common/json_string.hpp"
#include "learning/engine/learner.hpp"
#include "learning/sona/engine.hpp"
#include "learning/trie/nat_json.hpp"
#include "proxy/http/http_errors.hpp"
#include "proxy/observe/access_log.hpp"
#include "proxy/observe/metrics.hpp"
#include "proxy/server/server.hpp"
#include "proxy/server/worker.hpp"

namespace augur::proxy {

namespace {

// Nodes of the trie the proxy serves: the learner's count once it published (it counted when it
// built the trie), else a count of the file trie (small, and only on a scrape).
std::uint64_t served_trie_nodes(const Server& server, const Runtime& rt) {
  if (!rt.trie) return 0;
  if (const auto* l = server.learner(); l && l->trie() == rt.trie) {
    return l->stats().trie_nodes.load(std::memory_order_relaxed);
  }
  return trie::count_nodes(*rt.trie);
}

// NAT JSON size of the trie the proxy serves: the learner's once it published, else the file
// trie's, serialised once per trie (a file trie can be large, scrapes are frequent).
std::uint64_t served_trie_bytes(const Server& server, const Runtime& rt) {
  if (!rt.trie) return 0;
  if (const auto* l = server.learner(); l && l->trie() == rt.trie) {
    return l->stats().trie_bytes.load(std::memory_order_relaxed);
  }
  static std::mutex mutex;
  static std::weak_ptr<const trie::Trie> measured;
  static std::uint64_t bytes = 0;
  std::lock_guard lock(mutex);
  if (measured.lock() != rt.trie) {
    bytes = trie::serialize_trie(*rt.trie).size();
    measured = rt.trie;
  }
  return bytes;
}

// Appends `"key":` to a JSON object being written, with the comma when it is not the first.
class JsonObject {
 public:
  explicit JsonObject(std::string& out) : out_(out) { out_ += '{'; }
  ~JsonObject() { out_ += '}'; }
  JsonObject(const JsonObject&) = delete;
  JsonObject& operator=(const JsonObject&) = delete;

  std::string& key(std::string_view k) {
    if (!first_) out_ += ',';
    first_ = false;
    append_json_string(out_, k);
    out_ += ':';
    return out_;
  }
  template <typename T>
  void number(std::string_view k, T v) {
    fmt::format_to(std::back_inserter(key(k)), "{}", v);
  }
  void boolean(std::string_view k, bool v) { key(k) += v ? "true" : "false"; }
  void string(std::string_view k, std::string_view v) { append_json_string(key(k), v); }

 private:
  std::string& out_;
  bool first_ = true;
};

std::uint64_t load(const std::atomic<std::uint64_t>& a) {
  return a.load(std::memory_order_relaxed);
}

void append_bounds(std::string& out, const learning::LearnerOptions& c) {
  JsonObject o(out);
  o.number("half_life_s", std::chrono::duration<double>(c.limits.half_life).count());
  o.number("max_paths", c.limits.max_paths);
  o.number("max_call_indices", c.limits.max_call_indices);
  o.number("min_path_samples", c.limits.min_path_samples);
  o.number("max_new_paths_per_run", c.limits.max_new_paths_per_run);
  o.number("max_trie_bytes", c.max_trie_bytes);
  o.number("max_state_bytes", c.max_state_bytes);
}

void append_learning(std::string& out, const learning::LearnerStats& s,
                     const learning::LearnerOptions& c) {
  JsonObject o(out);
  o.number("observations", load(s.observations));
  o.number("observations_dropped", load(s.observations_dropped));
  o.number("runs_completed", load(s.runs_completed));
  o.number("runs_evicted", load(s.runs_evicted));
  o.number("open_runs", load(s.open_runs));
  o.number("calls_learned", load(s.calls_learned));
  o.number("rebuilds", load(s.rebuilds));
  o.number("snapshot_saves", load(s.snapshot_saves));
  o.number("snapshot_errors", load(s.snapshot_errors));
  o.number("tries_rejected", load(s.tries_rejected));
  const int redis_up = s.redis_up.load(std::memory_order_relaxed);
  if (redis_up < 0) {
    o.key("redis_up") += "null";
  } else {
    o.boolean("redis_up", redis_up > 0);
  }
  o.number("redis_errors", load(s.redis_errors));
  o.number("runs_pending_redis", load(s.runs_pending_redis));
  o.number("paths", load(s.trie_paths));
  o.number("path_candidates", load(s.path_candidates));
  o.number("state_bytes", load(s.state_bytes));
  {
    JsonObject evicted(o.key("evicted"));
    for (std::size_t i = 0; i < trie::kEvictionReasons; ++i) {
      evicted.number(trie::to_string(static_cast<trie::Eviction>(i)), load(s.evicted[i]));
    }
  }
  append_bounds(o.key("bounds"), c);
  // Mean |log ratio| per hint and source, for the sources that have samples.
  auto& errors = o.key("prediction_error");
  JsonObject by_hint(errors);
  for (std::size_t h = 0; h < learning::kHints; ++h) {
    auto& hint = by_hint.key(learning::to_string(static_cast<learning::Hint>(h)));
    JsonObject by_source(hint);
    for (std::size_t src = 0; src < learning::kSources; ++src) {
      const auto& hist = s.prediction_error[h][src];
      const auto n = hist.count();
      if (n == 0) continue;
      JsonObject e(by_source.key(to_string(static_cast<trie::Source>(src))));
      e.number("count", n);
      e.number("mean", hist.sum() / static_cast<double>(n));
    }
  }
}

}  // namespace

std::string metrics_document(const Server& server) {
  const auto rt = server.runtime();
  std::vector<const WorkerMetrics*> workers;
  for (const auto& w : server.workers()) workers.push_back(&w->metrics());
  MetricsSources src;
  src.workers = workers;
  const auto totals = server.totals();
  src.inflight = totals.inflight;
  src.connections_refused = totals.connections_refused;
  for (std::size_t i = 0; i < kDiscardReasons; ++i) {
    src.upstream_conn_discarded.emplace_back(to_string(static_cast<Discard>(i)),
                                             totals.upstream_conn_discarded[i]);
  }
  if (const auto* l = server.learner()) src.learner = &l->stats();
  if (const auto* s = server.sona()) src.sona_stats = s->stats();
  src.trie_nodes = served_trie_nodes(server, *rt);
  src.trie_bytes = served_trie_bytes(server, *rt);
  if (const auto* log = server.access_log())
    src.access_log_batches_dropped = log->dropped_batches();
  const auto events = server.runs().events();
  for (std::size_t i = 0; i < kRunSources; ++i) {
    src.run_events.push_back({to_string(static_cast<RunSource>(i)), events[i].started,
                              events[i].continued, events[i].ended});
  }
  return render_metrics(src);
}

std::string stats_document(const Server& server) {
  const auto rt = server.runtime();
  const auto& cfg = *rt->config;
  const auto now = std::chrono::steady_clock::now();
  std::string out;
  {
    JsonObject doc(out);
    doc.number(
        "uptime_s",
        std::chrono::duration_cast<std::chrono::milliseconds>(now - server.started()).count() /
            1e3);
    doc.boolean("ready", server.ready());
    doc.boolean("draining", server.draining());
    {
      JsonObject c(doc.key("config"));
      c.number("generation", rt->config_generation);
      c.string("listen", endpoint_string(server.proxy_endpoint()));
      c.string("admin_listen", endpoint_string(server.admin_endpoint()));
      c.number("threads", server.workers().size());
      c.number("upstreams", cfg.upstreams.size());
      c.number("routes", cfg.routes.size());
      c.string("trie_file", cfg.prediction.trie_file);
      c.boolean("learning", cfg.learning.enabled);
      c.string("store", cfg.store.kind);
      c.boolean("sona", cfg.sona.enabled);
      c.string("access_log", cfg.access_log.target);
      c.boolean("admin_token", !cfg.admin.token.empty());
    }
    {
      const auto t = server.totals();
      JsonObject p(doc.key("proxy"));
      p.number("connections_open", t.connections_open);
      p.number("connections_accepted", t.connections_accepted);
      p.number("requests", t.requests);
      p.number("inflight", t.inflight);
      p.number("upstream_retries", t.upstream_retries);
      p.number("client_errors", t.client_errors);
      p.number("upstream_errors", t.upstream_errors);
      p.number("connections_refused", t.connections_refused);
      if (const auto* log = server.access_log()) {
        p.number("access_log_batches_dropped", log->dropped_batches());
      }
    }
    auto& ups = doc.key("upstreams");
    ups += '[';
    for (std::size_t i = 0; i < rt->routing->upstreams.size(); ++i) {
      const auto& u = *rt->routing->upstreams[i];
      const auto& h = *u.health;
      if (i) ups += ',';
      JsonObject o(ups);
      o.string("name", u.cfg.name);
      o.string("url", u.cfg.url);
      o.number("requests", load(h.requests));
      o.number("failures", load(h.failures));
      o.number("outstanding", h.outstanding.load(std::memory_order_relaxed));
      const auto down_ns = h.down_until_ns.load(std::memory_order_relaxed) -
                           static_cast<std::int64_t>(now.time_since_epoch().count());
      o.boolean("down", down_ns > 0);
      o.number("down_for_ms", down_ns > 0 ? down_ns / 1'000'000 : 0);
    }
    ups += ']';
    {
      const auto* l = server.learner();
      JsonObject t(doc.key("trie"));
      t.string("source", !rt->trie ? "none" : l && l->trie() == rt->trie ? "learned" : "file");
      t.number("version", l ? load(l->stats().trie_version) : 0);
      t.number("nodes", served_trie_nodes(server, *rt));
      t.number("bytes", served_trie_bytes(server, *rt));
    }
    if (const auto* l = server.learner()) {
      append_learning(doc.key("learning"), l->stats(), l->settings());
    } else {
      doc.key("learning") += "null";
    }
    // The seed's to_json counters.
    doc.key("sona") += server.sona() ? server.sona()->stats_json() : std::string("null");
  }
  return out;
}

std::string agents_document(const Server& server) {
  std::string out;
  {
    JsonObject doc(out);
    auto& list = doc.key("agents");
    list += '[';
    if (const auto* table = server.conversations()) {
      bool first = true;
      for (const auto& a : table->agents()) {
        if (!first) list += ',';
        first = false;
        JsonObject o(list);
        o.string("fingerprint", fmt::format("{:016x}", a.fingerprint));
        o.string("name", a.name);
        auto& tools = o.key("tools");
        tools += '[';
        for (std::size_t i = 0; i < a.tools.size(); ++i) {
          if (i) tools += ',';
          append_json_string(tools, a.tools[i]);
        }
        tools += ']';
        o.number("calls", a.calls);
        o.number("runs", a.runs);
        o.number("first_seen_ms", a.first_seen_ms);
        o.number("last_seen_ms", a.last_seen_ms);
      }
    }
    list += ']';
    doc.number("conversations", server.conversations() ? server.conversations()->size() : 0);
    doc.number("runs_in_flight", server.runs().size());
    JsonObject by_source(doc.key("runs"));
    const auto events = server.runs().events();
    for (std::size_t i = 0; i < kRunSources; ++i) {
      JsonObject e(by_source.key(to_string(static_cast<RunSource>(i))));
      e.number("started", events[i].started);
      e.number("continued", events[i].continued);
      e.number("ended", events[i].ended);
    }
  }
  return out;
}

std::optional<std::string> trie_document(const Server& server) {
  const auto rt = server.runtime();
  if (!rt->trie) return std::nullopt;
  return trie::serialize_trie(*rt->trie);
}

}  // namespace augur::proxy
