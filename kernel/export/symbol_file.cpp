#include "kernel/export/symbol_file.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "kernel/export/dwarf_writer.hpp"
#include "kernel/export/elf_writer.hpp"

namespace tlpstub::kernel {

namespace {

// Variables the Linux views and a person at the gdb prompt reach for, with their C types, for
// kernels whose BTF has no VAR for them (pahole emits only per-CPU VARs before 1.26's
// global_var feature). Names and types: include/linux/sched/task.h (init_task),
// mm_types.h (init_mm), utsname.h (init_uts_ns), jiffies.h, nsproxy.h, pid_namespace.h,
// cred.h, module.h (modules, a static list_head in kernel/module/main.c).
struct KnownVariable {
  const char* name;
  btf::Kind kind;
  const char* type;
};
constexpr KnownVariable kKnownVariables[] = {
    {"init_task", btf::Kind::struct_, "task_struct"},
    {"init_mm", btf::Kind::struct_, "mm_struct"},
    {"init_uts_ns", btf::Kind::struct_, "uts_namespace"},
    {"init_nsproxy", btf::Kind::struct_, "nsproxy"},
    {"init_pid_ns", btf::Kind::struct_, "pid_namespace"},
    {"init_cred", btf::Kind::struct_, "cred"},
    {"init_net", btf::Kind::struct_, "net"},
    {"modules", btf::Kind::struct_, "list_head"},
    {"jiffies", btf::Kind::int_, "long unsigned int"},
    {"jiffies_64", btf::Kind::typedef_, "u64"},
    {"page_offset_base", btf::Kind::int_, "long unsigned int"},
    {"vmalloc_base", btf::Kind::int_, "long unsigned int"},
    {"vmemmap_base", btf::Kind::int_, "long unsigned int"},
    {"phys_base", btf::Kind::int_, "long unsigned int"},
    {"nr_cpu_ids", btf::Kind::int_, "unsigned int"},
    {"totalram_pages", btf::Kind::typedef_, "atomic_long_t"},
    {"prb", btf::Kind::ptr, nullptr},  // struct printk_ringbuffer *: found below
    {"init_thread_union", btf::Kind::union_, "thread_union"},
};

std::uint8_t symbol_type(const Symbol& s, bool in_text) {
  switch (std::tolower(static_cast<unsigned char>(s.type))) {
    case 't': return elf::kSttFunc;
    case 'w': return in_text ? elf::kSttFunc : elf::kSttObject;
    case 'a': return elf::kSttNotype;
    default: return elf::kSttObject;
  }
}

// A pointer type to `struct NAME`, if the BTF has one.
std::uint32_t pointer_to(const btf::Btf& b, std::string_view name) {
  auto target = b.find(btf::Kind::struct_, name);
  if (!target) return 0;
  for (std::uint32_t id = 1; id <= b.type_count(); ++id) {
    const btf::Type& t = b.type(id);
    if (t.kind == btf::Kind::ptr && t.size_or_type == *target) return id;
  }
  return 0;
}

std::vector<dwarf::Variable> collect_variables(const btf::Btf& b, const SymbolTable& symbols,
                                               std::uint64_t slide) {
  std::vector<dwarf::Variable> vars;
  std::set<std::string, std::less<>> seen;
  auto address_of = [&](std::string_view name) -> std::optional<std::uint64_t> {
    auto found = symbols.find(name);
    if (found.empty()) return std::nullopt;
    const Symbol* s = found.front();
    return s->percpu ? s->address : s->address - slide;
  };
  // BTF VARs, found through their DATASECs (per-CPU ones at least).
  for (std::uint32_t id = 1; id <= b.type_count(); ++id) {
    const btf::Type& sec = b.type(id);
    if (sec.kind != btf::Kind::datasec) continue;
    const bool percpu = b.name(sec.name_off) == ".data..percpu";
    for (const btf::Item& it : b.items(sec)) {
      if (it.type == 0 || it.type > b.type_count()) continue;
      const btf::Type& v = b.type(it.type);
      if (v.kind != btf::Kind::var) continue;
      const std::string name(b.name(v.name_off));
      if (name.empty() || seen.contains(name)) continue;
      auto addr = address_of(name);
      if (!addr && percpu) addr = it.offset;
      if (!addr) continue;
      seen.insert(name);
      vars.push_back({name, v.size_or_type, *addr});
    }
  }
  for (const KnownVariable& k : kKnownVariables) {
    if (seen.contains(k.name)) continue;
    auto addr = address_of(k.name);
    if (!addr) continue;
    std::uint32_t type = 0;
    if (k.kind == btf::Kind::ptr) {
      type = pointer_to(b, "printk_ringbuffer");
    } else if (auto t = b.find(k.kind, k.type)) {
      type = *t;
    }
    if (type == 0) continue;
    seen.insert(k.name);
    vars.push_back({k.name, type, *addr});
  }
  return vars;
}

struct ImageBounds {
  std::uint64_t start = 0, etext = 0, bss = 0, end = 0;  // link-time
};

// The image's sections from its own boundary symbols (arch/x86/kernel/vmlinux.lds.S: _text,
// _etext, __bss_start, _end), widened to every non-per-CPU symbol so each lies in a section.
ImageBounds image_bounds(const SymbolTable& symbols, std::uint64_t slide) {
  std::uint64_t lo = ~0ull, hi = 0;
  for (const Symbol& s : symbols.symbols()) {
    if (s.percpu) continue;
    lo = std::min(lo, s.address - slide);
    hi = std::max(hi, s.address - slide);
  }
  if (lo > hi) return {};
  auto at = [&](std::string_view name, std::uint64_t fallback) {
    const Symbol* s = symbols.find_address(name);
    return s ? s->address - slide : fallback;
  };
  ImageBounds b;
  b.start = std::min(lo, at("_text", lo));
  b.end = std::max(hi + 1, at("_end", hi + 1));
  b.etext = std::clamp(at("_etext", b.end), b.start, b.end);
  b.bss = std::clamp(at("__bss_start", b.end), b.etext, b.end);
  return b;
}

}  // namespace

SymbolFile write_symbol_file(const SymbolTable& symbols, const btf::Btf* btf,
                             std::uint64_t slide) {
  elf::ElfWriter w;
  SymbolFile out;
  const ImageBounds ib = image_bounds(symbols, slide);
  std::uint16_t text = 0, data = 0, bss = 0, percpu = 0;
  if (ib.end > ib.start) {
    text = w.add_section({".text", elf::kShtNobits, elf::kShfAlloc | elf::kShfExec, ib.start,
                          ib.etext - ib.start, {}});
    data = w.add_section({".data", elf::kShtNobits, elf::kShfAlloc | elf::kShfWrite, ib.etext,
                          ib.bss - ib.etext, {}});
    bss = w.add_section({".bss", elf::kShtNobits, elf::kShfAlloc | elf::kShfWrite, ib.bss,
                         ib.end - ib.bss, {}});
  }
  std::uint64_t percpu_end = 0;
  for (const Symbol& s : symbols.symbols())
    if (s.percpu) percpu_end = std::max(percpu_end, s.address + 1);
  if (percpu_end)
    percpu = w.add_section({".data..percpu", elf::kShtNobits, elf::kShfAlloc | elf::kShfWrite,
                            0, percpu_end, {}});

  // Sizes: the distance to the next higher symbol (kallsyms has no sizes).
  const auto& all = symbols.symbols();  // per-CPU first, then by address
  for (std::size_t i = 0; i < all.size(); ++i) {
    const Symbol& s = all[i];
    std::uint64_t size = 0;
    for (std::size_t j = i + 1; j < all.size() && all[j].percpu == s.percpu; ++j) {
      if (all[j].address > s.address) {
        size = all[j].address - s.address;
        break;
      }
    }
    elf::ElfSymbol e;
    e.name = s.name;
    e.bind = std::islower(static_cast<unsigned char>(s.type)) ? elf::kStbLocal : elf::kStbGlobal;
    if (s.percpu) {
      e.value = s.address;
      e.shndx = percpu;
      e.type = elf::kSttObject;
    } else {
      e.value = s.address - slide;
      e.shndx = e.value < ib.etext ? text : e.value < ib.bss ? data : bss;
      e.type = symbol_type(s, e.shndx == text);
    }
    if (e.type == elf::kSttFunc || e.type == elf::kSttObject) e.size = size;
    w.add_symbol(std::move(e));
    ++out.symbols;
  }
  if (const Symbol* t = symbols.find_address("_text")) w.set_entry(t->address - slide);

  if (btf) {
    dwarf::Sections d = dwarf::write_dwarf(*btf, collect_variables(*btf, symbols, slide));
    out.type_dies = d.type_dies;
    out.variables = d.variables;
    w.add_section({".debug_abbrev", elf::kShtProgbits, 0, 0, 0, std::move(d.abbrev)});
    w.add_section({".debug_info", elf::kShtProgbits, 0, 0, 0, std::move(d.info)});
    w.add_section({".debug_str", elf::kShtProgbits, 0, 0, 0,
                   std::move(d.str)});
  }
  out.bytes = w.finish();
  return out;
}

}  // namespace tlpstub::kernel
