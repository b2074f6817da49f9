// The symbol file tlpstub serves to gdb instead of a vmlinux (design.md, "What gdb sees"): an
// ELF64 x86-64 ET_EXEC with every kallsyms symbol in .symtab and, from BTF, DWARF for every
// type and for the global variables whose types are known.
//
// Addresses are link-time addresses (run-time minus the KASLR slide), like a real vmlinux's,
// and every image symbol lies in .text, .data or .bss: gdb relocates exactly those three
// sections by the stub's qOffsets answer (the slide), whether it loaded this file through
// vFile at `target remote` or from disk beforehand (facts/gdb-rsp.md, "Trap for a served
// symbol file"). Per-CPU symbols are offsets in a .data..percpu section at 0, which qOffsets
// leaves alone, as in a vmlinux.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernel/symbols/btf.hpp"
#include "kernel/symbols/symbol_table.hpp"

namespace tlpstub::kernel {

struct SymbolFile {
  std::vector<std::uint8_t> bytes;
  std::uint64_t symbols = 0, type_dies = 0, variables = 0;
};

// `btf` may be null: then the file has symbols only. `slide` = run-time _text - link-time
// _text (KernelImage::kaslr_slide).
SymbolFile write_symbol_file(const SymbolTable& symbols, const btf::Btf* btf,
                             std::uint64_t slide);

}  // namespace tlpstub::kernel
