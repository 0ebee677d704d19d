// Request-context extraction and the live run table. Header parsing is deliberately forgiving (a
// bad context header must never fail an agent's LLM call) but strict about what it keeps: ids and
// names are bounded and limited to printable ASCII before they are stored or forwarded.
#include "proxy/context/call_context.hpp"

#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <boost/unordered/unordered_flat_map.hpp>
#include <charconv>
#include <deque>
#include <list>
#include <mutex>
#include <random>
#include <unordered_map>

#include "common/printable.hpp"
#include "common/text_hash.hpp"
#include "common/unix_time.hpp"

namespace augur::proxy {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// NAT's prefix id is "{run}-d{depth}"; the depth would split one run into one run per stack depth.
std::string_view drop_depth_suffix(std::string_view id) {
  std::size_t pos = id.rfind("-d");
  if (pos == std::string_view::npos || pos + 2 == id.size()) return id;
  for (std::size_t i = pos + 2; i < id.size(); ++i) {
    if (id[i] < '0' || id[i] > '9') return id;
  }
  return id.substr(0, pos);
}

std::optional<std::uint32_t> parse_call_index(std::string_view v) {
  v = trim(v);
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < 1 || n > kMaxCallIndex) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(n);
}

void add_name(std::vector<std::string>& path, std::string_view raw) {
  if (path.size() >= kMaxPathNames) return;
  std::string name = sanitize_token(raw, kMaxNameBytes);
  if (!name.empty()) path.push_back(std::move(name));
}

bool parse_path_array(std::string_view value, std::vector<std::string>& path) {
  namespace dom = simdjson::dom;
  thread_local dom::parser parser;
  dom::element doc;
  dom::array arr;
  if (parser.parse(value.data(), value.size(), true).get(doc) != simdjson::SUCCESS ||
      doc.get_array().get(arr) != simdjson::SUCCESS) {
    return false;
  }
  std::vector<std::string> out;
  for (dom::element e : arr) {
    std::string_view s;
    if (e.get_string().get(s) != simdjson::SUCCESS) return false;
    add_name(out, s);
  }
  path = std::move(out);
  return true;
}

// Names cannot contain control characters after sanitize_token, so the unit separator makes the
// joined key unambiguous. Built in a per-thread buffer: only a path new to its run stores a copy.
std::string_view path_key(std::span<const std::string> path) {
  thread_local std::string key;
  key.clear();
  if (key.capacity() > 64 * 1024) key.shrink_to_fit();
  for (const auto& name : path) {
    key += name;
    key += '\x1f';
  }
  return key;
}

// Lets the per-path map be searched with a string_view (no key string per lookup).
struct ViewHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

std::uint32_t saturating_inc(std::uint32_t v) { return v == UINT32_MAX ? v : v + 1; }

}  // namespace

std::string sanitize_token(std::string_view raw, std::size_t max_bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  raw = trim(raw);
  // The usual id or name: printable and short enough, so it is kept as it is (one copy).
  if (raw.size() <= max_bytes && printable_ascii(raw)) return std::string(raw);
  std::string out;
  out.reserve(std::min(raw.size(), max_bytes));
  for (unsigned char c : raw) {
    const bool plain = c >= 0x20 && c <= 0x7E;
    if (out.size() + (plain ? 1 : 3) > max_bytes) break;
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  // Cutting may expose inner blanks at the end; keep the "trimmed" promise.
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::vector<std::string> parse_function_path(std::string_view value) {
  std::vector<std::string> path;
  value = trim(value);
  if (value.empty()) return path;
  path.reserve(std::min<std::size_t>(
      kMaxPathNames, 1 + static_cast<std::size_t>(std::count(value.begin(), value.end(), '/'))));
  // A value that merely starts with '[' but is not an array of strings is read as a slash path, so
  // odd names still give a stable (if odd) path rather than collapsing to root.
  if (value.front() == '[' && parse_path_array(value, path)) return path;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t slash = value.find('/', start);
    if (slash == std::string_view::npos) slash = value.size();
    add_name(path, value.substr(start, slash - start));
    start = slash + 1;
  }
  return path;
}

std::string generate_run_id() {
  // Random per process (replicas must not collide in shared Redis run records), counter per call.
  static const std::uint64_t process_tag = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }();
  static std::atomic<std::uint64_t> counter{0};
  // "augur-<tag, 16 hex digits>-<counter in hex>", written by hand: snprintf costs more than the
  // rest of a new run's bookkeeping.
  constexpr std::string_view kDigits = "0123456789abcdef";
  std::string id = "augur-0000000000000000-";
  for (std::size_t i = 0; i < 16; ++i) id[6 + i] = kDigits[(process_tag >> (60 - 4 * i)) & 15];
  char count[16];
  std::size_t n = 0;
  for (std::uint64_t c = counter.fetch_add(1) + 1; c != 0 || n == 0; c >>= 4)
    count[n++] = kDigits[c & 15];
  while (n > 0) id += count[--n];
  return id;
}

