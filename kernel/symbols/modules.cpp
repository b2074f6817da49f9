#include "kernel/symbols/modules.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace tlpstub::kernel {

namespace {

struct ModField {
  std::uint64_t off = 0, size = 0;
};

struct RangeFields {
  ModField base, size;
};

// Where the fields are, from TypeInfo.
struct ModuleLayout {
  ModField list, name, state, kallsyms;
  std::vector<RangeFields> ranges;
  ModField symtab, num_symtab, strtab;
  std::optional<ModField> typetab;
  std::uint64_t module_span = 0, kallsyms_span = 0;  // bytes to read of each struct
};

// Elf64_Sym (include/uapi/linux/elf.h): st_name u32 @0, st_info u8 @4, st_other u8 @5,
// st_shndx u16 @6, st_value u64 @8, st_size u64 @16.
constexpr std::uint64_t kModElfSymSize = 24;
// KSYM_NAME_LEN is 512 since 6.1 (128 before): a name starting at the largest st_name ends
// within this many bytes.
constexpr std::uint64_t kModNameSlack = 512;
constexpr std::uint64_t kModMaxStrtab = 16u << 20;
constexpr std::size_t kModMaxRanges = 16;

Result<ModField> mod_field(const TypeInfo& t, std::string_view s, std::string_view path) {
  auto f = t.member(s, path);
  if (!f) return std::unexpected(f.error());
  return ModField{f->offset, f->size};
}

Result<ModuleLayout> module_layout(const TypeInfo& t) {
  ModuleLayout L;
  for (auto [dst, path] : {std::pair{&L.list, "list"}, {&L.name, "name"}, {&L.state, "state"},
                           {&L.kallsyms, "kallsyms"}}) {
    auto f = mod_field(t, "module", path);
    if (!f) return fail(f.error().code, "struct module." + std::string(path) + ": " +
                                            f.error().message);
    *dst = *f;
  }
  if (L.list.size < 16) return fail(Errc::malformed, "struct module.list is not a list_head");
  // 6.4+: struct module_memory mem[MOD_MEM_NUM_TYPES] (text first); before: core_layout and
  // init_layout (struct module_layout), each a base and a size.
  if (auto mem = mod_field(t, "module", "mem")) {
    auto elem = t.struct_size("module_memory");
    auto base = mod_field(t, "module_memory", "base");
    auto size = mod_field(t, "module_memory", "size");
    if (!elem || !base || !size || *elem == 0)
      return fail(Errc::not_found, "struct module.mem: no struct module_memory layout");
    const std::uint64_t n = std::min<std::uint64_t>(mem->size / *elem, kModMaxRanges);
    for (std::uint64_t i = 0; i < n; ++i)
      L.ranges.push_back({{mem->off + i * *elem + base->off, base->size},
                          {mem->off + i * *elem + size->off, size->size}});
  } else {
    for (std::string_view l : {"core_layout", "init_layout"}) {
      auto base = mod_field(t, "module", std::string(l) + ".base");
      auto size = mod_field(t, "module", std::string(l) + ".size");
      if (base && size) L.ranges.push_back({*base, *size});
    }
    if (L.ranges.empty())
      return fail(Errc::not_found, "struct module has neither mem[] nor core_layout");
  }
  for (auto [dst, path] : {std::pair{&L.symtab, "symtab"}, {&L.num_symtab, "num_symtab"},
                           {&L.strtab, "strtab"}}) {
    auto f = mod_field(t, "mod_kallsyms", path);
    if (!f) return fail(f.error().code, "struct mod_kallsyms." + std::string(path) + ": " +
                                            f.error().message);
    *dst = *f;
  }
  if (auto f = mod_field(t, "mod_kallsyms", "typetab")) L.typetab = *f;

  auto end = [](const ModField& f) { return f.off + f.size; };
  for (const ModField* f : {&L.list, &L.name, &L.state, &L.kallsyms})
    L.module_span = std::max(L.module_span, end(*f));
  for (const RangeFields& r : L.ranges)
    L.module_span = std::max({L.module_span, end(r.base), end(r.size)});
  for (const ModField* f : {&L.symtab, &L.num_symtab, &L.strtab})
    L.kallsyms_span = std::max(L.kallsyms_span, end(*f));
  if (L.typetab) L.kallsyms_span = std::max(L.kallsyms_span, end(*L.typetab));
  if (L.module_span > (1u << 16) || L.kallsyms_span > 256)
    return fail(Errc::malformed, "struct module layout larger than any kernel's");
  return L;
}

// A little-endian field; 0 when it does not fit (the spans above make that a layout bug).
std::uint64_t mod_value(std::span<const std::uint8_t> b, const ModField& f) {
  if (f.size == 0 || f.size > 8 || f.off > b.size() || b.size() - f.off < f.size) return 0;
  std::uint64_t v = 0;
  for (std::uint64_t i = 0; i < f.size; ++i) v |= std::uint64_t(b[f.off + i]) << (8 * i);
  return v;
}

std::uint64_t mod_le(std::span<const std::uint8_t> b, std::uint64_t off, std::uint64_t size) {
  return mod_value(b, ModField{off, size});
}

// Kernel half of the address space with either paging depth (5-level's starts lowest).
bool mod_pointer_ok(std::uint64_t a) { return a >= 0xff00000000000000ull; }

class ModuleReader {
 public:
  ModuleReader(AddressSpace& as, ModuleList& out) : as_(as), out_(out) {}

