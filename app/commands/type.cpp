// monitor type NAME: the layout of a struct or union as the kernel's types give it (BTF), like
// pahole: offset, size, type and name of every member, anonymous structs and unions expanded
// in place, bitfields as offset:bit and :bits. NAME may be "task_struct", "struct task_struct",
// "union NAME" or a typedef of a struct. Without BTF: the members inference or a --profile
// know, each with its source, under a PARTIAL label, and the wanted members nobody found.
// A NAME vmlinux's BTF lacks is looked for as a function, then in the split BTF of each
// loaded module (kernel/symbols/module_btf.hpp), read at the time of the command.
#include <fmt/format.h>

#include <optional>

#include "app/commands/commands.hpp"
#include "app/commands/module_symbols.hpp"
#include "kernel/symbols/module_btf.hpp"
#include "kernel/symbols/type_info.hpp"

namespace tlpstub::app::commands {

namespace {

struct TypeRow {
  kernel::StructLayout layout;
  // Set instead of a layout when NAME is a function (BTF FUNC): its C declaration.
  std::string function, signature;
};

// Without BTF: only what inference or a profile knows, each member with its source, and the
// wanted members nobody found; labelled so nobody takes it for the whole struct.
std::string partial_text(const kernel::StructLayout& L) {
  std::string s = fmt::format(
      "PARTIAL layout (no BTF): only the {} member(s) the views use that {} found; the struct "
      "has others\n{} {} {{ /* size {} */\n",
      L.members.size(), L.source, L.kind, L.name,
      L.size ? fmt::format("{}", L.size) : std::string("unknown"));
  auto out = std::back_inserter(s);
  for (const kernel::LayoutRow& m : L.members) {
    if (m.bit_size)
      fmt::format_to(out, "  /* {:>6}:{:<2} {:>5} */  {} {}:{};  /* {} */\n", m.offset,
                     m.bit_offset - m.offset * 8, m.size, m.type_name, m.name, m.bit_size,
                     m.source);
    else
      fmt::format_to(out, "  /* {:>6}    {:>5} */  {} {};  /* {} */\n", m.offset, m.size,
                     m.type_name.empty() ? "?" : m.type_name, m.name, m.source);
  }
  s += "};\n";
  for (const auto& [path, why] : L.missing) fmt::format_to(out, "  missing: {}: {}\n", path, why);
  return s;
}

std::string to_text(const TypeRow& r) {
  const kernel::StructLayout& L = r.layout;
  if (!r.function.empty())
    return fmt::format("function {}: {}; /* from {} */\n", r.function, r.signature, L.source);
  if (L.partial) return partial_text(L);
  std::string s = fmt::format("{} {} {{ /* size {}, from {} */\n", L.kind, L.name, L.size,
                              L.source);
  auto out = std::back_inserter(s);
  for (const kernel::LayoutRow& m : L.members) {
    const std::string indent(2 + 4 * m.depth, ' ');
    if (m.bit_size)
      fmt::format_to(out, "  /* {:>6}:{:<2} {:>5} */{}{} {}:{};\n", m.offset,
                     m.bit_offset - m.offset * 8, m.size, indent, m.type_name, m.name, m.bit_size);
    else
      fmt::format_to(out, "  /* {:>6}    {:>5} */{}{}{}{};\n", m.offset, m.size, indent,
                     m.type_name, m.name.empty() ? "" : " ", m.name);
  }
  return s + "};\n";
}

void to_json(JsonWriter& j, const TypeRow& r) {
  const kernel::StructLayout& L = r.layout;
  if (!r.function.empty()) {
    j.begin_object()
        .field("kind", "function")
        .field("name", r.function)
        .field("signature", r.signature)
        .field("source", L.source)
        .end_object();
    return;
  }
  j.begin_object()
      .field("kind", L.kind)
      .field("name", L.name)
      .field("size", L.size)
      .field("source", L.source)
      .field("partial", L.partial);
  j.key("members").begin_array();
  for (const kernel::LayoutRow& m : L.members) {
    j.begin_object()
        .field("offset", m.offset)
        .field("size", m.size)
        .field("type", m.type_name)
        .field("name", m.name)
        .field("depth", m.depth)
        .field("bit_offset", m.bit_offset)
        .field("bit_size", m.bit_size);
    if (L.partial) j.field("source", m.source);
    j.end_object();
  }
  j.end_array();
  if (L.partial) {
    j.key("missing").begin_array();
    for (const auto& [path, why] : L.missing)
      j.begin_object().field("name", path).field("why", why).end_object();
    j.end_array();
  }
  j.end_object();
}

// A FUNC named `name` among the ids from `first` on.
std::optional<TypeRow> function_row(const kernel::btf::Btf& b, std::uint32_t first,
                                    std::string_view name, std::string source) {
  auto id = b.find(kernel::btf::Kind::func, name);
  if (!id || *id < first) return std::nullopt;
  TypeRow r;
  r.function = std::string(name);
  r.signature = b.function_signature(*id);
  r.layout.source = std::move(source);
  return r;
}

// NAME not in vmlinux's BTF: a function of vmlinux, or a struct, union or function that only a
// loaded module defines (its split BTF, read now: modules come and go). `why` gets what
// was searched when nothing matched.
std::optional<TypeRow> lookup_elsewhere(SessionState& s, const kernel::TypeInfo& ti,
                                        std::string_view name, std::string& why) {
  const kernel::btf::Btf* vmlinux = ti.btf();
  if (!vmlinux) return std::nullopt;
  const bool tagged = name.starts_with("struct ") || name.starts_with("union ");
  if (!tagged)
    if (auto f = function_row(*vmlinux, 1, name, "BTF")) return f;
  // Module names by struct module address (btf_modules holds the pointer, not the name).
  auto mods = modules_now(s, false);
  if (!mods) {
    why = "; loaded modules not searched: " + mods.error().message;
    return std::nullopt;
  }
  const auto& sc = s.snapshot().space;
  const SymbolsStatus& syms = s.symbols();
  if (!sc || !syms.symbols) return std::nullopt;
  kernel::AddressSpace as(s.memory(), s.walker_for(*sc), sc->top);
  auto list = kernel::list_module_btf(as, syms.symbols->table, ti);
  if (!list) {
    why = "; loaded modules not searched: " + list.error().message;
    return std::nullopt;
  }
  std::size_t searched = 0;
  std::vector<std::string> errors = list->warnings;
  for (const kernel::ModuleBtfRef& ref : list->entries) {
    std::string mname = fmt::format("at {:#x}", ref.module);
    for (const kernel::LoadedModule& m : mods->modules)
      if (m.address == ref.module) mname = m.name;
    auto mb = kernel::read_module_btf(as, ref, mname, *vmlinux);
    if (!mb) {
      if (mb.error().code != Errc::not_found) errors.push_back(mb.error().message);
      continue;
    }
    ++searched;
    const std::string source = "BTF of module " + mname;
    const std::uint32_t first = mb->first_own_type();
    auto shared = std::make_shared<const kernel::btf::Btf>(std::move(*mb));
    if (!tagged)
      if (auto f = function_row(*shared, first, name, source)) return f;
    const kernel::TypeInfo mt(shared);
    if (auto L = mt.describe_struct(name)) {
      L->source = source;
      return TypeRow{std::move(*L), {}, {}};
    }
  }
  why = fmt::format(" (nor a function; searched the BTF of {} loaded module(s){}{})", searched,
                    errors.empty() ? "" : "; ", errors.empty() ? "" : errors.front());
  return std::nullopt;
}

}  // namespace

stub::MonitorCommand type_command(SessionState& s) {
  stub::MonitorCommand c{
      "type", "type NAME",
      "layout of a struct or union from the kernel's BTF (offset, size, type, bitfields); "
      "without BTF, the partial layout inference or the profile know",
      [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) -> Result<void> {
        std::string name;
        for (std::string_view w : a.words) name += (name.empty() ? "" : " ") + std::string(w);
        const auto types = s.context().types().types;
        auto layout = types->describe_struct(name);
        if (layout) {
          emit(a, TypeRow{std::move(*layout), {}, {}}, out);
          return {};
        }
        if (layout.error().code != Errc::not_found) return std::unexpected(layout.error());
        std::string why;
        if (auto r = lookup_elsewhere(s, *types, name, why)) {
          emit(a, *r, out);
          return {};
        }
        return fail(layout.error().code, layout.error().message + why);
      },
      1, 2};
  c.needs = kNeedsTypes;
  return c;
}

}  // namespace tlpstub::app::commands
