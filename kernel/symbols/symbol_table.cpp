#include "kernel/symbols/symbol_table.hpp"

#include <algorithm>
#include <cctype>
#include <numeric>

namespace tlpstub::kernel {

SymbolTable::SymbolTable(std::vector<Symbol> symbols) : symbols_(std::move(symbols)) {
  std::stable_sort(symbols_.begin(), symbols_.end(), [](const Symbol& a, const Symbol& b) {
    if (a.percpu != b.percpu) return a.percpu;
    return a.address < b.address;
  });
  first_global_ = static_cast<std::size_t>(
      std::find_if(symbols_.begin(), symbols_.end(), [](const Symbol& s) { return !s.percpu; }) -
      symbols_.begin());
  by_name_.resize(symbols_.size());
  std::iota(by_name_.begin(), by_name_.end(), 0u);
  std::stable_sort(by_name_.begin(), by_name_.end(), [this](std::uint32_t a, std::uint32_t b) {
    return symbols_[a].name < symbols_[b].name;
  });
}

const Symbol* SymbolTable::find_address(std::string_view name) const {
  for (const Symbol* s : find(name))
    if (!s->percpu) return s;
  return nullptr;
}

std::vector<const Symbol*> SymbolTable::find(std::string_view name) const {
  auto lo = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                             [this](std::uint32_t i, std::string_view n) {
                               return std::string_view(symbols_[i].name) < n;
                             });
  std::vector<const Symbol*> out;
  for (; lo != by_name_.end() && symbols_[*lo].name == name; ++lo) out.push_back(&symbols_[*lo]);
  std::sort(out.begin(), out.end());  // address order (symbols_ is address-sorted)
  return out;
}

std::optional<SymbolAt> SymbolTable::nearest(std::uint64_t address) const {
  auto first = symbols_.begin() + static_cast<std::ptrdiff_t>(first_global_);
  auto it = std::upper_bound(first, symbols_.end(), address,
                             [](std::uint64_t a, const Symbol& s) { return a < s.address; });
  if (it == first) return std::nullopt;
  --it;
  // Several names at one address (_text, startup_64): the first global one, else the first.
  const std::uint64_t at = it->address;
  auto begin = it;
  while (begin != first && std::prev(begin)->address == at) --begin;
  auto pick = begin;
  for (auto p = begin; p <= it; ++p)
    if (std::isupper(static_cast<unsigned char>(p->type))) {
      pick = p;
      break;
    }
  return SymbolAt{&*pick, address - at};
}

GlobMatches SymbolTable::match(std::string_view pattern, std::size_t limit) const {
  GlobMatches m;
  for (const Symbol& s : symbols_) {
    if (!glob_match(pattern, s.name)) continue;
    ++m.total;
    if (m.symbols.size() < limit) m.symbols.push_back(&s);
  }
  return m;
}

bool is_glob(std::string_view word) { return word.find_first_of("*?") != std::string_view::npos; }

// Classic two-pointer glob: on a mismatch, retry from the last `*` one character later. Each
// `*` restarts at most text.size() times, so the cost is bounded by pattern * text.
bool glob_match(std::string_view p, std::string_view t) {
  std::size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
      continue;
    }
    if (pi < p.size()) {
      char want = p[pi];
      std::size_t step = 1;
      if (want == '\\' && pi + 1 < p.size()) {
        want = p[pi + 1];
        step = 2;
      }
      if ((p[pi] == '?' && step == 1) || want == t[ti]) {
        pi += step;
        ++ti;
        continue;
      }
    }
    if (star == std::string_view::npos) return false;
    pi = star + 1;
    ti = ++mark;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

}  // namespace tlpstub::kernel
