// Kernel discovery: what kernel is in this physical memory, where, and with which page table,
// with nothing known in advance (KASLR on, no symbols, no CPU registers).
//
// Two ways, both validated by page-table translation, never by "first match":
//  - "vmcoreinfo": the VMCOREINFO page (found by probing page starts for "OSRELEASE=") names
//    init_top_pgt, phys_base, _stext, KERNELOFFSET, the paging depth and the SME mask. It is
//    accepted only if the table it names maps itself, _stext and init_uts_ns (whose release
//    must equal OSRELEASE): a VMCOREINFO page left over from an earlier boot fails this.
//  - "scan" (no VMCOREINFO, or use_vmcoreinfo=false): one small read per 2 MiB finds the image
//    (the init task's stack at _sdata, see discovery_image.cpp), the top-level table is found by
//    structure among the pages after it, and a candidate table is accepted only if it maps the
//    image onto itself (the table's own page, _sdata) and maps the banner read-only.
// Either way the real linux_banner is the one the accepted table maps read-only inside the
// image, with a build number (not the 6.1+ placeholder, not the printk copy in .bss).
//
// Cost (measured on 512 MiB QEMU guests, see the report in qemu-test/discovery_check.sh): the
// scan path reads a few MiB at most, independent of RAM size; the VMCOREINFO probe reads
// 16 bytes per page in priority order (after the image, top of RAM, bottom of RAM, the rest)
// and is capped (kVmcoreinfoMaxPages); past the cap discovery falls back to the scan.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "kernel/kernel_image.hpp"
#include "transport/physical_memory.hpp"

namespace tlpstub::kernel {

using ProgressFn = std::function<void(std::string_view)>;

struct DiscoveryOptions {
  bool use_vmcoreinfo = true;  // false forces the fallback
  std::uint64_t max_phys = 0;  // 0 = mem.info().max_address (and 64 GiB if that is unknown too)
  // VMCOREINFO text known from elsewhere (an ELF core's note): tried first, validated like a
  // page found in memory (it names the page table, which must map the kernel it describes).
  std::string vmcoreinfo_text{};
};

// Page starts the VMCOREINFO probe reads at most (16 bytes each): 2 GiB of RAM, 8 MiB read.
inline constexpr std::uint64_t kVmcoreinfoMaxPages = 512 * 1024;
// Physical ceiling scanned when neither the caller nor the memory knows the RAM size.
inline constexpr std::uint64_t kUnknownRamCeiling = 64ull << 30;

Result<KernelImage> discover(PhysicalMemory& mem, const DiscoveryOptions& opts = {},
                             const ProgressFn& progress = {});

}  // namespace tlpstub::kernel
