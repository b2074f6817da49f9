// Loaded modules and their symbols from hand-built struct modules in fake memory: the pre-6.4
// layout (core_layout/init_layout) given to TypeInfo member by member, as inference or a
// profile would; lookups by address, name and glob; and a list that is broken, cyclic or
// claims absurd sizes, which must end with what was read before and a warning.
#include <gtest/gtest.h>

#include <cstring>

#include <fmt/format.h>

#include "kernel/symbols/module_btf.hpp"
#include "kernel/symbols/modules.hpp"
#include "tests/kernel/btf_blob.hpp"
#include "tests/support/fake_memory.hpp"

namespace tlpstub::kernel {
namespace {

using test::FakeMemory;
using test::PageTableBuilder;

constexpr std::uint64_t kHead = 0xffffffff82100000;  // `modules`, a list_head
constexpr std::uint64_t kModArea = 0xffffffffc0000000;

// struct module (this test's layout): state@0 list@8 name[56]@24 core_layout.base@80
// core_layout.size@88 init_layout.base@96 init_layout.size@104 kallsyms@112 (120 bytes).
// struct mod_kallsyms: symtab@0 num_symtab@8 strtab@16 typetab@24.
TypeInfo module_layout() {
  TypeInfo t;
  auto add = [&](std::string s, std::string p, std::uint64_t off, std::uint64_t size) {
    FieldInfo f;
    f.offset = off;
    f.size = size;
    f.source = "test";
    t.add_member(std::move(s), std::move(p), f);
  };
  add("module", "state", 0, 4);
  add("module", "list", 8, 16);
  add("module", "name", 24, 56);
  add("module", "core_layout.base", 80, 8);
  add("module", "core_layout.size", 88, 4);
  add("module", "init_layout.base", 96, 8);
  add("module", "init_layout.size", 104, 4);
  add("module", "kallsyms", 112, 8);
  add("mod_kallsyms", "symtab", 0, 8);
  add("mod_kallsyms", "num_symtab", 8, 4);
  add("mod_kallsyms", "strtab", 16, 8);
  add("mod_kallsyms", "typetab", 24, 8);
  return t;
}

void put(std::vector<std::uint8_t>& b, std::size_t off, std::uint64_t v, std::size_t n = 8) {
  if (b.size() < off + n) b.resize(off + n);
  for (std::size_t i = 0; i < n; ++i) b[off + i] = std::uint8_t(v >> (8 * i));
}

struct FakeSym {
  std::string name;
  std::uint64_t address;
  char type;
};

struct ModuleRig {
  FakeMemory mem;
  PageTableBuilder b{mem, {.levels = 4, .first_table = 0x10000}};
  PageWalker walker{mem, 4, 0};
  TypeInfo types = module_layout();
  SymbolTable core{{{"modules", kHead, 'd'}, {"_text", 0xffffffff81000000, 'T'}}};
  std::uint64_t next_pa = 0x1000000;
  std::uint64_t next_va = kModArea;

  void place(std::uint64_t va, const std::vector<std::uint8_t>& bytes) {
    const std::uint64_t start = va & ~0xfffull, end = (va + bytes.size() + 0xfff) & ~0xfffull;
    b.map_range_4k(VirtAddr(start), PhysAddr(next_pa), end - start);
    mem.write(PhysAddr(next_pa + (va - start)), bytes);
    next_pa += end - start;
  }
  std::uint64_t alloc(std::uint64_t n) {
    const std::uint64_t va = next_va;
    next_va += (n + 0xfff) & ~0xfffull;
    return va;
  }

  // A module's struct at `mod`, text at `text` (size 0x1000), with these symbols; the list
  // links are written by link().
  std::vector<std::uint8_t> module(std::string name, std::uint64_t text,
                                   const std::vector<FakeSym>& syms, std::uint64_t num = 0) {
    std::vector<std::uint8_t> m(120);
    std::memcpy(m.data() + 24, name.data(), std::min<std::size_t>(name.size(), 55));
    put(m, 80, text);
    put(m, 88, 0x1000, 4);
    // Symbol table: the null symbol first, as the kernel lays it out.
    std::vector<std::uint8_t> symtab(24), strtab(1, 0), typetab(1, 0);
    for (const FakeSym& s : syms) {
      std::vector<std::uint8_t> e(24);
      put(e, 0, strtab.size(), 4);
      put(e, 8, s.address);
      symtab.insert(symtab.end(), e.begin(), e.end());
      strtab.insert(strtab.end(), s.name.begin(), s.name.end());
      strtab.push_back(0);
      typetab.push_back(std::uint8_t(s.type));
    }
    const std::uint64_t ks = alloc(32), st = alloc(symtab.size()), sn = alloc(strtab.size()),
                        ty = alloc(typetab.size());
    place(st, symtab);
    place(sn, strtab);
    place(ty, typetab);
    std::vector<std::uint8_t> k(32);
    put(k, 0, st);
    put(k, 8, num ? num : syms.size() + 1, 4);
    put(k, 16, sn);
    put(k, 24, ty);
    place(ks, k);
    put(m, 112, ks);
    return m;
  }

