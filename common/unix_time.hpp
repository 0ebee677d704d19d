// Unix epoch milliseconds, the time unit of run records and observations (DESIGN "Run records").
#pragma once

#include <chrono>
#include <cstdint>

namespace augur {

inline std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

inline std::int64_t unix_now_ms() { return unix_ms(std::chrono::system_clock::now()); }

}  // namespace augur
