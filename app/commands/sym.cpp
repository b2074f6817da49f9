// monitor sym NAME | 'PATTERN*' | ADDR: the kernel's symbols as kallsyms recovered them.
//   NAME     every symbol with exactly that name (static functions repeat across files)
//   PATTERN  a glob (`*`, `?`); the first -n N matches (default 50) and how many matched
//   ADDR     0x-prefixed or 16 hex digits: the symbol at or below it, and the offset
// Quotes around the word are dropped: gdb passes `monitor sym 'foo*'` on verbatim.
#include <fmt/format.h>

#include "app/commands/commands.hpp"
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
  if (r.kind == SymQuery::address) {
    const kernel::Symbol& sym = *r.at->symbol;
    return fmt::format("{:#018x} = {}+{:#x} ({} at {:#x})\n", r.address, sym.name, r.at->offset,
                       sym.type, sym.address);
  }
  for (const kernel::Symbol* sym : r.symbols) s += symbol_line(*sym);
  if (r.kind == SymQuery::pattern) {
    if (r.total > r.symbols.size())
      s += fmt::format("{} of {} matching symbols shown (-n N shows more)\n", r.symbols.size(),
                       r.total);
    else
      s += fmt::format("{} matching symbol{}\n", r.total, r.total == 1 ? "" : "s");
  }
  return s;
}

void symbol_json(JsonWriter& j, const kernel::Symbol& s) {
  j.begin_object()
      .field("name", s.name)
      .hex_field("address", s.address)
      .field("type", std::string(1, s.type))
      .field("percpu", s.percpu)
      .end_object();
}

void to_json(JsonWriter& j, const SymRow& r) {
  j.begin_object().field("query", r.query).field("kind", kind_name(r.kind));
  if (r.kind == SymQuery::address) {
    j.hex_field("address", r.address).key("symbol");
    symbol_json(j, *r.at->symbol);
    j.hex_field("offset", r.at->offset).end_object();
    return;
  }
  j.field("total", r.total).key("symbols").begin_array();
  for (const kernel::Symbol* s : r.symbols) symbol_json(j, *s);
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
  if (auto addr = as_address(r.query)) {
    r.kind = SymQuery::address;
    r.address = *addr;
    r.at = table.nearest(*addr);
    if (!r.at)
      return fail(Errc::not_found, fmt::format("no kernel symbol at or below {:#x}", *addr));
  } else if (kernel::is_glob(r.query)) {
    r.kind = SymQuery::pattern;
    auto m = table.match(r.query, a.count.value_or(kDefaultMatches));
    r.symbols = std::move(m.symbols);
    r.total = m.total;
  } else {
    r.symbols = table.find(r.query);
    r.total = r.symbols.size();
    if (r.symbols.empty())
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