  // Reads `n` bytes at `va`; the bytes that could be read and, if short, why.
  std::vector<std::uint8_t> bytes(std::uint64_t va, std::uint64_t n, std::optional<Error>& why) {
    std::vector<std::uint8_t> b(n);
    ++out_.reads;
    ReadOutcome o = as_.read(VirtAddr(va), b);
    out_.bytes += o.bytes_read;
    b.resize(o.bytes_read);
    why = o.fault;
    return b;
  }

 private:
  AddressSpace& as_;
  ModuleList& out_;
};

char mod_type_from_st_info(std::uint8_t info) {
  // Without a typetab: the ELF symbol type and binding (STT_FUNC text, STT_OBJECT data;
  // STB_GLOBAL upper case), as nm would guess them.
  const unsigned type = info & 0xf, bind = info >> 4;
  char c = type == 2 ? 't' : type == 1 ? 'd' : '?';
  if (bind == 1 && c != '?') c = char(c - 'a' + 'A');
  return c;
}

void read_module_symbols(ModuleReader& rd, const ModuleLayout& L, std::uint64_t kallsyms,
                  LoadedModule& m) {
  std::optional<Error> why;
  if (!mod_pointer_ok(kallsyms)) {
    m.symbols_error = fmt::format("kallsyms pointer {:#x} is not a kernel address", kallsyms);
    return;
  }
  auto ks = rd.bytes(kallsyms, L.kallsyms_span, why);
  if (ks.size() < L.kallsyms_span) {
    m.symbols_error = fmt::format("reading mod_kallsyms at {:#x}: {}", kallsyms,
                                  why ? why->message : "short read");
    return;
  }
  const std::uint64_t symtab = mod_value(ks, L.symtab), strtab = mod_value(ks, L.strtab);
  const std::uint64_t num = mod_value(ks, L.num_symtab);
  const std::uint64_t typetab = L.typetab ? mod_value(ks, *L.typetab) : 0;
  if (num == 0) return;
  if (num > kMaxModuleSymbols || !mod_pointer_ok(symtab) || !mod_pointer_ok(strtab)) {
    m.symbols_error = fmt::format("implausible symbol table ({} symbols at {:#x}, names at "
                                  "{:#x})", num, symtab, strtab);
    return;
  }
  auto syms = rd.bytes(symtab, num * kModElfSymSize, why);
  const std::uint64_t have = syms.size() / kModElfSymSize;
  if (have < num)
    m.symbols_error = fmt::format("symbol table cut at entry {} of {}: {}", have, num,
                                  why ? why->message : "short read");
  std::uint64_t max_name = 0;
  for (std::uint64_t i = 0; i < have; ++i)
    max_name = std::max<std::uint64_t>(max_name, mod_le(syms, i * kModElfSymSize, 4));
  const std::uint64_t strtab_len = std::min(max_name + kModNameSlack, kModMaxStrtab);
  // The string table may end before the slack does: a short read is expected here, and a name
  // that does not end inside what was read is left out.
  auto names = rd.bytes(strtab, strtab_len, why);
  std::vector<std::uint8_t> types;
  if (mod_pointer_ok(typetab)) types = rd.bytes(typetab, have, why);
  std::uint64_t unnamed = 0;
  for (std::uint64_t i = 0; i < have; ++i) {
    const std::span<const std::uint8_t> e(syms.data() + i * kModElfSymSize, kModElfSymSize);
    const std::uint64_t name_off = mod_le(e, 0, 4);
    if (name_off >= names.size()) { ++unnamed; continue; }
    auto first = names.begin() + std::ptrdiff_t(name_off);
    auto nul = std::find(first, names.end(), std::uint8_t{0});
    if (nul == names.end()) { ++unnamed; continue; }
    if (nul == first) continue;  // the null symbol; /proc/kallsyms skips empty names too
    Symbol s;
    s.name.assign(first, nul);
    s.address = mod_le(e, 8, 8);
    s.type = i < types.size() ? char(types[i]) : mod_type_from_st_info(e[4]);
    m.symbols.push_back(std::move(s));
  }
  if (unnamed && m.symbols_error.empty())
    m.symbols_error = fmt::format("{} symbols with a name outside the string table", unnamed);
  std::stable_sort(m.symbols.begin(), m.symbols.end(),
                   [](const Symbol& a, const Symbol& b) { return a.address < b.address; });
}

const Symbol* modules_head_symbol(const SymbolTable& core) {
  for (const Symbol* s : core.find("modules"))
    if (!s->percpu && std::string_view("dDbB").find(s->type) != std::string_view::npos) return s;
  return nullptr;
}

}  // namespace

