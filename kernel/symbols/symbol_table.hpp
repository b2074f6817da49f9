// SymbolTable: the kernel's symbols as kallsyms recovered them (kernel/symbols/kallsyms.hpp):
// exact lookup by name, nearest symbol at or below an address, glob search.
//
// Per-CPU symbols (x86-64 up to 6.14: the per-CPU section is linked at 0, so kallsyms stores
// their section offsets, not addresses; scripts/kallsyms.c "absolute_percpu") carry an offset
// in `address` and percpu = true; address lookup never returns them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlpstub::kernel {

struct Symbol {
  std::string name;
  std::uint64_t address = 0;  // runtime virtual address; per-CPU offset when percpu
  char type = '?';            // nm-style letter: T t D d R r B b A V W ...
  bool percpu = false;
};

struct SymbolAt {
  const Symbol* symbol = nullptr;
  std::uint64_t offset = 0;  // address - symbol->address
};

struct GlobMatches {
  std::vector<const Symbol*> symbols;  // the first `limit` matches, in address order
  std::size_t total = 0;               // every match
};

class SymbolTable {
 public:
  SymbolTable() = default;
  // Symbols in any order; kept sorted by (percpu first, address), ties in the given order.
  explicit SymbolTable(std::vector<Symbol> symbols);

  std::size_t size() const { return symbols_.size(); }
  bool empty() const { return symbols_.empty(); }
  const std::vector<Symbol>& symbols() const { return symbols_; }

  // Every symbol with exactly this name (static functions repeat across files).
  std::vector<const Symbol*> find(std::string_view name) const;
  // The first symbol with this name that is an address (not a per-CPU offset): the lookup of
  // a kernel variable or function by name; nullptr if none.
  const Symbol* find_address(std::string_view name) const;
  // The symbol at or below `address` (not per-CPU), preferring a global one when several share
  // that address. nullopt below the lowest symbol.
  std::optional<SymbolAt> nearest(std::uint64_t address) const;
  // Names matching the glob (`*` any run, `?` one character, `\` escapes), at most `limit`.
  GlobMatches match(std::string_view pattern, std::size_t limit) const;

 private:
  std::vector<Symbol> symbols_;      // percpu first, then by address
  std::vector<std::uint32_t> by_name_;  // indices into symbols_, sorted by name
  std::size_t first_global_ = 0;     // index of the first non-percpu symbol
};

// Glob match without backtracking blow-up: O(pattern * text) worst case.
bool glob_match(std::string_view pattern, std::string_view text);
// True when the word has a glob metacharacter (`*` or `?`).
bool is_glob(std::string_view word);

}  // namespace tlpstub::kernel
