// Fuzzes what the network hands the NetTLP client (completion parser + reassembly) and tlpsim
// (request parser).
//
// Input: u16 LE request length (mod 4096, +1), u64 LE request address, then datagrams, each a
// u16 LE size followed by that many bytes. Every datagram goes through parse_completion and, if
// it parses, into a ReadAssembly for the request, whose output buffer is fenced by canaries;
// every datagram also goes through parse_request.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "transport/tlp_codec.hpp"

using namespace tlpstub::tlp;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 10) return 0;
  const std::uint32_t len = (std::uint32_t{data[0]} | std::uint32_t{data[1]} << 8) % 4096 + 1;
  std::uint64_t addr = 0;
  std::memcpy(&addr, data + 2, 8);
  constexpr std::size_t kFence = 64;
  std::vector<std::uint8_t> out(len + 2 * kFence, 0xA5);
  ReadAssembly ra;
  ra.reset(addr, len);
  std::size_t pos = 10;
  bool done = false;
  while (pos + 2 <= size) {
    std::size_t n = data[pos] | data[pos + 1] << 8;
    pos += 2;
    n = std::min(n, size - pos);
    std::span<const std::uint8_t> d(data + pos, n);
    pos += n;
    (void)parse_request(d);
    auto c = parse_completion(d);
    if (!c) continue;
    check(c->byte_count >= 1 && c->byte_count <= 4096);
    check(c->data.size() <= c->byte_count);
    check(c->data.empty() || (c->data.data() >= d.data() && c->data.data() + c->data.size() <= d.data() + d.size()));
    auto o = ra.accept(*c, std::span<std::uint8_t>(out.data() + kFence, len));
    check(ra.received() <= len);
    if (o.verdict == ReadAssembly::Verdict::complete) {
      check(!done && ra.received() == len);
      done = true;
    }
    if (o.verdict == ReadAssembly::Verdict::error_status) check(o.error_address >= addr);
  }
  for (std::size_t i = 0; i < kFence; ++i) check(out[i] == 0xA5 && out[kFence + len + i] == 0xA5);
  return 0;
}
