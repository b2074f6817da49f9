#include "kernel/linux/kernel_reader.hpp"

#include <fmt/format.h>

#include "kernel/kernel_image.hpp"

namespace tlpstub::kernel {

bool KernelReader::in_direct_map(std::uint64_t va) const {
  return r_.page_offset_base != 0 && va >= r_.page_offset_base &&
         va - r_.page_offset_base < r_.direct_map_bytes;
}

std::optional<PhysAddr> KernelReader::phys(std::uint64_t va, std::uint64_t len) const {
  if (len == 0 || va + len < va) return std::nullopt;  // empty or wraps past 2^64
  const std::uint64_t last = va + len - 1;
  if (in_direct_map(va) && in_direct_map(last)) return PhysAddr(va - r_.page_offset_base);
  if (r_.image_start != 0 && va >= r_.image_start && last < r_.image_end)
    return PhysAddr(va - kStartKernelMap + r_.phys_base);
  return std::nullopt;
}

std::vector<ReadStatus> KernelReader::read(std::span<const VaRead> reads) {
  std::vector<ReadStatus> out(reads.size());
  std::vector<ReadRange> ranges;
  std::vector<std::size_t> slot;
  ranges.reserve(reads.size());
  for (std::size_t i = 0; i < reads.size(); ++i) {
    auto pa = phys(reads[i].va, reads[i].out.size());
    if (!pa) {
      out[i] = std::unexpected(Error{
          Errc::malformed,
          fmt::format("{:#x} is neither in the direct map nor in the kernel image", reads[i].va),
          reads[i].va});
      continue;
    }
    ranges.push_back({*pa, reads[i].out});
    slot.push_back(i);
    stats_.bytes += reads[i].out.size();
  }
  if (ranges.empty()) return out;
  std::vector<ReadStatus> st(ranges.size());
  mem_.read(ranges, st, deadline_);
  ++stats_.batches;
  stats_.ranges += ranges.size();
  for (std::size_t k = 0; k < ranges.size(); ++k) out[slot[k]] = std::move(st[k]);
  return out;
}

}  // namespace tlpstub::kernel
