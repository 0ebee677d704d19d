#include "proxy/server/routing.hpp"

#include <limits>

namespace augur::proxy {

std::span<const std::uint32_t> Routing::candidates(std::string_view target,
                                                   std::string_view model) const {
  for (const auto& r : routes) {
    if (!r.path_prefix.empty() && !target.starts_with(r.path_prefix)) continue;
    if (!r.model.empty() && model != r.model) continue;
    return r.members;
  }
  return fallback;
}

int Routing::pick(std::span<const std::uint32_t> cands, std::uint64_t exclude,
                  Clock::time_point now) const {
  int best = -1;
  std::int64_t best_load = std::numeric_limits<std::int64_t>::max();
  for (std::size_t i = 0; i < cands.size() && i < 64; ++i) {
    if (exclude & (std::uint64_t{1} << i)) continue;
    const auto& health = *upstreams[cands[i]]->health;
    if (health.is_down(now)) continue;
    const auto load = health.outstanding.load(std::memory_order_relaxed);
    if (load < best_load) best = static_cast<int>(i), best_load = load;
  }
  return best;
}

std::shared_ptr<const Routing> build_routing(const config::Config& cfg, const Routing* previous) {
  auto routing = std::make_shared<Routing>();
  for (const auto& u : cfg.upstreams) {
    auto t = std::make_shared<UpstreamTarget>();
    t->cfg = u;
    t->key = u.name + "|" + u.url;
    const bool default_port = u.port == (u.https ? 443 : 80);
    const bool v6 = u.host.find(':') != std::string::npos;
    t->host_header = v6 ? "[" + u.host + "]" : u.host;
    if (!default_port) t->host_header += ":" + std::to_string(u.port);
    if (u.https) t->tls = make_tls_context(u);
    if (previous) {
      for (const auto& old : previous->upstreams) {
        if (old->key == t->key) t->health = old->health;
      }
    }
    if (!t->health) t->health = std::make_shared<UpstreamHealth>();
    routing->upstreams.push_back(std::move(t));
  }
  auto index_of = [&](const std::string& name) -> std::uint32_t {
    for (std::uint32_t i = 0; i < cfg.upstreams.size(); ++i) {
      if (cfg.upstreams[i].name == name) return i;
    }
    return 0;  // config validation guarantees the name exists
  };
  for (const auto& r : cfg.routes) {
    Routing::Route route{r.path_prefix, r.model, {}};
    for (const auto& name : r.upstreams) route.members.push_back(index_of(name));
    routing->routes.push_back(std::move(route));
  }
  if (!routing->upstreams.empty()) routing->fallback = {0};
  return routing;
}

}  // namespace augur::proxy