namespace {

// The context headers augur reads, found in one pass over the fields (every one starts with "x-"
// but thread-id), not one lookup per name.
enum Slot {
  nat_run_id,
  prefix_id,
  dynamo_session_id,
  dynamo_parent,
  claude_session,
  claude_agent,
  claude_parent,
  codex_thread,
  codex_parent,
  opencode_session,
  opencode_parent,
  function_path,
  call_index,
  run_end,
  session_final,
  slots
};
constexpr std::string_view kNames[slots] = {"x-nat-run-id",
                                            "x-prefix-id",
                                            "x-dynamo-session-id",
                                            "x-dynamo-parent-session-id",
                                            "x-claude-code-session-id",
                                            "x-claude-code-agent-id",
                                            "x-claude-code-parent-agent-id",
                                            "thread-id",
                                            "x-codex-parent-thread-id",
                                            "x-session-id",
                                            "x-parent-session-id",
                                            "x-nat-function-path",
                                            "x-nat-call-index",
                                            "x-nat-run-end",
                                            "x-dynamo-session-final"};

// The slot of a context header name (-1: not one), by length first: most names of other
// lengths cost one switch.
int slot_of(std::string_view name) {
  const auto is = [&](std::string_view lower) { return token_equals_lower(name, lower); };
  switch (name.size()) {
    case 9:
      return is(kNames[codex_thread]) ? codex_thread : -1;
    case 11:
      return is(kNames[prefix_id]) ? prefix_id : -1;
    case 12:
      return is(kNames[nat_run_id])         ? nat_run_id
             : is(kNames[opencode_session]) ? opencode_session
                                            : -1;
    case 13:
      return is(kNames[run_end]) ? run_end : -1;
    case 16:
      return is(kNames[call_index]) ? call_index : -1;
    case 19:
      return is(kNames[dynamo_session_id]) ? dynamo_session_id
             : is(kNames[opencode_parent]) ? opencode_parent
             : is(kNames[function_path])   ? function_path
                                           : -1;
    case 22:
      return is(kNames[claude_agent])    ? claude_agent
             : is(kNames[session_final]) ? session_final
                                         : -1;
    case 24:
      return is(kNames[claude_session]) ? claude_session
             : is(kNames[codex_parent]) ? codex_parent
                                        : -1;
    case 26:
      return is(kNames[dynamo_parent]) ? dynamo_parent : -1;
    case 29:
      return is(kNames[claude_parent]) ? claude_parent : -1;
    default:
      return -1;
  }
}

// The run and parent as Dynamo's agents.rs maps the session headers (first match wins), and
// whether an agent's own header named them.
struct Session {
  std::string_view run, parent;
  bool agent_header = false;
};
Session session_of(const std::string_view (&found)[slots]) {
  std::string_view run, parent;
  const bool agent_header =
      found[nat_run_id].empty() && found[prefix_id].empty() && found[dynamo_session_id].empty();
  if (!found[nat_run_id].empty() || !found[prefix_id].empty()) {
    run = !found[nat_run_id].empty() ? found[nat_run_id] : found[prefix_id];
    parent = found[dynamo_parent];
  } else if (!found[dynamo_session_id].empty()) {
    run = found[dynamo_session_id];
    parent = found[dynamo_parent];
  } else if (!found[claude_session].empty()) {
    const std::string_view root = found[claude_session];
    run = !found[claude_agent].empty() ? found[claude_agent] : root;
    // A sub-agent (agent id apart from the session): its parent header, else the root session.
    if (run != root) parent = !found[claude_parent].empty() ? found[claude_parent] : root;
  } else if (!found[codex_thread].empty()) {
    run = found[codex_thread];
    parent = found[codex_parent];
  } else if (!found[opencode_session].empty()) {
    run = found[opencode_session];
    parent = found[opencode_parent];
  }
  return {run, parent, agent_header};
}

// The context headers' values as Dynamo reads them: trimmed, and an empty one is absent. The
// first field of a name counts.
void read_context_headers(const RequestHead& headers, std::string_view (&found)[slots]) {
  headers.for_each([&](auto, std::string_view name, std::string_view value) {
    const int i = slot_of(name);
    if (i >= 0 && found[i].empty()) found[i] = trim(value);
  });
}

}  // namespace

