// monitor sym NAME | 'PATTERN*' | ADDR: the kernel's symbols as kallsyms recovered them.
//   NAME     every symbol with exactly that name (static functions repeat across files)
//   PATTERN  a glob (`*`, `?`); the first -n N matches (default 50) and how many matched
//   ADDR     0x-prefixed or 16 hex digits: the symbol at or below it, and the offset
// Quotes around the word are dropped: gdb passes `monitor sym 'foo*'` on verbatim.
// Loaded modules' symbols are searched too (read at the time of the command; shown with
// "[module]" as /proc/kallsyms does) when the kernel's types allow reading the module list;
// otherwise the output says they were not searched.
#include <fmt/format.h>

#include "app/commands/commands.hpp"
#include "app/commands/module_symbols.hpp"
#include "common/parse.hpp"
#include "kernel/symbols/symbol_table.hpp"

namespace tlpstub::app::commands {

namespace {

constexpr std::size_t kDefaultMatches = 50;

enum class SymQuery { name, pattern, address };

struct SymRow {
  SymQuery kind = SymQuery::name;
  std::string query;
  std::vector<const kernel::Symbol*> symbols;  // name and pattern
  std::size_t total = 0;
  std::uint64_t address = 0;                  // address query
  std::optional<kernel::SymbolAt> at;
  // Loaded modules: their matches, the module holding the address, or why not searched.
  std::optional<kernel::ModuleList> modules;
  std::vector<kernel::ModuleSymbol> module_symbols;
  std::optional<kernel::ModuleSymbol> module_at;
  std::string modules_note;
};

std::string_view kind_name(SymQuery k) {
  switch (k) {
    case SymQuery::name: return "name";
    case SymQuery::pattern: return "pattern";
    case SymQuery::address: return "address";
  }
  return "?";
}

std::string symbol_line(const kernel::Symbol& s) {
  return fmt::format("{:#018x} {} {}{}\n", s.address, s.type, s.name,
                     s.percpu ? "  (per-CPU offset)" : "");
}

std::string to_text(const SymRow& r) {
  std::string s;
  const std::string note = r.modules_note.empty() ? "" : "(" + r.modules_note + ")\n";
  if (r.kind == SymQuery::address) {
    if (r.module_at) {
      const kernel::ModuleSymbol& m = *r.module_at;
      if (!m.symbol)
        return fmt::format("{:#018x} is in module {} (no symbol below it there)\n", r.address,
                           m.module->name);
      return fmt::format("{:#018x} = {}+{:#x} [{}] ({} at {:#x})\n", r.address, m.symbol->name,
                         m.offset, m.module->name, m.symbol->type, m.symbol->address);
    }
    const kernel::Symbol& sym = *r.at->symbol;
    return fmt::format("{:#018x} = {}+{:#x} ({} at {:#x})\n", r.address, sym.name, r.at->offset,
                       sym.type, sym.address) + note;
  }
  for (const kernel::Symbol* sym : r.symbols) s += symbol_line(*sym);
  for (const kernel::ModuleSymbol& m : r.module_symbols)
    s += fmt::format("{:#018x} {} {}\t[{}]\n", m.symbol->address, m.symbol->type, m.symbol->name,
                     m.module->name);
  if (r.kind == SymQuery::pattern) {
    const std::size_t shown = r.symbols.size() + r.module_symbols.size();
    if (r.total > shown)
      s += fmt::format("{} of {} matching symbols shown (-n N shows more)\n", shown, r.total);
    else
      s += fmt::format("{} matching symbol{}\n", r.total, r.total == 1 ? "" : "s");
  }
  return s + note;
}

void symbol_json(JsonWriter& j, const kernel::Symbol& s) {
  j.begin_object()
      .field("name", s.name)
      .hex_field("address", s.address)
      .field("type", std::string(1, s.type))
      .field("percpu", s.percpu)
      .end_object();
}

void module_symbol_json(JsonWriter& j, const kernel::ModuleSymbol& m) {
  j.begin_object()
      .field("name", m.symbol->name)
      .hex_field("address", m.symbol->address)
      .field("type", std::string(1, m.symbol->type))
      .field("percpu", false)
      .field("module", m.module->name)
      .end_object();
}

void to_json(JsonWriter& j, const SymRow& r) {
  j.begin_object().field("query", r.query).field("kind", kind_name(r.kind));
  if (!r.modules_note.empty()) j.field("modules_note", r.modules_note);
  if (r.kind == SymQuery::address) {
    j.hex_field("address", r.address);
    if (r.module_at) {
      j.field("module", r.module_at->module->name);
      if (r.module_at->symbol) {
        j.key("symbol");
        module_symbol_json(j, *r.module_at);
        j.hex_field("offset", r.module_at->offset);
      }
      j.end_object();
      return;
    }
    j.key("symbol");
    symbol_json(j, *r.at->symbol);
    j.hex_field("offset", r.at->offset).end_object();
    return;
  }
  j.field("total", r.total).key("symbols").begin_array();
  for (const kernel::Symbol* s : r.symbols) symbol_json(j, *s);
  for (const kernel::ModuleSymbol& m : r.module_symbols) module_symbol_json(j, m);
  j.end_array().end_object();
}

std::string_view unquote(std::string_view w) {
  if (w.size() >= 2 && (w.front() == '\'' || w.front() == '"') && w.back() == w.front())
    return w.substr(1, w.size() - 2);
  return w;
}

std::optional<std::uint64_t> as_address(std::string_view w) {
  const bool hex_digits = w.size() == 16 && w.find_first_not_of("0123456789abcdefABCDEF") ==
                                                std::string_view::npos;
  if (!w.starts_with("0x") && !w.starts_with("0X") && !hex_digits) return std::nullopt;
  auto v = parse_u64(hex_digits ? w : w.substr(2), 16);
  return v ? std::optional(*v) : std::nullopt;
}

Result<void> run_sym(SessionState& s, const stub::MonitorArgs& a, const stub::OutputFn& out) {
  const kernel::SymbolTable& table = s.symbols().symbols->table;
  SymRow r;
  r.query = std::string(unquote(a.words[0]));
  if (r.query.empty()) return fail(Errc::invalid_argument, "usage: monitor sym NAME|PATTERN|ADDR");
  if (auto mods = modules_now(s, true)) {
    r.modules = std::move(*mods);
    if (!r.modules->warnings.empty())
      r.modules_note = "modules: " + r.modules->warnings.front();
  } else {
    r.modules_note = "module symbols not searched: " + mods.error().message;
  }
  if (auto addr = as_address(r.query)) {
    r.kind = SymQuery::address;
    r.address = *addr;
    if (r.modules) r.module_at = kernel::module_symbol_at(*r.modules, *addr);
    if (!r.module_at) {
      r.at = table.nearest(*addr);
      if (!r.at)
        return fail(Errc::not_found, fmt::format("no kernel symbol at or below {:#x}", *addr));
    }
  } else if (kernel::is_glob(r.query)) {
    r.kind = SymQuery::pattern;
    const std::size_t limit = a.count.value_or(kDefaultMatches);
    auto m = table.match(r.query, limit);
    r.symbols = std::move(m.symbols);
    r.total = m.total;
    if (r.modules) {
      std::size_t mod_total = 0;
      r.module_symbols = kernel::module_symbols_matching(
          *r.modules, r.query, limit - std::min(limit, r.symbols.size()), mod_total);
      r.total += mod_total;
    }
  } else {
    r.symbols = table.find(r.query);
    if (r.modules) r.module_symbols = kernel::module_symbols_named(*r.modules, r.query);
    r.total = r.symbols.size() + r.module_symbols.size();
    if (r.total == 0)
      return fail(Errc::not_found, fmt::format("no kernel symbol named '{}' (a pattern: "
                                               "'monitor sym {}*')",
                                               r.query, r.query));
  }
  emit(a, r, out);
  return {};
}

}  // namespace

stub::MonitorCommand sym_command(SessionState& s) {
  stub::MonitorCommand c{
      "sym", "sym NAME|'PATTERN*'|ADDR [-n N]",
      "kernel symbols (kallsyms): by exact name, by glob (* ?), or the symbol+offset at ADDR",
      [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) { return run_sym(s, a, out); },
      1, 1};
  c.takes_count = true;
  c.needs = kNeedsSymbols;
  return c;
}

}  // namespace tlpstub::app::commands
