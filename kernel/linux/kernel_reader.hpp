// KernelReader: batched reads of kernel objects by virtual address, for the Linux views.
//
// The objects the views walk (task_struct, struct pid, xa_node, mm_struct) live in the direct
// map (slab) or in the kernel image (init_task, init_pid_ns, per-CPU areas). Both are linear:
// the kernel itself converts them with arithmetic (__pa(): va - page_offset_base in the direct
// map, va - __START_KERNEL_map + phys_base in the image; arch/x86/include/asm/page_64.h), so
// no page walk is needed and every object costs one range in a batch. Any other address (user,
// vmalloc, a stray pointer) is refused without a read: that is the first validation of every
// pointer read from the target, which is untrusted input.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/address.hpp"
#include "common/deadline.hpp"
#include "transport/physical_memory.hpp"

namespace tlpstub::kernel {

struct KernelRegions {
  std::uint64_t page_offset_base = 0;  // direct map start (0: unknown, nothing accepted)
  std::uint64_t direct_map_bytes = 0;  // physical memory it may cover
  std::uint64_t image_start = 0;       // kernel image [_text, _end)
  std::uint64_t image_end = 0;
  std::uint64_t phys_base = 0;         // KernelImage::phys_base
};

struct VaRead {
  std::uint64_t va = 0;
  std::span<std::uint8_t> out;
};

struct ReaderStats {
  std::uint64_t batches = 0, ranges = 0, bytes = 0;
};

class KernelReader {
 public:
  KernelReader(PhysicalMemory& mem, const KernelRegions& r, Deadline deadline = kNoDeadline)
      : mem_(mem), r_(r), deadline_(deadline) {}

  // Physical address of [va, va+len) when it lies wholly in the direct map or the image.
  std::optional<PhysAddr> phys(std::uint64_t va, std::uint64_t len) const;
  // A plausible pointer to an object of `len` bytes: in a region and `align`-aligned.
  bool valid(std::uint64_t va, std::uint64_t len, std::uint64_t align = 8) const {
    return va % align == 0 && phys(va, len).has_value();
  }
  bool in_direct_map(std::uint64_t va) const;

  // Reads every range in ONE batch (ranges outside the regions fail without being asked).
  std::vector<ReadStatus> read(std::span<const VaRead> reads);

  const KernelRegions& regions() const { return r_; }
  const ReaderStats& stats() const { return stats_; }
  Deadline deadline() const { return deadline_; }

 private:
  PhysicalMemory& mem_;
  KernelRegions r_;
  Deadline deadline_;
  ReaderStats stats_;
};

}  // namespace tlpstub::kernel
