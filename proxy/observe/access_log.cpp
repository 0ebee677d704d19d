#include "proxy/observe/access_log.hpp"

#include <fmt/format.h>
#include <spdlog/async_logger.h>
#include <spdlog/details/thread_pool.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <ctime>
#include <iterator>
#include <stdexcept>

#include "common/json_string.hpp"
#include "proxy/observe/request_record.hpp"

namespace augur::proxy {

namespace {

// Batches the writer may fall behind by before the oldest is dropped: with io threads handing
// over at most kMaxLogBatch bytes (Worker) that bounds the queue near 64 MiB.
constexpr std::size_t queue_batches = 1024;

// RFC 3339 UTC with milliseconds, e.g. 2024-05-01T12:00:00.123Z.
void append_time(std::string& out, std::int64_t unix_ms) {
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  fmt::format_to(std::back_inserter(out), "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 static_cast<int>(unix_ms % 1000));
}

void append_ms(std::string& out, double seconds) {
  fmt::format_to(std::back_inserter(out), "{:.3f}", seconds * 1e3);
}

void append_string_or_null(std::string& out, std::string_view s) {
  if (s.empty()) {
    out += "null";
  } else {
    append_json_string(out, s);
  }
}

}  // namespace

AccessLog::AccessLog(const std::string& target) {
  spdlog::sink_ptr sink;
  try {
    if (target == "stdout") {
      sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(target, false);
    }
  } catch (const spdlog::spdlog_ex& e) {
    throw std::runtime_error("access_log.target: cannot open \"" + target + "\": " + e.what());
  }
  sink->set_pattern("%v");
  pool_ = std::make_shared<spdlog::details::thread_pool>(queue_batches, 1);
  logger_ = std::make_shared<spdlog::async_logger>("access", std::move(sink), pool_,
                                                   spdlog::async_overflow_policy::overrun_oldest);
  logger_->set_level(spdlog::level::info);
  // A batch is one io thread's lines of up to 100 ms: flushing each on the writer thread keeps
  // tail -f and log shippers that close behind at the cost of a few writes a second.
  logger_->flush_on(spdlog::level::info);
}

AccessLog::~AccessLog() {
  logger_->flush();
  logger_.reset();
  pool_.reset();  // joins the writer after it has written what was queued
}

void AccessLog::write(std::string_view lines) { logger_->info(lines); }

std::uint64_t AccessLog::dropped_batches() const { return pool_->overrun_counter(); }

void AccessLog::format(const RequestRecord& r, std::string& out) {
  const auto& c = r.call;
  out += "{\"time\":";
  append_time(out, c.started_at_ms);
  out += ",\"upstream\":";
  append_string_or_null(out, r.upstream);
  out += ",\"method\":";
  append_json_string(out, r.method);
  out += ",\"path\":";
  append_json_string(out, r.target);
  fmt::format_to(std::back_inserter(out),
                 ",\"status\":{},\"outcome\":\"{}\",\"duration_ms\":", r.status,
                 to_string(r.outcome));
  append_ms(out, r.duration_s);
  out += ",\"ttfb_ms\":";
  if (r.ttfb_s >= 0) {
    append_ms(out, r.ttfb_s);
  } else {
    out += "null";
  }
  out += ",\"overhead_ms\":";
  if (r.overhead_s > 0) {
    append_ms(out, r.overhead_s);
  } else {
    out += "null";
  }
  out += ",\"run_id\":";
  append_string_or_null(out, c.run_id);
  out += ",\"function_path\":[";
  for (std::size_t i = 0; i < c.path.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, c.path[i]);
  }
  out += "],\"call_index\":";
  if (c.run_id.empty()) {
    out += "null";  // rejected before its context was worked out
  } else {
    fmt::format_to(std::back_inserter(out), "{}", c.call_index);
  }
  if (r.llm_call && r.upstream_index >= 0) {
    const auto& h = c.hints;
    fmt::format_to(std::back_inserter(out),
                   ",\"hints\":{{\"source\":\"{}\",\"remaining\":{},\"osl\":{},\"iat_ms\":{},"
                   "\"latency_sensitivity\":{},\"samples\":{{\"remaining\":{},\"osl\":{},"
                   "\"iat\":{}}},\"spread\":{{\"remaining\":{},\"osl\":{},\"iat\":{}}},"
                   "\"priority\":",
                   to_string(h.source), h.remaining, h.osl, h.iat_ms, h.latency_sensitivity,
                   h.samples[0], h.samples[1], h.samples[2], h.spread[0], h.spread[1], h.spread[2]);
    if (h.priority) {
      fmt::format_to(std::back_inserter(out), "{}", *h.priority);
    } else {
      out += "null";
    }
    fmt::format_to(std::back_inserter(out), ",\"speculative_prefill\":{},\"session_final\":{}}}",
                   h.speculative_prefill, h.session_final);
  } else {
    out += ",\"hints\":null";
  }
  out += ",\"output_tokens\":";
  if (c.output_tokens) {
    fmt::format_to(std::back_inserter(out), "{}", *c.output_tokens);
  } else {
    out += "null";
  }
  out += '}';
}

}  // namespace augur::proxy
