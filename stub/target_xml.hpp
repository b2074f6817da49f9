// The register layout we describe to gdb (qXfer:features:read:target.xml) and serve with
// `g`/`p`. One table is the single source of truth for the XML, the `g` layout and reg_size().
//
// Remote register numbers (= `p` numbers = order in the `g` reply):
//   0..15  rax rbx rcx rdx rsi rdi rbp rsp r8..r15   64 bit   org.gnu.gdb.i386.core
//   16     rip                                        64 bit
//   17     eflags                                     32 bit (i386_eflags)
//   18..23 cs ss ds es fs gs                          32 bit
//   24..25 fs_base gs_base                            64 bit   org.gnu.gdb.i386.segments
//   26..29 cr0 cr2 cr3 cr4                            64 bit   org.tlpstub.x86.sys (ours)
//   30..37 st0..st7                                   80 bit   org.gnu.gdb.i386.core
//   38..45 fctrl fstat ftag fiseg fioff foseg fooff fop 32 bit
// 0..29 are `Reg` (stub/target.hpp). gdb's amd64 support insists that the core feature has
// the x87 registers (it rejects a description without them), so they are described too, with
// regnum= attributes that put them after ours; they are always unavailable ("xx").
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "stub/target.hpp"

namespace tlpstub::stub {

struct WireRegister {
  std::string_view name;
  int bits;
  std::string_view type;
  std::string_view feature;
  std::string_view group;  // empty: gdb's default for the type
  std::optional<Reg> reg;  // nullopt: described for gdb's sake, never known
};

// In remote-number order; index = remote register number.
std::span<const WireRegister> wire_registers();

// The whole target.xml document (static).
std::string_view target_xml();

}  // namespace tlpstub::stub
