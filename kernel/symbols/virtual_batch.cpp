#include "kernel/symbols/virtual_batch.hpp"

#include <algorithm>

namespace tlpstub::kernel {

std::vector<std::optional<std::vector<std::uint8_t>>> read_virtual_batch(
    PhysicalMemory& mem, PageWalker& walker, PhysAddr top, std::span<const VirtualRead> reads) {
  std::vector<std::optional<std::vector<std::uint8_t>>> out(reads.size());
  // Every page of every usable range, translated together.
  std::vector<VirtAddr> pages;
  std::vector<std::size_t> first_page(reads.size(), 0);
  std::vector<bool> usable(reads.size(), false);
  for (std::size_t i = 0; i < reads.size(); ++i) {
    const VirtualRead& r = reads[i];
    first_page[i] = pages.size();
    if (r.len == 0 || r.len > kMaxVirtualRead || r.va + r.len < r.va) continue;
    usable[i] = true;
    for (std::uint64_t p = r.va & ~kPageMask; p < r.va + r.len; p += kPageSize)
      pages.push_back(VirtAddr(p));
  }
  const auto tr = walker.translate_many(top, pages);

  std::vector<ReadRange> ranges;
  std::vector<std::size_t> owner;  // the range each physical piece belongs to
  for (std::size_t i = 0; i < reads.size(); ++i) {
    if (!usable[i]) continue;
    const VirtualRead& r = reads[i];
    const std::size_t npages = ((r.va + r.len - 1) >> 12) - (r.va >> 12) + 1;
    bool mapped = true;
    for (std::size_t k = 0; k < npages; ++k) mapped = mapped && tr[first_page[i] + k].has_value();
    if (!mapped) continue;
    out[i].emplace(r.len);
    std::size_t page = first_page[i];
    for (std::uint64_t off = 0; off < r.len; ++page) {
      const std::uint64_t va = r.va + off;
      const std::uint64_t n = std::min<std::uint64_t>(r.len - off, kPageSize - (va & kPageMask));
      const Translation& t = *tr[page];
      const std::uint64_t pa = t.page_base().value + (va & (t.page_size - 1));
      ranges.push_back({PhysAddr(pa), std::span(*out[i]).subspan(off, n)});
      owner.push_back(i);
      off += n;
    }
  }
  std::vector<ReadStatus> st(ranges.size());
  if (!ranges.empty()) mem.read(ranges, st);
  for (std::size_t k = 0; k < ranges.size(); ++k)
    if (!st[k]) out[owner[k]].reset();
  return out;
}

}  // namespace tlpstub::kernel
