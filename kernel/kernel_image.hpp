// What kernel discovery found in physical memory (kernel/discovery.hpp): the version, where the
// image sits physically and virtually (KASLR), its page table and the randomized region bases.
// Every field comes with a note in `notes` saying where it was found, how, and how sure.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/address.hpp"

namespace tlpstub::kernel {

// __START_KERNEL_map: the kernel image mapping (arch/x86/include/asm/page_64_types.h).
inline constexpr std::uint64_t kStartKernelMap = 0xffffffff80000000ull;
// _text without KASLR: __START_KERNEL_map + CONFIG_PHYSICAL_START (0x1000000 by default,
// arch/x86/Kconfig); KERNELOFFSET in VMCOREINFO is _text minus this (kaslr_offset()).
inline constexpr std::uint64_t kDefaultTextVa = 0xffffffff81000000ull;

// What discovery cost: ranges asked of PhysicalMemory (each one a DMA read request or more),
// bytes asked for, wall time.
struct DiscoveryCost {
  std::uint64_t reads = 0, bytes = 0;
  double seconds = 0;
};

struct KernelImage {
  std::string banner;             // full "Linux version ..." line (no trailing newline)
  std::string release;            // "6.1.0-56-cloud-amd64"
  std::string build_id;           // from VMCOREINFO if present
  std::uint64_t text_va = 0;      // runtime _text
  std::uint64_t kaslr_slide = 0;  // _text - 0xffffffff81000000 (== KERNELOFFSET)
  // __pa(x) = x - 0xffffffff80000000 + phys_base for image addresses. Modulo 2^64: it is
  // "negative" whenever the image sits physically below its link offset (NUMBER(phys_base) in
  // VMCOREINFO prints it signed, e.g. -140509184).
  std::uint64_t phys_base = 0;
  std::uint64_t banner_va = 0, banner_pa = 0;
  PhysAddr top;                   // kernel top-level table (init_top_pgt), kernel half
  std::uint64_t top_va = 0;       // VA of init_top_pgt
  int levels = 4;
  std::uint64_t sme_mask = 0;
  // 0 = unknown (a note says why; the symbols step can read the variables later).
  std::uint64_t page_offset_base = 0, vmalloc_base = 0, vmemmap_base = 0;
  std::map<std::string, std::string> vmcoreinfo;  // raw key=value lines, empty if absent
  std::uint64_t vmcoreinfo_pa = 0;
  std::string method;             // "vmcoreinfo" or "scan"
  std::vector<std::string> notes; // human-readable findings: what, where, how sure
  DiscoveryCost cost;

  // Physical address of a kernel-image virtual address (no page walk: the image is
  // physically contiguous).
  std::uint64_t image_pa(std::uint64_t va) const { return va - kStartKernelMap + phys_base; }
};

}  // namespace tlpstub::kernel
