#include "kernel/paging.hpp"

#include <fmt/format.h>

namespace tlpstub::kernel {

std::string_view entry_name(int level) {
  switch (level) {
    case 1: return "PTE";
    case 2: return "PDE";
    case 3: return "PDPTE";
    case 4: return "PML4E";
    case 5: return "PML5E";
  }
  return "entry";
}

std::string_view table_name(int level) {
  switch (level) {
    case 1: return "PT";
    case 2: return "PD";
    case 3: return "PDPT";
    case 4: return "PML4";
    case 5: return "PML5";
  }
  return "table";
}

PhysAddr cr3_table(std::uint64_t cr3_or_pgd, std::uint64_t sme_mask, bool pti_pair) {
  std::uint64_t v = cr3_or_pgd & kFrameMask4K & ~sme_mask;
  if (pti_pair) v &= ~kPageSize4K;  // PTI: user half = kernel half + 0x1000
  return PhysAddr(v);
}

std::optional<std::string> entry_problem(std::uint64_t entry, int level) {
  if (level >= 4 && (entry & bits::PS))
    return fmt::format("PS set in a {} (reserved)", entry_name(level));
  if (!is_leaf(entry, level)) {
    if (entry & kHighBits)
      return fmt::format("table pointer has bits above {} set", kPhysAddrBits - 1);
    return std::nullopt;
  }
  if (level > 1) {
    // Between PAT (bit 12) and the large frame: must be zero (SDM 4.5, reserved bits).
    const std::uint64_t reserved = kFrameMask4K & ~frame_mask(level_span(level)) & ~bits::PAT_LARGE;
    if (entry & reserved)
      return fmt::format("reserved bits {:#x} set in a {} page",
                         entry & reserved, level == 2 ? "2 MiB" : "1 GiB");
  }
  return std::nullopt;
}

EntryView view_entry(std::uint64_t entry, int level, std::uint64_t sme_mask) {
  EntryView v;
  v.raw = entry;
  const std::uint64_t e = entry & ~sme_mask;
  if (!(e & bits::P)) return v;
  v.present = true;
  const bool leaf = is_leaf(e, level);
  auto flag = [&](std::uint64_t bit, std::string_view name) {
    if (e & bit) v.flags.push_back(name);
  };
  flag(bits::P, "P");
  flag(bits::RW, "RW");
  flag(bits::US, "US");
  flag(bits::PWT, "PWT");
  flag(bits::PCD, "PCD");
  flag(bits::A, "A");
  flag(bits::D, "D");
  if (level == 1) {
    flag(bits::PAT, "PAT");
  } else if (leaf) {
    v.flags.push_back(level == 2 ? "PS 2M" : "PS 1G");
    flag(bits::PAT_LARGE, "PAT");
  } else {
    flag(bits::PS, "PS");  // only reachable for a (corrupt) PML4E/PML5E
  }
  flag(bits::G, "G");
  flag(bits::NX, "NX");
  v.sme = (entry & sme_mask) != 0;
  const std::uint64_t mask = leaf ? frame_mask(level_span(level)) : kFrameMask4K;
  v.frame = e & mask;
  return v;
}

}  // namespace tlpstub::kernel
