// Tells 4-level from 5-level paging from the page tables alone (there is no CR4 over DMA).
#pragma once

#include "common/address.hpp"
#include "common/error.hpp"
#include "transport/physical_memory.hpp"

namespace tlpstub::kernel {

struct LevelsGuess {
  int levels = 4;
  int score4 = 0, score5 = 0;  // runs of physically contiguous 2 MiB kernel-image pages
  // Start of the longest run under the chosen depth: where the image is mapped (_text with
  // KASLR applied, for kernels whose image starts on a 2 MiB boundary, as x86-64 requires).
  std::uint64_t image_va = 0;
  std::uint64_t image_pa = 0;
};

// Walks the kernel-image mapping (__START_KERNEL_map, 0xffffffff80000000) as a 4-level and as
// a 5-level table and counts the physically contiguous 2 MiB pages each interpretation finds:
// x86-64 Linux maps its image with 2 MiB pages on one contiguous physical range
// (arch/x86/kernel/head_64.S, level2_kernel_pgt), and the wrong interpretation lands in the
// fixmap or espfix tables, which hold 4 KiB mappings. An error if neither finds the image.
Result<LevelsGuess> guess_paging_levels(PhysicalMemory& mem, PhysAddr top,
                                        std::uint64_t sme_mask = 0);

}  // namespace tlpstub::kernel
