// monitor modules [PATTERN]: the loaded kernel modules, as lsmod and /proc/modules show them:
// name, where its struct module is, its memory (the text range first) and its symbol count,
// read from the kernel's `modules` list at the time of the command. PATTERN is a glob on names.
#include <fmt/format.h>

#include "app/commands/commands.hpp"
#include "app/commands/module_symbols.hpp"
#include "kernel/symbols/symbol_table.hpp"

namespace tlpstub::app::commands {

Result<kernel::ModuleList> modules_now(SessionState& s, bool with_symbols) {
  const auto& sc = s.snapshot().space;
  if (!sc) return std::unexpected(s.no_space_error(0));
  const SymbolsStatus& syms = s.symbols();
  if (!syms.symbols) return fail(Errc::not_found, "module list: no kernel symbols");
  const TypesStatus types = s.context().wait_for_types(s.deadline());
  if (!types.types)
    return fail(Errc::not_found, "module list: no kernel types (" +
                                     (types.message.empty() ? std::string("not recovered")
                                                            : types.message) + ")");
  kernel::AddressSpace as(s.memory(), s.walker_for(*sc), sc->top);
  return kernel::read_modules(as, syms.symbols->table, *types.types, with_symbols);
}

namespace {

std::string_view module_state_name(int st) {
  switch (st) {
    case 0: return "live";
    case 1: return "coming";
    case 2: return "going";
    case 3: return "unformed";
  }
  return "?";
}

struct ModulesRow {
  kernel::ModuleList list;
  std::vector<const kernel::LoadedModule*> shown;
};

std::string to_text(const ModulesRow& r) {
  std::string s;
  auto out = std::back_inserter(s);
  fmt::format_to(out, "{:<24} {:>9} {:<18} {:<18} {:>7} {}\n", "MODULE", "SIZE", "TEXT",
                 "STRUCT", "SYMBOLS", "STATE");
  for (const kernel::LoadedModule* m : r.shown)
    fmt::format_to(out, "{:<24} {:>9} {:#018x} {:#018x} {:>7} {}\n", m->name, m->size(),
                   m->ranges.empty() ? 0 : m->ranges[0].base, m->address, m->symbols.size(),
                   module_state_name(m->state));
  fmt::format_to(out, "{} shown of {} modules ({} reads, {} bytes)\n", r.shown.size(),
                 r.list.modules.size(), r.list.reads, r.list.bytes);
  for (const std::string& w : r.list.warnings) fmt::format_to(out, "warning: {}\n", w);
  return s;
}

void to_json(JsonWriter& j, const ModulesRow& r) {
  j.begin_object().field("total", r.list.modules.size()).field("reads", r.list.reads)
      .field("bytes", r.list.bytes);
  j.key("warnings").begin_array();
  for (const std::string& w : r.list.warnings) j.value(w);
  j.end_array().key("modules").begin_array();
  for (const kernel::LoadedModule* m : r.shown) {
    j.begin_object().field("name", m->name).hex_field("address", m->address)
        .field("state", module_state_name(m->state)).field("size", m->size())
        .field("symbols", m->symbols.size());
    j.key("ranges").begin_array();
    for (const kernel::ModuleRange& mr : m->ranges)
      j.begin_object().hex_field("base", mr.base).field("size", mr.size).end_object();
    j.end_array();
    if (!m->symbols_error.empty()) j.field("symbols_error", m->symbols_error);
    j.end_object();
  }
  j.end_array().end_object();
}

Result<void> run_modules(SessionState& s, const stub::MonitorArgs& a,
                         const stub::OutputFn& out) {
  auto list = modules_now(s, true);
  if (!list) return std::unexpected(list.error());
  ModulesRow r{std::move(*list), {}};
  for (const kernel::LoadedModule& m : r.list.modules)
    if (!a.pattern || kernel::glob_match(*a.pattern, m.name)) r.shown.push_back(&m);
  emit(a, r, out);
  return {};
}

}  // namespace

stub::MonitorCommand modules_command(SessionState& s) {
  stub::MonitorCommand c{
      "modules", "modules [PATTERN]",
      "loaded kernel modules (name, size, text address, symbols), read from the modules list",
      [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) {
        return run_modules(s, a, out);
      },
      0, 1};
  c.takes_pattern = true;
  c.needs = kNeedsTypes;
  return c;
}

}  // namespace tlpstub::app::commands
