// Fuzzes the ORC unwind tables as read from memory (kernel/linux/orc.*): the table builder
// and lookups over hostile ip and entry arrays, in each entry-format generation.
//
// Input: [format 0..2, bit 7: unpaired][4 unused][u64 probe ips: 4][ips: 4 n][entries: 6 n]
// Invariants: no crash or sanitizer report; a built table's lookups return an entry whose
// start is at or below the ip, and nothing at or above `limit`.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "kernel/linux/orc.hpp"

using namespace tlpstub::kernel;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 + 4 + 32) return 0;
  // The three generations orc_format() knows (6.4+, 6.3, 4.18..6.2).
  static const char* const kReleases[] = {"6.12.0", "6.3.0", "6.1.0-27-amd64"};
  auto f = orc_format(nullptr, kReleases[(data[0] & 0x7f) % 3]);
  if (!f) std::abort();
  std::uint64_t probes[4];
  std::memcpy(probes, data + 5, sizeof probes);
  std::span<const std::uint8_t> rest(data + 37, size - 37);
  // n pairs; bit 7 of the first byte drops a byte so that the arrays do not pair.
  const std::size_t n = rest.size() / 10;
  auto ips = rest.first(4 * n);
  auto entries = rest.subspan(4 * n, 6 * n - ((data[0] & 0x80) && n ? 1 : 0));
  constexpr std::uint64_t kIpVa = 0xffffffff82000000ull;
  auto t = OrcTable::from_bytes(kIpVa, ips, entries, *f);
  if (entries.size() >= 6) (void)orc_decode(entries.first<6>(), *f);
  if (!t) return 0;
  t->limit = probes[3];
  for (std::uint64_t ip : probes) {
    const OrcEntry* e = t->find(ip);
    if (!e) continue;
    if (ip >= t->limit) std::abort();
  }
  for (std::size_t i = 1; i < t->size(); ++i)
    if (t->start(i) < t->start(i - 1)) std::abort();  // lookups rely on sorted starts
  return 0;
}