bool names_run(const RequestHead& headers) {
  std::string_view found[slots] = {};
  read_context_headers(headers, found);
  return !session_of(found).run.empty();
}

ClientContext parse_client_context(const RequestHead& headers, const RequestInfo& info) {
  std::string_view found[slots] = {};
  read_context_headers(headers, found);
  // Dynamo's parse_bool_opt: 1, true, on, yes (any case) are true; anything else is not.
  const auto is_true = [](std::string_view v) {
    return v == "1" || ascii_iequals(v, "true") || ascii_iequals(v, "on") ||
           ascii_iequals(v, "yes");
  };
  const auto id_of = [](std::string_view raw) { return sanitize_token(raw, kMaxRunIdBytes); };

  ClientContext ctx;
  const auto [run, parent, agent_header] = session_of(found);
  if (!run.empty()) {
    if (std::string id = id_of(run); !id.empty()) ctx.run_id = std::move(id);
    if (agent_header) ctx.source = RunSource::session_header;
  }
  if (ctx.run_id && !parent.empty() && parent != run) ctx.parent_id = id_of(parent);
  if (!ctx.run_id && !info.nvext_prefix_id.empty()) {
    std::string id = sanitize_token(drop_depth_suffix(trim(info.nvext_prefix_id)), kMaxRunIdBytes);
    if (!id.empty()) ctx.run_id = std::move(id);
  }
  if (!found[function_path].empty()) ctx.path = parse_function_path(found[function_path]);
  if (!found[call_index].empty()) ctx.call_index = parse_call_index(found[call_index]);
  ctx.run_end = is_true(found[run_end]) || is_true(found[session_final]);
  return ctx;
}

// ---------------------------------------------------------------------------------------------
// RunTable

namespace {
struct RunState {
  std::string id;
  std::size_t id_hash = 0;
  Clock::time_point last_seen;
  std::uint32_t calls = 0;
  RunSource source = RunSource::header;
  std::unordered_map<std::string, std::uint32_t, ViewHash, std::equal_to<>>
      per_path;  // path_key -> calls so far
};
// An index key: a view of a run id with its hash, so a lookup does not hash the id again.
struct HashedId {
  std::string_view id;
  std::size_t hash;
  bool operator==(const HashedId& o) const { return hash == o.hash && id == o.id; }
};
struct HashedIdHash {
  std::size_t operator()(const HashedId& k) const noexcept { return k.hash; }
};

std::size_t hash_id(std::string_view run_id) { return hash_bytes(run_id); }
}  // namespace

struct RunTable::Shard {
  mutable std::mutex mu;
  std::list<RunState>
      lru;  // front = most recently used; list nodes never move, so views stay valid
  // Open addressing: a full table of idle runs is cold, and a lookup should cost one or two
  // cache misses, not a walk through nodes.
  boost::unordered_flat_map<HashedId, std::list<RunState>::iterator, HashedIdHash>
      index;  // keys view RunState::id
  std::uint64_t evicted = 0;

