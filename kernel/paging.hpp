// x86-64 paging described as data: levels, index shifts, entry bits, frame masks, canonical
// form, CR3 normalisation and one entry as data (for `monitor v2p`).
//
// Sources: Intel SDM vol. 3A ch. 4.5 (4-level and 5-level paging) and the kernel's
// arch/x86/include/asm/pgtable_types.h, pgtable_64_types.h, page_64_types.h.
//
// Levels are numbered as the SDM and the kernel do: 1 = page table (PTE), 2 = page directory
// (PDE), 3 = page-directory-pointer table (PDPTE), 4 = PML4 (PML4E), 5 = PML5 (PML5E).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"

namespace tlpstub::kernel {

// Entry bits (pgtable_types.h, _PAGE_BIT_*).
namespace bits {
inline constexpr std::uint64_t P = 1ull << 0;     // present
inline constexpr std::uint64_t RW = 1ull << 1;    // writable
inline constexpr std::uint64_t US = 1ull << 2;    // user accessible
inline constexpr std::uint64_t PWT = 1ull << 3;   // write-through
inline constexpr std::uint64_t PCD = 1ull << 4;   // cache disable
inline constexpr std::uint64_t A = 1ull << 5;     // accessed
inline constexpr std::uint64_t D = 1ull << 6;     // dirty (leaf only)
inline constexpr std::uint64_t PS = 1ull << 7;    // page size, in a PDE (2 MiB) or PDPTE (1 GiB)
inline constexpr std::uint64_t PAT = 1ull << 7;   // in a 4 KiB PTE the same bit is PAT, not PS
inline constexpr std::uint64_t G = 1ull << 8;     // global (leaf only)
inline constexpr std::uint64_t PAT_LARGE = 1ull << 12;  // PAT of a 2 MiB / 1 GiB page
inline constexpr std::uint64_t NX = 1ull << 63;   // no execute
}  // namespace bits

inline constexpr int kMinLevels = 4;
inline constexpr int kMaxLevels = 5;
inline constexpr int kEntriesPerTable = 512;
// The architectural limit of physical addresses (MAXPHYADDR is at most 52).
inline constexpr int kPhysAddrBits = 52;

inline constexpr std::uint64_t kPageSize4K = 1ull << 12;
inline constexpr std::uint64_t kPageSize2M = 1ull << 21;
inline constexpr std::uint64_t kPageSize1G = 1ull << 30;

inline constexpr std::uint64_t kFrameMask4K = 0x000F'FFFF'FFFF'F000ull;
inline constexpr std::uint64_t kFrameMask2M = 0x000F'FFFF'FFE0'0000ull;
inline constexpr std::uint64_t kFrameMask1G = 0x000F'FFFF'C000'0000ull;
// Bits 52..62: ignored by the MMU in table pointers (Linux never sets them there); in leaves
// they hold software bits (57 devmap, 58 saved-dirty) and protection keys (59..62).
inline constexpr std::uint64_t kHighBits = 0x7FF0'0000'0000'0000ull;

// Shift of the virtual-address index at `level`: 12, 21, 30, 39, 48.
constexpr int level_shift(int level) { return 12 + 9 * (level - 1); }
// Bytes covered by one entry at `level` (a leaf there maps a page of this size).
constexpr std::uint64_t level_span(int level) { return 1ull << level_shift(level); }
constexpr unsigned level_index(VirtAddr va, int level) {
  return static_cast<unsigned>((va.value >> level_shift(level)) & (kEntriesPerTable - 1));
}
// Frame mask of a page of `page_size` (4 KiB, 2 MiB or 1 GiB).
constexpr std::uint64_t frame_mask(std::uint64_t page_size) {
  return kFrameMask4K & ~(page_size - 1);
}
// A PTE is always a leaf; a PDE or PDPTE is one when PS is set; PML4E/PML5E never are.
constexpr bool is_leaf(std::uint64_t entry, int level) {
  return level == 1 || ((level == 2 || level == 3) && (entry & bits::PS));
}

// "PTE", "PDE", "PDPTE", "PML4E", "PML5E" (and "PT", "PD", "PDPT", "PML4", "PML5").
std::string_view entry_name(int level);
std::string_view table_name(int level);

// Virtual-address width: 48 bits with 4 levels, 57 with 5.
constexpr int va_bits(int levels) { return 12 + 9 * levels; }
// Canonical = bits 63..(va_bits-1) all equal (pgtable_64_types.h).
constexpr bool is_canonical(VirtAddr va, int levels) {
  const int top = va_bits(levels) - 1;
  const std::uint64_t upper = va.value >> top;  // the bits that must all be equal
  return upper == 0 || upper == (~0ull >> top);
}

// The physical address of the top-level table named by a CR3 value or an mm->pgd physical
// address. Clears bits 0..11 (PCID, PWT/PCD), bits 52..63 (bit 63 = no-flush on CR3 writes,
// 61/62 = LAM) and the SME/key bits in `sme_mask`. With `pti_pair` (the default: every kernel
// built with page-table isolation allocates the pgd as an 8 KiB pair, pgalloc.h
// PGD_ALLOCATION_ORDER) bit 12 is cleared too, so the user half (+0x1000) maps to the kernel
// half. Pass pti_pair=false for a kernel built without PTI, whose pgd is a single page that may
// sit at an odd page address.
PhysAddr cr3_table(std::uint64_t cr3_or_pgd, std::uint64_t sme_mask = 0, bool pti_pair = true);

// Why an entry that is present cannot be followed or used, or nullopt when it is sound.
// `entry` must already have the SME/key bits removed. Rules:
//  - a PML4E/PML5E with PS set (reserved there);
//  - a table pointer with any of bits 52..62 set (the frame would lie beyond the physical
//    address width; Linux never sets them in table entries, so this is a corrupt/stale table);
//  - a 2 MiB / 1 GiB leaf with reserved bits between PAT (bit 12) and the frame set.
std::optional<std::string> entry_problem(std::uint64_t entry, int level);

// One entry as data, for v2p: which bits are set, in the SDM's order, and the frame it names.
// Large pages show as "PS 2M"/"PS 1G"; bit 7 of a PTE shows as "PAT"; bits in `sme_mask` are
// reported in `sme` and removed from the frame. A non-present entry has no flags.
struct EntryView {
  std::uint64_t raw = 0;
  bool present = false;
  std::vector<std::string_view> flags;
  bool sme = false;
  std::uint64_t frame = 0;
};
EntryView view_entry(std::uint64_t entry, int level, std::uint64_t sme_mask = 0);

}  // namespace tlpstub::kernel