  // Places the modules in list order with correct links (or as `fix` bends them).
  void link(std::vector<std::vector<std::uint8_t>> mods,
            const std::function<void(std::vector<std::uint64_t>&, std::size_t,
                                     std::vector<std::uint8_t>&)>& fix = {}) {
    std::vector<std::uint64_t> at;
    for (std::size_t i = 0; i < mods.size(); ++i) at.push_back(alloc(120));
    auto node = [&](std::size_t i) { return i == mods.size() ? kHead : at[i] + 8; };
    std::vector<std::uint8_t> head(16);
    put(head, 0, mods.empty() ? kHead : node(0));
    put(head, 8, mods.empty() ? kHead : node(mods.size() - 1));
    place(kHead, head);
    for (std::size_t i = 0; i < mods.size(); ++i) {
      put(mods[i], 8, node(i + 1));
      put(mods[i], 16, i == 0 ? kHead : node(i - 1));
      if (fix) fix(at, i, mods[i]);
      place(at[i], mods[i]);
    }
  }

  Result<ModuleList> read(bool syms = true) {
    AddressSpace as(mem, walker, b.top());
    return read_modules(as, core, types, syms);
  }
};

constexpr std::uint64_t kTextA = 0xffffffffc1000000, kTextB = 0xffffffffc2000000;

TEST(Modules, ListsModulesAndTheirSymbols) {
  ModuleRig r;
  auto a = r.module("alpha", kTextA, {{"alpha_init", kTextA + 0x10, 't'},
                                      {"alpha_read", kTextA + 0x100, 'T'},
                                      {"alpha_table", kTextA + 0x800, 'd'}});
  auto b = r.module("beta", kTextB, {{"beta_probe", kTextB + 0x40, 't'}});
  r.link({a, b});
  auto l = r.read();
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_TRUE(l->warnings.empty()) << l->warnings.front();
  ASSERT_EQ(l->modules.size(), 2u);
  EXPECT_EQ(l->modules[0].name, "alpha");
  EXPECT_EQ(l->modules[1].name, "beta");
  ASSERT_EQ(l->modules[0].ranges.size(), 1u);  // init_layout is empty: left out
  EXPECT_EQ(l->modules[0].ranges[0].base, kTextA);
  EXPECT_EQ(l->modules[0].size(), 0x1000u);
  ASSERT_EQ(l->modules[0].symbols.size(), 3u);  // the null symbol is not one
  EXPECT_EQ(l->modules[0].symbols[1].name, "alpha_read");
  EXPECT_EQ(l->modules[0].symbols[1].type, 'T');

  auto at = module_symbol_at(*l, kTextA + 0x123);
  ASSERT_TRUE(at && at->symbol);
  EXPECT_EQ(at->module->name, "alpha");
  EXPECT_EQ(at->symbol->name, "alpha_read");
  EXPECT_EQ(at->offset, 0x23u);
  // Inside the module but below its first symbol: the module, no symbol.
  auto low = module_symbol_at(*l, kTextB + 0x8);
  ASSERT_TRUE(low);
  EXPECT_EQ(low->symbol, nullptr);
  EXPECT_FALSE(module_symbol_at(*l, kTextB + 0x1000));  // just past beta's text

  auto named = module_symbols_named(*l, "beta_probe");
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named[0].symbol->address, kTextB + 0x40);
  std::size_t total = 0;
  auto globbed = module_symbols_matching(*l, "alpha_*", 2, total);
  EXPECT_EQ(total, 3u);
  EXPECT_EQ(globbed.size(), 2u);
}

TEST(Modules, EmptyListIsNoModules) {
  ModuleRig r;
  r.link({});
  auto l = r.read();
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_TRUE(l->modules.empty());
  EXPECT_TRUE(l->warnings.empty());
}

TEST(Modules, BrokenBackLinkGivesWhatCameBeforeAndSaysWhere) {
  ModuleRig r;
  auto a = r.module("alpha", kTextA, {});
  auto b = r.module("beta", kTextB, {});
  r.link({a, b}, [](auto&, std::size_t i, auto& m) { if (i == 1) put(m, 16, 0xffffffffdead0000); });
  auto l = r.read();
  ASSERT_TRUE(l) << l.error().message;
  ASSERT_EQ(l->modules.size(), 1u);
  EXPECT_EQ(l->modules[0].name, "alpha");
  ASSERT_EQ(l->warnings.size(), 1u);
  EXPECT_NE(l->warnings[0].find("after module 'alpha'"), std::string::npos) << l->warnings[0];
  EXPECT_NE(l->warnings[0].find("links back"), std::string::npos) << l->warnings[0];
}

TEST(Modules, CycleEndsTheWalk) {
  ModuleRig r;
  auto a = r.module("alpha", kTextA, {});
  auto b = r.module("beta", kTextB, {});
  // beta's next goes back to alpha (whose back link is the head, so the loop is caught as a
  // node seen twice or a bad back link, never walked forever).
  r.link({a, b}, [](auto& at, std::size_t i, auto& m) { if (i == 1) put(m, 8, at[0] + 8); });
  auto l = r.read();
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(l->modules.size(), 2u);
  ASSERT_EQ(l->warnings.size(), 1u);
  EXPECT_NE(l->warnings[0].find("after module 'beta'"), std::string::npos) << l->warnings[0];
}

TEST(Modules, PointerIntoNowhereAndAbsurdSymbolCount) {
  ModuleRig r;
  auto a = r.module("alpha", kTextA, {{"alpha_init", kTextA + 0x10, 't'}}, 1u << 30);
  auto b = r.module("beta", kTextB, {});
  r.link({a, b}, [](auto&, std::size_t i, auto& m) { if (i == 1) put(m, 8, 0x1234); });
  auto l = r.read();
  ASSERT_TRUE(l) << l.error().message;
  ASSERT_EQ(l->modules.size(), 2u);
  EXPECT_TRUE(l->modules[0].symbols.empty());
  EXPECT_NE(l->modules[0].symbols_error.find("implausible"), std::string::npos);
  ASSERT_EQ(l->warnings.size(), 2u);
  EXPECT_NE(l->warnings[0].find("is not a kernel address"), std::string::npos) << l->warnings[0];
}

TEST(Modules, UnmappedModuleStructEndsTheWalkWithTheReadError) {
  ModuleRig r;
  std::vector<std::uint8_t> head(16);
  put(head, 0, 0xffffffffc9000008);  // mapped nowhere
  put(head, 8, kHead);
  r.place(kHead, head);
  auto l = r.read();
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_TRUE(l->modules.empty());
  ASSERT_EQ(l->warnings.size(), 1u);
  EXPECT_NE(l->warnings[0].find("reading struct module"), std::string::npos) << l->warnings[0];
}

// Modules' split BTF through kernel/bpf/btf.c's btf_modules list, with this test's layouts:
// struct btf_module list@0 module@16 btf@24; struct btf data@0 data_size@80 (u32). One module
// with a blob, one without, one whose blob is unmapped, one absurdly large; then a broken link.
TEST(Modules, SplitBtfThroughBtfModules) {
  ModuleRig r;
  auto add = [&](std::string st, std::string p, std::uint64_t off, std::uint64_t size) {
    FieldInfo f;
    f.offset = off;
    f.size = size;
    r.types.add_member(std::move(st), std::move(p), f);
  };
  add("btf_module", "list", 0, 16);
  add("btf_module", "module", 16, 8);
  add("btf_module", "btf", 24, 8);
  add("btf", "data", 0, 8);
  add("btf", "data_size", 80, 4);
  constexpr std::uint64_t kBtfHead = 0xffffffff82200000;
  r.core = SymbolTable{{{"modules", kHead, 'd'}, {"btf_modules", kBtfHead, 'd'},
                        {"_text", 0xffffffff81000000, 'T'}}};
  // Base: 1 INT "int". Module: 2 STRUCT "mod_only" (4 bytes): x (1) @0. Strings continue the
  // base's ("\0int\0", 5 bytes): "mod_only" at 5, "x" at 14.
  test::BtfBlob base;
  base.w({base.str("int"), test::BtfBlob::info(1, 0), 4, (1u << 24) | 32});
  auto vmlinux = btf::Btf::parse(base.bytes());
  ASSERT_TRUE(vmlinux);
  test::BtfBlob split;
  split.strings = std::string("mod_only\0x\0", 11);
  split.w({5, test::BtfBlob::info(4, 1), 4, 14, 1, 0});
  const auto blob = split.bytes();
  const std::uint64_t blob_at = r.alloc(blob.size());
  r.place(blob_at, blob);
  // (module pointer, data, size) of each entry.
  const std::uint64_t mods[4][3] = {{0xffffffffc3000000, blob_at, blob.size()},
                                    {0xffffffffc3001000, 0, 0},
                                    {0xffffffffc3002000, 0xffffffffc9000000, 64},
                                    {0xffffffffc3003000, blob_at, 1u << 30}};
  std::uint64_t entry[4];
  for (auto& e : entry) e = r.alloc(48);
  auto node = [&](int i) { return i == 4 ? kBtfHead : entry[i]; };
  std::vector<std::uint8_t> head(16);
  put(head, 0, entry[0]);
  put(head, 8, entry[3]);
  r.place(kBtfHead, head);
  for (int i = 0; i < 4; ++i) {
    std::vector<std::uint8_t> e(48), b(88);
    const std::uint64_t btf_at = r.alloc(88);
    put(e, 0, node(i + 1));
    put(e, 8, i == 0 ? kBtfHead : node(i - 1));
    put(e, 16, mods[i][0]);
    put(e, 24, btf_at);
    put(b, 0, mods[i][1]);
    put(b, 80, mods[i][2], 4);
    r.place(entry[i], e);
    r.place(btf_at, b);
  }
  // A second list whose one entry links back elsewhere (walked below): the walk stops there.
  constexpr std::uint64_t kBtfHead2 = 0xffffffff82300000;
  const std::uint64_t bent_at = r.alloc(48);
  std::vector<std::uint8_t> bent(48), head2(16);
  put(bent, 0, kBtfHead2);
  put(bent, 8, 0xffffffffdead0000);
  put(head2, 0, bent_at);
  put(head2, 8, bent_at);
  r.place(bent_at, bent);
  r.place(kBtfHead2, head2);
  AddressSpace as(r.mem, r.walker, r.b.top());
  auto l = list_module_btf(as, r.core, r.types);
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_TRUE(l->warnings.empty()) << l->warnings.front();
  ASSERT_EQ(l->entries.size(), 4u);
  EXPECT_EQ(l->entries[0].module, mods[0][0]);
  EXPECT_EQ(l->entries[0].data, blob_at);
  EXPECT_EQ(l->entries[0].size, blob.size());

  auto mb = read_module_btf(as, l->entries[0], "alpha", *vmlinux);
  ASSERT_TRUE(mb) << mb.error().message;
  auto id = mb->find(btf::Kind::struct_, "mod_only");
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, 2u);
  EXPECT_EQ(mb->type_name(mb->items(mb->type(*id))[0].type), "int");
  auto none = read_module_btf(as, l->entries[1], "beta", *vmlinux);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message, "module beta has no BTF");
  auto unmapped = read_module_btf(as, l->entries[2], "gamma", *vmlinux);
  ASSERT_FALSE(unmapped);
  EXPECT_NE(unmapped.error().message.find("module gamma: reading its BTF at 0xffffffffc9000000"),
            std::string::npos) << unmapped.error().message;
  auto huge = read_module_btf(as, l->entries[3], "delta", *vmlinux);
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().message,
            fmt::format("module delta: implausible BTF (1073741824 bytes at {:#x})", blob_at));

  const SymbolTable core2{{{"btf_modules", kBtfHead2, 'd'}}};
  auto cut = list_module_btf(as, core2, r.types);
  ASSERT_TRUE(cut) << cut.error().message;
  EXPECT_EQ(cut->entries.size(), 0u);
  ASSERT_EQ(cut->warnings.size(), 1u);
  EXPECT_NE(cut->warnings[0].find("does not link back"), std::string::npos) << cut->warnings[0];

  // No layout: an error naming the member.
  auto nolayout = list_module_btf(as, r.core, TypeInfo{});
  ASSERT_FALSE(nolayout);
  EXPECT_NE(nolayout.error().message.find("struct btf_module.list"), std::string::npos);
}

TEST(Modules, NoLayoutIsAnError) {
  ModuleRig r;
  r.link({});
  r.types = TypeInfo{};
  auto l = r.read();
  ASSERT_FALSE(l);
  EXPECT_NE(l.error().message.find("struct module"), std::string::npos) << l.error().message;
}

}  // namespace
}  // namespace tlpstub::kernel