  void erase(std::list<RunState>::iterator it) {
    index.erase(HashedId{it->id, it->id_hash});
    lru.erase(it);
  }
};

struct RunTable::Counters {
  std::array<std::array<std::atomic<std::uint64_t>, 3>, kRunSources> n{};
  void add(RunSource s, int event) {
    n[static_cast<std::size_t>(s)][event].fetch_add(1, std::memory_order_relaxed);
  }
};
namespace {
constexpr int kStarted = 0, kContinued = 1, kEnded = 2;
}  // namespace

std::string_view to_string(RunSource s) {
  switch (s) {
    case RunSource::header:
      return "header";
    case RunSource::session_header:
      return "session_header";
    case RunSource::previous_response:
      return "previous_response";
    case RunSource::conversation:
      return "conversation";
    case RunSource::sub_agent:
      return "sub_agent";
  }
  return "header";
}

std::array<RunEvents, kRunSources> RunTable::events() const {
  std::array<RunEvents, kRunSources> out{};
  for (std::size_t i = 0; i < kRunSources; ++i) {
    const auto& c = counters_->n[i];
    out[i] = {c[kStarted].load(std::memory_order_relaxed),
              c[kContinued].load(std::memory_order_relaxed),
              c[kEnded].load(std::memory_order_relaxed)};
  }
  return out;
}

struct RunTable::ResponseLinks {
  mutable std::mutex mu;
  std::unordered_map<std::string, std::string> run_of;  // response id -> run id
  std::deque<std::string> order;                        // response ids, oldest first
  std::size_t cap = 1;
};

