// Feeds arbitrary bytes to the ELF core header parser (transport/elf_core.hpp) that
// `tlpstub --memory FILE` runs on any file starting with the ELF magic, then builds the
// physical map and looks for the VMCOREINFO note as MemoryFile does. Must never crash, hang or
// read out of bounds: every count, offset and size comes from the input.
#include <cstddef>
#include <cstdint>
#include <span>

#include "transport/elf_core.hpp"

using namespace tlpstub;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto core = parse_elf_core(std::span<const std::uint8_t>(data, size));
  if (!core) return 0;
  auto map = elf_core_map(*core);
  for (const MapEntry& e : map)
    if (!e.zero && (e.offset > size || e.length > size - e.offset)) __builtin_trap();
  (void)vmcoreinfo_of(*core);
  return 0;
}
