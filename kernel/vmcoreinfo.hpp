// VMCOREINFO: the ASCII page of "KEY=VALUE\n" lines the kernel fills for crash-dump tools, found
// in physical memory by scanning page starts for "OSRELEASE=", and parsed with bounds checks
// (the target's memory is untrusted).
//
// Source: kernel/crash_core.c (crash_save_vmcoreinfo_init, up to 6.8) and kernel/vmcore_info.c
// (6.9+): vmcoreinfo_data is one zeroed page (VMCOREINFO_BYTES = PAGE_SIZE) from
// __get_free_pages(); the first line is always OSRELEASE=, written at offset 0. The ELF-note copy
// (vmcoreinfo_note) holds the same text 24 bytes into its page, behind the note header; the
// scan does not need it. x86-64 additions: arch/x86/kernel/crash_core_64.c (6.1, 6.12:
// NUMBER(phys_base), SYMBOL(init_top_pgt), NUMBER(pgtable_l5_enabled), KERNELOFFSET,
// NUMBER(KERNEL_IMAGE_SIZE), NUMBER(sme_mask)).
//
// Value formats (vmcoreinfo macros in include/linux/crash_core.h, vmcore_info.h):
//   SYMBOL(x)=%lx   hex without 0x      KERNELOFFSET=%lx   hex without 0x
//   NUMBER(x)=%ld   signed decimal ("NUMBER(phys_base)=-140509184" [obs] Debian 6.1)
//   NUMBER(VMALLOC_START)=0x%lx        hex WITH 0x (vmcore_info.c, [obs] Debian 6.12)
//   OFFSET(s.f)=%lu SIZE(s)=%lu LENGTH(x)=%lu   unsigned decimal
//   BUILD-ID=%20phN 40 hex digits
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"
#include "common/error.hpp"
#include "transport/physical_memory.hpp"

namespace tlpstub::kernel {

inline constexpr std::string_view kVmcoreinfoMagic = "OSRELEASE=";
// VMCOREINFO_BYTES: the text never exceeds one page.
inline constexpr std::size_t kVmcoreinfoMaxBytes = 4096;

struct Vmcoreinfo {
  std::map<std::string, std::string> entries;  // every well-formed line, first occurrence wins
  std::size_t text_length = 0;                 // bytes of text before the NUL / bad byte / end
  bool ended_by_nul = false;                   // false: ran to the end of the buffer or garbage
  std::vector<std::string> problems;           // lines dropped and why (bounded)

  const std::string* get(std::string_view key) const;
  std::string osrelease() const;               // "" if absent
  std::string build_id() const;                // "" if absent
  // SYMBOL(name): a virtual address, hex.
  std::optional<std::uint64_t> symbol(std::string_view name) const;
  // NUMBER(name): signed decimal, or hex with a 0x prefix; returned as the 64-bit two's
  // complement pattern (phys_base is an unsigned long printed with %ld).
  std::optional<std::uint64_t> number(std::string_view name) const;
  // OFFSET(type.field), SIZE(type), LENGTH(name): unsigned decimal.
  std::optional<std::uint64_t> offset(std::string_view type_field) const;
  std::optional<std::uint64_t> size(std::string_view type) const;
  std::optional<std::uint64_t> kerneloffset() const;  // KERNELOFFSET, hex
};

// True when `head` begins with "OSRELEASE=" (the probe of one page start).
bool starts_like_vmcoreinfo(std::span<const std::uint8_t> head);

// Parses VMCOREINFO text from the start of `page` (at most kVmcoreinfoMaxBytes are looked at).
// The text ends at the first NUL; a byte that is neither printable ASCII nor '\n' ends it too
// (garbage), and so does the end of the buffer (a page without NUL). A last line without '\n'
// is incomplete (the kernel truncates at VMCOREINFO_BYTES) and is dropped. Lines must be
// KEY=VALUE with a non-empty key of [A-Za-z0-9_().-] characters. Fails (Errc::not_found) unless
// the text starts with OSRELEASE= and that line is complete.
Result<Vmcoreinfo> parse_vmcoreinfo(std::span<const std::uint8_t> page);

// [begin, end) in physical memory. `downward`: a scan visits it from its end (where a thing
// near the top of a RAM block is nearest), else from its begin.
struct PhysRange {
  std::uint64_t begin = 0, end = 0;
  bool downward = false;
};

struct VmcoreinfoScanStats {
  std::uint64_t pages_probed = 0;   // page starts read
  std::uint64_t hits = 0;           // pages that started with OSRELEASE=
  std::uint64_t rejected = 0;       // hits that did not parse or that `accept` refused
  bool budget_exhausted = false;    // stopped at max_pages before the end of `order`
};

struct VmcoreinfoHit {
  PhysAddr pa;
  Vmcoreinfo info;
};

// Probes the first 16 bytes of every 4 KiB page of `order` (ranges visited in the given order,
// each from its begin or, if `downward`, from its end, rounded to pages, overlaps visited
// once), thousands of pages per PhysicalMemory::read.
// Each page that starts with OSRELEASE= is read whole, parsed and handed to `accept`; the scan
// stops at the first page accept() takes (it should validate against the live kernel: a page
// can be a stale copy from an earlier boot). Unreadable pages are skipped. At most `max_pages`
// pages are probed.
std::optional<VmcoreinfoHit> scan_for_vmcoreinfo(
    PhysicalMemory& mem, std::span<const PhysRange> order, std::uint64_t max_pages,
    const std::function<bool(const VmcoreinfoHit&)>& accept, VmcoreinfoScanStats* stats = nullptr);

}  // namespace tlpstub::kernel