RunTable::RunTable(std::size_t max_runs, Clock::duration idle_timeout, std::size_t shards)
    : idle_timeout_(idle_timeout),
      links_(std::make_unique<ResponseLinks>()),
      counters_(std::make_unique<Counters>()) {
  max_runs = std::max<std::size_t>(max_runs, 1);
  links_->cap = max_runs;
  // More shards than runs would make the bound meaningless (each shard holds at least one run).
  shards = std::clamp<std::size_t>(shards, 1, max_runs);
  per_shard_cap_ = (max_runs + shards - 1) / shards;
  shards_.reserve(shards);
  for (std::size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

RunTable::~RunTable() = default;

RunTable::Shard& RunTable::shard_for(std::size_t run_hash) const {
  return *shards_[run_hash % shards_.size()];
}

RunTable::Assignment RunTable::record_call(std::string_view run_id,
                                           std::span<const std::string> path,
                                           std::optional<std::uint32_t> index_override,
                                           bool run_end, Clock::time_point now, RunSource source) {
  const std::string_view key = path_key(path);  // built outside the lock
  const HashedId hashed{run_id, hash_id(run_id)};
  Shard& shard = shard_for(hashed.hash);
  std::lock_guard lock(shard.mu);

  auto found = shard.index.find(hashed);
  if (found == shard.index.end()) {
    counters_->add(source, kStarted);
    if (run_end) {
      counters_->add(source, kEnded);
      return {index_override.value_or(1), 1};  // first call is also the last: keep nothing
    }
    if (shard.lru.size() >= per_shard_cap_) {
      counters_->add(shard.lru.back().source, kEnded);
      shard.erase(std::prev(shard.lru.end()));
      ++shard.evicted;
    }
    shard.lru.emplace_front();
    RunState& fresh = shard.lru.front();
    fresh.id.assign(run_id);
    fresh.id_hash = hashed.hash;
    fresh.source = source;
    found = shard.index.emplace(HashedId{fresh.id, fresh.id_hash}, shard.lru.begin()).first;
  } else {
    counters_->add(source, kContinued);  // by what tied this call to the run
    if (found->second != shard.lru.begin()) {
      shard.lru.splice(shard.lru.begin(), shard.lru, found->second);
    }
  }
  RunState& run = *found->second;
  run.last_seen = now;
  run.calls = saturating_inc(run.calls);

  Assignment a{index_override.value_or(1), run.calls};
  if (auto it = run.per_path.find(key); it != run.per_path.end()) {
    it->second = index_override ? *index_override : saturating_inc(it->second);
    a.call_index = it->second;
  } else if (run.per_path.size() < kMaxPathsPerRun) {
    run.per_path.emplace(std::string(key), a.call_index);
  }
  if (run_end) {
    counters_->add(run.source, kEnded);
    shard.erase(found->second);
  }
  return a;
}

void RunTable::touch(std::string_view run_id, Clock::time_point now) {
  const HashedId hashed{run_id, hash_id(run_id)};
  Shard& shard = shard_for(hashed.hash);
  std::lock_guard lock(shard.mu);
  auto found = shard.index.find(hashed);
  if (found == shard.index.end()) return;
  found->second->last_seen = std::max(found->second->last_seen, now);
  shard.lru.splice(shard.lru.begin(), shard.lru, found->second);
}

bool RunTable::live(std::string_view run_id, Clock::time_point now) const {
  const HashedId hashed{run_id, hash_id(run_id)};
  Shard& shard = shard_for(hashed.hash);
  std::lock_guard lock(shard.mu);
  const auto found = shard.index.find(hashed);
  return found != shard.index.end() && now - found->second->last_seen < idle_timeout_;
}

void RunTable::forget(std::string_view run_id) {
  const HashedId hashed{run_id, hash_id(run_id)};
  Shard& shard = shard_for(hashed.hash);
  std::lock_guard lock(shard.mu);
  if (auto found = shard.index.find(hashed); found != shard.index.end()) {
    counters_->add(found->second->source, kEnded);
    shard.erase(found->second);
  }
}

std::vector<std::string> RunTable::expire(Clock::time_point now) {
  std::vector<std::string> expired;
  for (auto& shard_ptr : shards_) {
    Shard& shard = *shard_ptr;
    std::lock_guard lock(shard.mu);
    // The list is in last-use order, so the idle runs are a suffix. Concurrent callers may pass
    // slightly out-of-order `now`s; a run that lands out of place is caught by a later sweep.
    while (!shard.lru.empty() && now - shard.lru.back().last_seen >= idle_timeout_) {
      auto last = std::prev(shard.lru.end());
      counters_->add(last->source, kEnded);
      // Before the move: the index key is a view of this string.
      shard.index.erase(HashedId{last->id, last->id_hash});
      expired.push_back(std::move(last->id));
      shard.lru.erase(last);
    }
  }
  return expired;
}

void RunTable::link_response(std::string_view response_id, std::string_view run_id) {
  auto& l = *links_;
  std::lock_guard lock(l.mu);
  auto [it, added] = l.run_of.try_emplace(std::string(response_id), run_id);
  if (!added) {
    it->second.assign(run_id);
    return;
  }
  l.order.emplace_back(response_id);
  if (l.order.size() > l.cap) {
    l.run_of.erase(l.order.front());
    l.order.pop_front();
  }
}

std::optional<std::string> RunTable::run_of_response(std::string_view response_id) const {
  const auto& l = *links_;
  std::lock_guard lock(l.mu);
  const auto it = l.run_of.find(std::string(response_id));
  if (it == l.run_of.end()) return std::nullopt;
  return it->second;
}

std::size_t RunTable::size() const {
  std::size_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    n += shard->lru.size();
  }
  return n;
}

std::uint64_t RunTable::evicted() const {
  std::uint64_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    n += shard->evicted;
  }
  return n;
}

