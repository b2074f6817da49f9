// The kernel's own list of physical RAM: the "System RAM" children of `iomem_resource`, as
// /proc/iomem prints them (kernel/resource.c). The crash-dump headers the kernel builds for
// kdump come from the same list (crash_prepare_elf64_headers walks it), so a dump made from
// it covers what /proc/vmcore would.
//
// struct resource (include/linux/ioport.h, 4.x..6.12): start, end (inclusive), name, flags,
// desc, parent, sibling, child. Offsets come from the types (BTF), never assumed.
#pragma once

#include <cstdint>
#include <vector>

#include "common/error.hpp"
#include "kernel/address_space.hpp"
#include "kernel/symbols/symbol_table.hpp"
#include "kernel/symbols/type_info.hpp"

namespace tlpstub::kernel {

struct RamRange {
  std::uint64_t begin = 0, end = 0;  // [begin, end)
};

// Top-level children of iomem_resource named "System RAM", in address order (bounded:
// kMaxIomemNodes nodes visited). Fails when the symbol or the layout is unknown, or the list
// does not read back consistently.
inline constexpr std::size_t kMaxIomemNodes = 4096;
Result<std::vector<RamRange>> read_system_ram(AddressSpace& as, const SymbolTable& syms,
                                              const TypeInfo& types);

}  // namespace tlpstub::kernel
