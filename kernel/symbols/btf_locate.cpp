#include "kernel/symbols/btf_locate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <vector>

#include "kernel/discovery_detail.hpp"
#include "kernel/page_walker.hpp"
#include "kernel/paging.hpp"
#include "transport/counting_memory.hpp"

namespace tlpstub::kernel {

namespace {

using detail::k2M;
constexpr std::uint64_t kChunk = 1ull << 20;
// Largest [__start_BTF, __stop_BTF) accepted from symbols (Debian 6.12: 4.7 MiB).
constexpr std::uint64_t kMaxBtfRange = 64ull << 20;
constexpr std::array<std::uint8_t, 8> kSignature = {0x9F, 0xEB, 0x01, 0x00, 0x18, 0x00, 0x00, 0x00};

// [pa, pa + out.size()) as 4 KiB ranges in one batch. Returns how many pages failed; failed
// pages read as zeros (a BTF candidate over them then fails to parse).
std::size_t read_pages(PhysicalMemory& mem, std::uint64_t pa, std::span<std::uint8_t> out) {
  std::vector<ReadRange> ranges;
  for (std::uint64_t off = 0; off < out.size();) {
    const std::uint64_t n = std::min<std::uint64_t>(out.size() - off, kPageSize - ((pa + off) & kPageMask));
    ranges.push_back({PhysAddr(pa + off), out.subspan(off, n)});
    off += n;
  }
  std::vector<ReadStatus> st(ranges.size());
  mem.read(ranges, st);
  std::size_t failed = 0;
  for (std::size_t i = 0; i < ranges.size(); ++i)
    if (!st[i]) {
      ++failed;
      std::fill(ranges[i].out.begin(), ranges[i].out.end(), 0);
    }
  return failed;
}

// Parses a candidate and checks that it is vmlinux BTF (it defines task_struct).
Result<std::shared_ptr<const btf::Btf>> accept(std::span<const std::uint8_t> bytes) {
  auto b = btf::Btf::parse(bytes);
  if (!b) return std::unexpected(b.error());
  if (auto ts = b->find(btf::Kind::struct_, "task_struct"); !ts)
    return std::unexpected(Error{Errc::malformed, "BTF without struct task_struct (not vmlinux "
                                                  "BTF: a module's split BTF?)", 0});
  return std::make_shared<const btf::Btf>(std::move(*b));
}

// The read-only, NX slots of the image run that holds _text: .rodata up to _sdata.
Result<std::pair<std::uint64_t, std::uint64_t>> rodata_pa(PageWalker& w, const KernelImage& img) {
  const detail::ImageMap m = detail::map_image(w, img.top);
  const std::uint64_t text_pa = img.image_pa(img.text_va) & ~(k2M - 1);
  auto run = detail::run_containing(m, text_pa);
  if (!run)
    return std::unexpected(Error{Errc::not_found,
                                 fmt::format("the page table does not map _text ({:#x}) in 2 MiB "
                                             "slots", img.text_va), 0});
  unsigned b = run->first;
  const unsigned end = run->first + run->count;
  while (b < end && !(m.slot[b]->nx && !m.slot[b]->writable)) ++b;
  unsigned e = b;
  while (e < end && m.slot[e]->nx && !m.slot[e]->writable) ++e;
  if (b == e)
    return std::unexpected(Error{Errc::not_found, "no read-only part (.rodata) in the image", 0});
  return std::pair(run->pa + (b - run->first) * k2M, run->pa + (e - run->first) * k2M);
}

}  // namespace

Result<BtfFound> recover_btf(PhysicalMemory& memory, const KernelImage& img,
                             std::optional<VaRange> range) {
  const auto t0 = std::chrono::steady_clock::now();
  CountingMemory mem(memory);
  PageWalker w(mem, img.levels, img.sme_mask);
  auto finish = [&](BtfFound f) {
    const MemoryCounters c = mem.counters();
    f.cost = {c.ranges, c.bytes,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
    return f;
  };

  if (range) {
    if (range->stop <= range->start || range->stop - range->start > kMaxBtfRange)
      return std::unexpected(Error{Errc::invalid_argument,
                                   fmt::format("BTF range {:#x}-{:#x} is empty or too large",
                                               range->start, range->stop), 0});
    // The image is physically contiguous; the walk confirms the symbol is inside it.
    auto tr = w.translate(img.top, VirtAddr(range->start));
    if (!tr) return std::unexpected(tr.error());
    if (tr->phys.value != img.image_pa(range->start))
      return std::unexpected(Error{Errc::malformed,
                                   fmt::format("__start_BTF {:#x} is not in the kernel image",
                                               range->start), range->start});
    std::vector<std::uint8_t> buf(range->stop - range->start);
    if (read_pages(mem, tr->phys.value, buf))
      return std::unexpected(Error{Errc::unbacked, "part of [__start_BTF, __stop_BTF) is unreadable",
                                   range->start});
    auto b = accept(buf);
    if (!b) return std::unexpected(b.error());
    return finish(BtfFound{*b, range->start, tr->phys.value, (*b)->size_bytes(),
                           "__start_BTF/__stop_BTF", {}});
  }

  auto ro = rodata_pa(w, img);
  if (!ro) return std::unexpected(ro.error());
  const auto [ro_begin, ro_end] = *ro;
  const std::uint64_t lo = std::max(ro_begin, ro_end - std::min(ro_end - ro_begin, kMaxBtfScan));
  // One buffer for [lo, ro_end), filled from the top down, so a candidate's whole blob is
  // already read when its header is seen.
  std::vector<std::uint8_t> buf(ro_end - lo);
  std::vector<std::string> rejected;
  for (std::uint64_t top = ro_end; top > lo;) {
    const std::uint64_t bottom = top - std::min(kChunk, top - lo);
    read_pages(mem, bottom, std::span(buf).subspan(bottom - lo, top - bottom));
    // Headers starting in [bottom, top); the signature may reach into the chunk above.
    const std::uint64_t scan_end = std::min(ro_end, top + kSignature.size() - 1);
    const std::uint8_t* base = buf.data() + (bottom - lo);
    const std::uint8_t* stop = buf.data() + (scan_end - lo);
    // Highest first: it is the last thing in .rodata with a header, and stale copies or a
    // module's split BTF sit lower if anywhere.
    for (const std::uint8_t* p = stop - kSignature.size(); p >= base; --p) {
      if (std::memcmp(p, kSignature.data(), kSignature.size())) continue;
      const std::uint64_t pa = lo + (p - buf.data());
      const std::span<const std::uint8_t> rest(p, buf.data() + buf.size());
      auto size = btf::Btf::claimed_size(rest, rest.size());
      auto b = size ? accept(rest.first(*size)) : std::unexpected(size.error());
      if (!b) {
        if (rejected.size() < 8)
          rejected.push_back(fmt::format("{:#x}: {}", pa, b.error().message));
        continue;
      }
      const std::uint64_t va = pa - img.phys_base + kStartKernelMap;
      return finish(BtfFound{*b, va, pa, *size,
                             fmt::format("header scan of .rodata downwards from {:#x} (phys), "
                                         "{} candidate(s) rejected", ro_end, rejected.size()),
                             {}});
    }
    top = bottom;
  }
  std::string why;
  for (const std::string& r : rejected) why += "; " + r;
  return std::unexpected(Error{Errc::not_found,
                               fmt::format("no vmlinux BTF in {:#x}-{:#x} (the read-only part of "
                                           "the image){}: kernel built without "
                                           "CONFIG_DEBUG_INFO_BTF?",
                                           lo, ro_end, why), 0});
}

std::optional<VaRange> btf_range(const SymbolTable& symbols) {
  auto start = symbols.find("__start_BTF"), stop = symbols.find("__stop_BTF");
  if (start.empty() || stop.empty() || stop[0]->address <= start[0]->address) return std::nullopt;
  return VaRange{start[0]->address, stop[0]->address};
}

}  // namespace tlpstub::kernel