Result<void> check_module_types(const TypeInfo& types) {
  auto l = module_layout(types);
  if (!l) return std::unexpected(l.error());
  return {};
}

std::uint64_t LoadedModule::size() const {
  std::uint64_t n = 0;
  for (const ModuleRange& r : ranges) n += r.size;
  return n;
}

Result<ModuleList> read_modules(AddressSpace& as, const SymbolTable& core, const TypeInfo& types,
                                bool with_symbols) {
  const Symbol* head_sym = modules_head_symbol(core);
  if (!head_sym) return fail(Errc::not_found, "no 'modules' list in the kernel's symbols");
  auto L = module_layout(types);
  if (!L) return std::unexpected(L.error());
  ModuleList out;
  ModuleReader rd(as, out);
  const std::uint64_t head = head_sym->address;
  std::optional<Error> why;
  auto hb = rd.bytes(head, 16, why);
  if (hb.size() < 16)
    return fail(why ? why->code : Errc::malformed,
                fmt::format("reading the modules list head at {:#x}: {}", head,
                            why ? why->message : "short read"));
  std::uint64_t node = mod_le(hb, 0, 8), prev = head;
  std::set<std::uint64_t> seen;
  std::vector<std::uint64_t> kallsyms;
  std::string where = "the list head";
  while (node != head) {
    if (out.modules.size() >= kMaxModules) {
      out.warnings.push_back(fmt::format("more than {} modules: list cut there", kMaxModules));
      break;
    }
    if (!mod_pointer_ok(node) || node < L->list.off) {
      out.warnings.push_back(fmt::format("module list broken after {}: next {:#x} is not a "
                                         "kernel address", where, node));
      break;
    }
    if (!seen.insert(node).second) {
      out.warnings.push_back(fmt::format("module list broken after {}: it loops back to "
                                         "{:#x}", where, node));
      break;
    }
    const std::uint64_t mod = node - L->list.off;
    auto b = rd.bytes(mod, L->module_span, why);
    if (b.size() < L->module_span) {
      out.warnings.push_back(fmt::format("module list broken after {}: reading struct module "
                                         "at {:#x}: {}", where, mod,
                                         why ? why->message : "short read"));
      break;
    }
    const std::uint64_t next = mod_le(b, L->list.off, 8), back = mod_le(b, L->list.off + 8, 8);
    if (back != prev) {
      out.warnings.push_back(fmt::format("module list broken after {}: struct module at {:#x} "
                                         "links back to {:#x}, not {:#x}", where, mod, back,
                                         prev));
      break;
    }
    LoadedModule m;
    m.address = mod;
    const auto name = std::span(b).subspan(L->name.off, L->name.size);
    for (std::uint8_t c : name) {
      if (c == 0) break;
      m.name.push_back(c >= 0x20 && c < 0x7f ? char(c) : '?');
    }
    m.state = int(mod_value(b, L->state));
    for (const RangeFields& r : L->ranges) {
      ModuleRange mr{mod_value(b, r.base), mod_value(b, r.size)};
      if (mr.base && mr.size) m.ranges.push_back(mr);
    }
    kallsyms.push_back(mod_value(b, L->kallsyms));
    where = fmt::format("module '{}' at {:#x}", m.name, mod);
    out.modules.push_back(std::move(m));
    prev = node;
    node = next;
  }
  if (with_symbols) {
    for (std::size_t i = 0; i < out.modules.size(); ++i) {
      LoadedModule& m = out.modules[i];
      if (m.state == 3) {  // MODULE_STATE_UNFORMED: its tables are not set up yet
        m.symbols_error = "module still loading (unformed)";
        continue;
      }
      read_module_symbols(rd, *L, kallsyms[i], m);
      if (!m.symbols_error.empty())
        out.warnings.push_back(fmt::format("module '{}': {}", m.name, m.symbols_error));
    }
  }
  return out;
}

