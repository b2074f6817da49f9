// Loaded kernel modules and their symbols, read from memory: the `modules` list of struct
// module, each module's memory ranges and its kallsyms (struct mod_kallsyms: an ELF symbol
// table, its string table and, since 5.x, a table of nm type letters), the same symbols
// /proc/kallsyms lists with "[name]".
//
// Modules come and go on a live target, so this is read when asked (per command), not once at
// discovery. Layouts come from TypeInfo (BTF, inference or a profile); no offset is assumed.
// The list is target memory, hence untrusted: every pointer is checked, the walk is capped and
// stops at a broken back link or a cycle, and what was read before that is returned with a
// warning naming where the list broke.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "kernel/address_space.hpp"
#include "kernel/symbols/symbol_table.hpp"
#include "kernel/symbols/type_info.hpp"

namespace tlpstub::kernel {

struct ModuleRange {
  std::uint64_t base = 0, size = 0;
  bool contains(std::uint64_t a) const { return a >= base && a - base < size; }
};

struct LoadedModule {
  std::string name;
  std::uint64_t address = 0;  // the struct module
  int state = 0;              // enum module_state: 0 live, 1 coming, 2 going, 3 unformed
  std::vector<ModuleRange> ranges;  // text first; empty ranges left out
  std::vector<Symbol> symbols;      // by address; empty unless asked for
  std::string symbols_error;        // why symbols are missing or cut short, if they are

  std::uint64_t size() const;  // sum of the ranges
};

struct ModuleList {
  std::vector<LoadedModule> modules;  // in list order (newest first, as lsmod)
  std::vector<std::string> warnings;  // where the list broke, bad symbol tables
  std::uint64_t reads = 0, bytes = 0;
};

// A module symbol found by name or address.
struct ModuleSymbol {
  const LoadedModule* module = nullptr;
  const Symbol* symbol = nullptr;
  std::uint64_t offset = 0;  // address - symbol->address (address lookups)
};

// Caps on what the target may claim (more is corruption).
inline constexpr std::size_t kMaxModules = 8192;
inline constexpr std::uint64_t kMaxModuleSymbols = 1u << 20;

// Reads the module list through the kernel address space; `core` gives the address of the
// `modules` list head. With `with_symbols`, each module's symbol table is read as well.
Result<ModuleList> read_modules(AddressSpace& as, const SymbolTable& core, const TypeInfo& types,
                                bool with_symbols);

// Whether `types` hold every member read_modules needs (the error names the first missing):
// for tests that the wanted list (wanted_offsets.hpp) covers the module walk.
Result<void> check_module_types(const TypeInfo& types);

// The module symbol at or below `address` inside the module range that holds it.
std::optional<ModuleSymbol> module_symbol_at(const ModuleList& list, std::uint64_t address);
// Every module symbol with exactly this name.
std::vector<ModuleSymbol> module_symbols_named(const ModuleList& list, std::string_view name);
// Module symbols matching a glob: the first `limit` (list order, then address) and the total.
std::vector<ModuleSymbol> module_symbols_matching(const ModuleList& list, std::string_view glob,
                                                  std::size_t limit, std::size_t& total);

}  // namespace tlpstub::kernel
