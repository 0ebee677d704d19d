// Fuzzes Http1Parser (augur's HTTP/1.1 parser for client requests and upstream responses) against
// Beast's basic_parser, the parser it replaced: both must accept or reject a message alike and give
// the same head, body bytes and framing (keep_alive, chunked, upgrade, need_eof, content_length),
// fed whole, split in two and, for short messages, a byte at a time (proxy/
// http1_reference.hpp holds the comparison and the deliberate differences it excludes).
//
// Input: a flags byte, a split byte, then the message bytes. Flags: bit 0 response (else request),
// bit 1 the response answers a HEAD request (skip), bit 2 eager, bit 3 body bytes taken 7 at a time
// (need_buffer, as a full relay buffer), bits 4-5 header_limit (8192, 40, 200, 1000), bit 6
// body_limit 100 (else unlimited), bit 7 also feed the message a byte at a time. Split: the two
// pieces are cut at split/255 of the message.
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.hpp"
#include "proxy/http/http1_reference.hpp"

namespace {

namespace ref = augur::http1_reference;

// Byte-at-a-time feeding costs a put per byte (and a copy per put in ref::run): kept to messages
// where that stays fast.
constexpr std::size_t kMaxBytewise = 2048;

template <bool isRequest>
void check(std::string_view msg, const ref::Setup& s, std::size_t cut, bool bytewise) {
  std::vector<std::vector<std::string_view>> splits;
  splits.push_back({msg.substr(0, cut), msg.substr(cut)});
  if (bytewise && msg.size() <= kMaxBytewise) {
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < msg.size(); ++i) bytes.push_back(msg.substr(i, 1));
    splits.push_back(std::move(bytes));
  }
  const ref::Verdict v = ref::compare<isRequest>(msg, s, splits);
  if (!v.mismatch.empty()) {
    std::fprintf(stderr, "%s (cut=%zu of %zu, header_limit=%u, eager=%d, skip=%d)\n",
                 v.mismatch.c_str(), cut, msg.size(), s.header_limit, s.eager, s.skip);
  }
  FUZZ_CHECK(v.mismatch.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const unsigned flags = data[0];
  const std::string_view msg = augur::fuzz::as_text(data + 2, size - 2);
  const std::size_t cut = msg.size() * data[1] / 255;

  static constexpr std::uint32_t kHeaderLimits[] = {8192, 40, 200, 1000};
  ref::Setup s;
  const bool response = flags & 1;
  s.skip = response && (flags & 2);
  s.eager = flags & 4;
  if (flags & 8) s.cap = 7;
  s.header_limit = kHeaderLimits[(flags >> 4) & 3];
  if (flags & 64) s.body_limit = 100;
  const bool bytewise = flags & 128;
  if (response) {
    check<false>(msg, s, cut, bytewise);
  } else {
    check<true>(msg, s, cut, bytewise);
  }
  return 0;
}
