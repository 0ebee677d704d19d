#include "proxy/observe/metrics.hpp"

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <limits>
#include <map>
#include <vector>

#include "learning/engine/stats.hpp"

namespace augur::proxy {

WorkerMetrics::~WorkerMetrics() {
  for (auto* s = head_.load(std::memory_order_relaxed); s != nullptr;) {
    auto* next = s->next.load(std::memory_order_relaxed);
    delete s;
    s = next;
  }
}

UpstreamSeries& WorkerMetrics::series(std::string_view name) {
  if (auto it = by_name_.find(name); it != by_name_.end()) return *it->second;
  // First request to this upstream name on this worker: append, then publish with a release store
  // so a concurrent scrape sees the series fully constructed.
  auto* s = new UpstreamSeries(std::string(name));
  if (tail_ == nullptr) {
    head_.store(s, std::memory_order_release);
  } else {
    tail_->next.store(s, std::memory_order_release);
  }
  tail_ = s;
  by_name_.emplace(s->name, s);
  return *s;
}

namespace {
void bump(std::atomic<std::uint64_t>& a) {
  a.store(a.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}
}  // namespace

void WorkerMetrics::record(const RequestRecord& r) {
  auto& s = series(r.upstream);
  bump(s.requests[static_cast<std::size_t>(std::clamp(r.status, 0, int{kStatusCodes} - 1))]);
  if (r.outcome != Outcome::ok) bump(s.errors[static_cast<std::size_t>(r.outcome)]);
  s.duration.observe(r.duration_s);
  if (r.ttfb_s >= 0) s.ttfb.observe(r.ttfb_s);
  // Hints went out with every LLM call routed to an upstream; overhead ends with the request
  // written upstream, which a refused connect never reached (overhead_s stays 0).
  if (r.llm_call && r.upstream_index >= 0) {
    bump(hints_[static_cast<std::size_t>(r.call.hints.source)]);
  }
  if (r.overhead_s > 0) overhead_.observe(r.overhead_s);
}

namespace {

namespace prom = prometheus;

// A histogram summed over workers, in Prometheus' cumulative form.
struct HistogramSum {
  std::vector<double> bounds;
  std::vector<std::uint64_t> counts;  // non-cumulative, last = +Inf
  std::uint64_t count = 0;
  double sum = 0;

  // `h` has bucket(i) for i in 0..bounds.size() (the last is +Inf), count() and sum().
  template <typename H>
  void add(std::span<const double> b, const H& h) {
    if (bounds.empty()) {
      bounds.assign(b.begin(), b.end());
      counts.assign(b.size() + 1, 0);
    }
    for (std::size_t i = 0; i <= b.size(); ++i) counts[i] += h.bucket(i);
    count += h.count();
    sum += h.sum();
  }
  template <const auto& Bounds>
  void add(const LocalHistogram<Bounds>& h) {
    add(Bounds, h);
  }