namespace {

// The run of a call that named none, from its conversation (see extract_context). Sets run_id,
// path (when the client sent none) and source.
void infer_run(const ConversationShape& conv, ConversationTable& table, const RunTable& runs,
               CallContext& ctx, Clock::time_point now) {
  const bool client_path = !ctx.path.empty();
  auto found = table.find(conv);
  // A conversation whose run has ended (idle, or the table forgot it) starts a new run.
  if (found && !runs.live(found->place->run_id, now)) found.reset();
  const bool continues = found && !found->new_turn;
  const std::string name = table.agent_name(conv, !continues, unix_now_ms());
  std::shared_ptr<const ConversationTable::Place> place;
  bool sub_agent = false;
  if (continues) {
    ctx.run_id = found->place->run_id;
    if (!client_path) ctx.path = found->place->path;
    ctx.source = RunSource::conversation;
    sub_agent = found->place->sub_agent;
    if (!client_path) place = std::move(found->place);  // the run's calls share its place
  } else {
    std::shared_ptr<const ConversationTable::Place> parent;
    if (!found && conv.task != 0) parent = table.take_task(conv.task);
    if (parent && !runs.live(parent->run_id, now)) parent.reset();
    if (parent) {  // a sub-agent: its calls are calls of the parent's run, one level down
      ctx.run_id = parent->run_id;
      if (!client_path) {
        ctx.path = parent->path;
        if (ctx.path.size() < kMaxPathNames) ctx.path.push_back(name);
      }
      ctx.source = RunSource::sub_agent;
      sub_agent = true;
    } else {
      ctx.run_id = generate_run_id();
      if (!client_path) ctx.path = {name};
      ctx.source = RunSource::conversation;
    }
  }
  ctx.ends_at_answer = !sub_agent;
  if (!place) {
    place = std::make_shared<const ConversationTable::Place>(
        ConversationTable::Place{ctx.run_id, ctx.path, sub_agent});
  }
  ctx.place = place;
  table.remember(conv.prefix.back(), std::move(place));
}

}  // namespace

CallContext extract_context(const RequestHead& headers, const RequestInfo& info, RunTable& runs,
                            Clock::time_point now, ConversationTable* conversations) {
  ClientContext client = parse_client_context(headers, info);
  CallContext ctx;
  ctx.path = std::move(client.path);
  ctx.run_end = client.run_end;
  ctx.client_final = client.run_end;
  ctx.parent_id = std::move(client.parent_id);
  if (client.run_id) {
    ctx.run_id = std::move(*client.run_id);
    ctx.run_named_by_client = true;
    ctx.source = client.source;
  } else if (std::optional<std::string> run;
             info.dialect == Dialect::responses && !info.previous_response_id.empty() &&
             (run = runs.run_of_response(info.previous_response_id))) {
    // Responses chain their calls through previous_response_id: the run of the response named,
    // on the path its agent's calls take (the input holds only what is new, so it extends no
    // conversation augur saw).
    ctx.run_id = std::move(*run);
    ctx.source = RunSource::previous_response;
    if (conversations && ctx.path.empty() && !info.conversation.prefix.empty()) {
      ctx.path = {conversations->agent_name(info.conversation, false, unix_now_ms())};
    }
  } else if (conversations && !info.conversation.prefix.empty()) {
    infer_run(info.conversation, *conversations, runs, ctx, now);
    // A Responses answer may be continued by naming it (previous_response_id), even after a
    // final answer: such runs end by the idle timeout.
    if (info.dialect == Dialect::responses) ctx.ends_at_answer = false;
  } else if (info.dialect == Dialect::responses) {
    // A Responses call with nothing to go by starts a run later calls may continue by naming
    // its response (no client id: no router session for it).
    ctx.run_id = generate_run_id();
    ctx.source = RunSource::previous_response;
  } else {
    // A call with no run id is a run of its own: one call, already over.
    ctx.run_id = generate_run_id();
    ctx.run_id_from_client = false;
    ctx.call_index = client.call_index.value_or(1);
    ctx.calls_in_run = 1;
    ctx.run_end = true;
    return ctx;
  }
  ctx.run_id_from_client = true;
  const RunTable::Assignment a =
      runs.record_call(ctx.run_id, ctx.path, client.call_index, ctx.run_end, now, *ctx.source);
  ctx.call_index = a.call_index;
  ctx.calls_in_run = a.calls_in_run;
  return ctx;
}

}  // namespace augur::proxy