std::optional<ModuleSymbol> module_symbol_at(const ModuleList& list, std::uint64_t address) {
  for (const LoadedModule& m : list.modules) {
    for (const ModuleRange& r : m.ranges) {
      if (!r.contains(address)) continue;
      auto it = std::upper_bound(m.symbols.begin(), m.symbols.end(), address,
                                 [](std::uint64_t a, const Symbol& s) { return a < s.address; });
      if (it == m.symbols.begin()) return ModuleSymbol{&m, nullptr, 0};
      --it;
      if (!r.contains(it->address)) return ModuleSymbol{&m, nullptr, 0};
      return ModuleSymbol{&m, &*it, address - it->address};
    }
  }
  return std::nullopt;
}

std::vector<ModuleSymbol> module_symbols_named(const ModuleList& list, std::string_view name) {
  std::vector<ModuleSymbol> out;
  for (const LoadedModule& m : list.modules)
    for (const Symbol& s : m.symbols)
      if (s.name == name) out.push_back({&m, &s, 0});
  return out;
}

std::vector<ModuleSymbol> module_symbols_matching(const ModuleList& list, std::string_view glob,
                                                  std::size_t limit, std::size_t& total) {
  std::vector<ModuleSymbol> out;
  total = 0;
  for (const LoadedModule& m : list.modules)
    for (const Symbol& s : m.symbols)
      if (glob_match(glob, s.name)) {
        ++total;
        if (out.size() < limit) out.push_back({&m, &s, 0});
      }
  return out;
}

}  // namespace tlpstub::kernel