  prom::ClientMetric::Histogram to_prometheus() const {
    prom::ClientMetric::Histogram out;
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      cumulative += counts[i];
      const double le = i < bounds.size() ? bounds[i] : std::numeric_limits<double>::infinity();
      out.bucket.push_back({cumulative, le});
    }
    // Buckets and count are read separately while workers write; keep them consistent so
    // histogram_quantile never sees a +Inf bucket below the count.
    out.sample_count = cumulative;
    out.sample_sum = sum;
    return out;
  }
};

struct UpstreamTotals {
  std::map<int, std::uint64_t> requests;  // status → count, nonzero only
  std::array<std::uint64_t, kOutcomes> errors{};
  HistogramSum duration, ttfb;
};

prom::MetricFamily family(std::string name, std::string help, prom::MetricType type) {
  prom::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

prom::ClientMetric sample(std::vector<prom::ClientMetric::Label> labels = {}) {
  prom::ClientMetric m;
  m.label = std::move(labels);
  return m;
}

// One unlabelled counter or gauge: a family with one sample.
void add_scalar(std::vector<prom::MetricFamily>& out, prom::MetricType type, std::string name,
                std::string help, double value) {
  auto f = family(std::move(name), std::move(help), type);
  f.metric.push_back(sample());
  (type == prom::MetricType::Counter ? f.metric.back().counter.value
                                     : f.metric.back().gauge.value) = value;
  out.push_back(std::move(f));
}
void add_counter(std::vector<prom::MetricFamily>& out, std::string name, std::string help,
                 double value) {
  add_scalar(out, prom::MetricType::Counter, std::move(name), std::move(help), value);
}
void add_gauge(std::vector<prom::MetricFamily>& out, std::string name, std::string help,
               double value) {
  add_scalar(out, prom::MetricType::Gauge, std::move(name), std::move(help), value);
}

std::uint64_t load(const std::atomic<std::uint64_t>& a) {
  return a.load(std::memory_order_relaxed);
}

// Produces the metric families at scrape time: the request-path metrics summed over workers, the
// learning thread's counters, and (when wired) SONA's.
class Collector : public prom::Collectable {
 public:
  explicit Collector(const MetricsSources& src) : src_(src) {}

  std::vector<prom::MetricFamily> Collect() const override {
    std::vector<prom::MetricFamily> out;
    collect_requests(out);
    if (src_.learner) collect_learning(*src_.learner, out);
    if (src_.sona_stats) collect_sona(*src_.sona_stats, out);
    add_gauge(out, "augur_trie_nodes", "Nodes in the prediction trie the proxy serves now.",
              static_cast<double>(src_.trie_nodes));
    add_gauge(out, "augur_trie_bytes",
              "Size of the prediction trie the proxy serves now, as NAT JSON (/v1/augur/trie).",
              static_cast<double>(src_.trie_bytes));
    if (!src_.run_events.empty()) {
      auto runs = family("augur_runs_total",
                         "Agent runs by where their id came from (source) and what happened: "
                         "started, continued (a later call), ended (end signal, idle, eviction).",
                         prom::MetricType::Counter);
      for (const auto& e : src_.run_events) {
        for (const auto& [event, n] :
             {std::pair{"started", e.started}, std::pair{"continued", e.continued},
              std::pair{"ended", e.ended}}) {
          runs.metric.push_back(sample({{"source", std::string(e.source)}, {"event", event}}));
          runs.metric.back().counter.value = static_cast<double>(n);
        }
      }
      out.push_back(std::move(runs));
    }
    if (src_.access_log_batches_dropped) {
      add_counter(out, "augur_access_log_batches_dropped_total",
                  "Batches of access log lines (one io thread's, up to 100 ms) dropped because "
                  "the log writer fell behind.",
                  static_cast<double>(*src_.access_log_batches_dropped));
    }
    return out;
  }

 private:
  void collect_requests(std::vector<prom::MetricFamily>& out) const {
    std::map<std::string, UpstreamTotals> ups;
    HistogramSum overhead;
    std::array<std::uint64_t, kSources> hints{};
    for (const auto* w : src_.workers) {
      for (const auto* s = w->first_upstream(); s != nullptr;
           s = s->next.load(std::memory_order_acquire)) {
        auto& t = ups[s->name];
        for (std::size_t code = 0; code < kStatusCodes; ++code) {
          if (const auto n = load(s->requests[code])) t.requests[static_cast<int>(code)] += n;
        }
        for (std::size_t k = 0; k < kOutcomes; ++k) t.errors[k] += load(s->errors[k]);
        t.duration.add(s->duration);
        t.ttfb.add(s->ttfb);
      }
      overhead.add(w->overhead());
      for (std::size_t i = 0; i < kSources; ++i) hints[i] += w->hints(static_cast<trie::Source>(i));
    }
    if (overhead.bounds.empty()) overhead.add(OverheadHistogram{});  // no workers: empty buckets

    auto requests = family("augur_requests_total",
                           "Requests answered, by upstream and HTTP status sent to the client.",
                           prom::MetricType::Counter);
    auto errors = family("augur_upstream_errors_total",
                         "Requests that did not end with a whole relayed response, by kind.",
                         prom::MetricType::Counter);
    auto duration = family("augur_request_duration_seconds",
                           "Time from the whole request read to the response's end.",
                           prom::MetricType::Histogram);
    auto ttfb = family("augur_upstream_ttfb_seconds",
                       "Time from the whole request read to the upstream's response headers.",
                       prom::MetricType::Histogram);
    for (const auto& [name, t] : ups) {
      for (const auto& [code, n] : t.requests) {
        requests.metric.push_back(sample({{"upstream", name}, {"code", std::to_string(code)}}));
        requests.metric.back().counter.value = static_cast<double>(n);
      }
      for (std::size_t k = 0; k < kOutcomes; ++k) {
        if (t.errors[k] == 0) continue;
        errors.metric.push_back(sample(
            {{"upstream", name}, {"kind", std::string(to_string(static_cast<Outcome>(k)))}}));
        errors.metric.back().counter.value = static_cast<double>(t.errors[k]);
      }
      duration.metric.push_back(sample({{"upstream", name}}));
      duration.metric.back().histogram = t.duration.to_prometheus();
      if (t.ttfb.count > 0) {
        ttfb.metric.push_back(sample({{"upstream", name}}));
        ttfb.metric.back().histogram = t.ttfb.to_prometheus();
      }
    }
    out.push_back(std::move(requests));
    out.push_back(std::move(duration));
    out.push_back(std::move(ttfb));
    out.push_back(std::move(errors));

    auto over = family("augur_proxy_overhead_seconds",
                       "augur's own time before a request is written upstream (includes the "
                       "upstream connect when no pooled connection was free).",
                       prom::MetricType::Histogram);
    over.metric.push_back(sample());
    over.metric.back().histogram = overhead.to_prometheus();
    out.push_back(std::move(over));

    add_gauge(out, "augur_inflight_requests", "Requests being handled now.",
              static_cast<double>(src_.inflight));

    collect_connections(out);
    collect_hint_sources(hints, out);
  }

  // Client connections refused and pooled upstream connections discarded.
  void collect_connections(std::vector<prom::MetricFamily>& out) const {
    auto refused =
        family("augur_connections_refused_total", "Client connections closed at once, by reason.",
               prom::MetricType::Counter);
    refused.metric.push_back(sample({{"reason", "max_connections"}}));
    refused.metric.back().counter.value = static_cast<double>(src_.connections_refused);
    out.push_back(std::move(refused));

    auto discarded = family("augur_upstream_conn_discarded_total",
                            "Pooled upstream connections closed instead of reused, by reason.",
                            prom::MetricType::Counter);
    for (const auto& [reason, n] : src_.upstream_conn_discarded) {
      discarded.metric.push_back(sample({{"reason", std::string(reason)}}));
      discarded.metric.back().counter.value = static_cast<double>(n);
    }
    out.push_back(std::move(discarded));
  }

  static void collect_hint_sources(const std::array<std::uint64_t, kSources>& hints,
                                   std::vector<prom::MetricFamily>& out) {
    auto by_source = family("augur_hints_total",
                            "Requests forwarded with hints, by where the prediction came from.",
                            prom::MetricType::Counter);
    for (std::size_t i = 0; i < kSources; ++i) {
      if (hints[i] == 0) continue;
      by_source.metric.push_back(
          sample({{"source", std::string(to_string(static_cast<trie::Source>(i)))}}));
      by_source.metric.back().counter.value = static_cast<double>(hints[i]);
    }
    out.push_back(std::move(by_source));
  }

  static void collect_sona(const sona::Stats& s, std::vector<prom::MetricFamily>& out) {
    add_counter(out, "augur_sona_trajectories_total", "Calls SONA's instant loop learned from.",
                static_cast<double>(s.trajectories_seen));
    add_counter(out, "augur_sona_trajectories_dropped_total",
                "Trajectories not buffered for SONA's background loop (buffer full).",
                static_cast<double>(s.trajectories_dropped));
    add_gauge(out, "augur_sona_patterns", "Patterns in SONA's ReasoningBank.",
              static_cast<double>(s.patterns_stored));
    add_counter(out, "augur_sona_background_cycles_total", "SONA background cycles run.",
                static_cast<double>(s.background_cycles));
    add_counter(out, "augur_sona_queries_total", "SONA suggestions asked for (requests).",
                static_cast<double>(s.queries_processed));
    add_counter(out, "augur_sona_pattern_hits_total",
                "SONA suggestions confident enough to be returned.",
                static_cast<double>(s.pattern_hits));
  }

  static void collect_learning(const learning::LearnerStats& s,
                               std::vector<prom::MetricFamily>& out) {
    add_counter(out, "augur_runs_completed_total", "Agent runs closed and learned from.",
                static_cast<double>(load(s.runs_completed)));
    add_counter(out, "augur_observations_dropped_total",
                "Call observations dropped because the learning queue was full.",
                static_cast<double>(load(s.observations_dropped)));
    add_gauge(out, "augur_trie_version", "Tries learning has published (0: none yet).",
              static_cast<double>(load(s.trie_version)));
    auto prefill = family("augur_speculative_prefill_total",
                          "Calls sent with speculative_prefill, by whether a later call of the run "
                          "came (followed) or not (wasted), counted when runs close.",
                          prom::MetricType::Counter);
    for (const auto& [outcome, n] : {std::pair{"followed", &s.speculative_prefill_followed},
                                     std::pair{"wasted", &s.speculative_prefill_wasted}}) {
      prefill.metric.push_back(sample({{"outcome", outcome}}));
      prefill.metric.back().counter.value = static_cast<double>(load(*n));
    }
    out.push_back(std::move(prefill));
    add_counter(out, "augur_session_final_premature_total",
                "Runs told final by prediction (dynamo.session_final: predicted) that then made "
                "another call.",
                static_cast<double>(load(s.session_final_premature)));
    add_gauge(out, "augur_trie_paths",
              "Function paths (trie nodes below the root) this replica's learning keeps.",
              static_cast<double>(load(s.trie_paths)));
    auto evicted = family("augur_learning_evicted_total",
                          "What bounded learning dropped, by reason (see README, Online learning).",
                          prom::MetricType::Counter);
    for (std::size_t i = 0; i < trie::kEvictionReasons; ++i) {
      evicted.metric.push_back(
          sample({{"reason", std::string(trie::to_string(static_cast<trie::Eviction>(i)))}}));
      evicted.metric.back().counter.value = static_cast<double>(load(s.evicted[i]));
    }
    out.push_back(std::move(evicted));
    if (const int up = s.redis_up.load(std::memory_order_relaxed); up >= 0) {
      add_gauge(out, "augur_redis_up", "1 while the Redis store is reachable.", up);
    }

    auto err = family("augur_prediction_error_ratio",
                      "|log((predicted+1)/(actual+1))| of injected hints, per hint and source.",
                      prom::MetricType::Histogram);
    for (std::size_t h = 0; h < learning::kHints; ++h) {
      for (std::size_t src = 0; src < learning::kSources; ++src) {
        const auto& hist = s.prediction_error[h][src];
        if (hist.count() == 0) continue;
        HistogramSum sum;
        sum.add(learning::kErrorBuckets, hist);
        err.metric.push_back(
            sample({{"hint", std::string(learning::to_string(static_cast<learning::Hint>(h)))},
                    {"source", std::string(to_string(static_cast<trie::Source>(src)))}}));
        err.metric.back().histogram = sum.to_prometheus();
      }
    }
    out.push_back(std::move(err));
  }

  const MetricsSources& src_;
};

}  // namespace

std::string render_metrics(const MetricsSources& sources) {
  const Collector collector(sources);
  return prom::TextSerializer().Serialize(collector.Collect());
}

}  // namespace augur::proxy
