// The access log: one JSON line per finished request (DESIGN.md, README "Access log"), written to
// stdout or a file by a background spdlog thread so io threads never wait on the disk. Off by
// default (`access_log.target: off`).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class async_logger;
namespace details {
class thread_pool;
}
}  // namespace spdlog

namespace augur::proxy {

struct RequestRecord;

class AccessLog {
 public:
  // `target` is "stdout" or a file path (appended to, created when missing). Throws
  // std::runtime_error when the file cannot be opened.
  explicit AccessLog(const std::string& target);
  // Writes out the lines still queued.
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Queues `lines` (one or more JSON lines separated by '\n', without a final newline) for the
  // writer. Never blocks: when the writer is behind by a full queue the oldest batch is dropped
  // and counted. Thread-safe. Io threads batch their lines (Worker), so the writer wakes once per
  // batch rather than once per request.
  void write(std::string_view lines);

  // Batches dropped so far. Thread-safe.
  std::uint64_t dropped_batches() const;

  // The JSON line for a record, without the newline, appended to `out`. Pure, thread-safe.
  static void format(const RequestRecord& r, std::string& out);

 private:
  std::shared_ptr<spdlog::details::thread_pool> pool_;
  std::shared_ptr<spdlog::async_logger> logger_;
};

}  // namespace augur::proxy
