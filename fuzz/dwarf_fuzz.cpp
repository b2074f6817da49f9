// Feeds arbitrary bytes to the DWARF type reader (kernel/symbols/dwarf_types.hpp) as the
// sections of a vmlinux, then looks members up the way --make-profile does. Must never crash,
// hang or read out of bounds: every length, offset, form and reference comes from the input.
//
// Input: abbrev_len u16 | str_len u16 | .debug_abbrev | .debug_str | .debug_info (the rest);
// .debug_str also serves as .debug_line_str and .debug_str_offsets. The corpus holds the
// DWARF 4 and 5 units of tests/kernel/dwarf_sample.hpp in this layout.
#include <cstddef>
#include <cstdint>
#include <span>

#include "kernel/symbols/dwarf_types.hpp"

using namespace tlpstub::kernel;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::size_t na = data[0] | data[1] << 8, ns = data[2] | data[3] << 8;
  if (size - 4 < na + ns) return 0;
  const std::span<const std::uint8_t> all(data + 4, size - 4);
  const auto abbrev = all.subspan(0, na), str = all.subspan(na, ns), info = all.subspan(na + ns);
  auto dw = dwarf_read::DwarfTypes::load({info, abbrev, str, str, str},
                                    {"task_struct", "loopy", "printk_ringbuffer"});
  if (!dw) return 0;
  for (const char* path : {"__state", "pid", "desc_ring.count_bits", "y", "flags", "comm",
                           "parent", "parent.x", "a.b.c"})
    (void)dw->member("task_struct", path);
  (void)dw->member("loopy", "x");
  (void)dw->struct_size("task_struct");
  return 0;
}
