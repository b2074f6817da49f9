// kallsyms on hand-built tables: byte-level vectors for the decoder (values computed by hand
// from facts/linux.md §4), then whole layouts (every version family) laid out by the
// independent builder in tests/support/kallsyms_builder.hpp, placed in a fake kernel image
// behind a synthetic page table and recovered through VMCOREINFO and by scanning; malformed
// tables give errors.
#include "kernel/symbols/kallsyms.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>

#include "tests/support/fake_memory.hpp"
#include "tests/support/kallsyms_builder.hpp"

using namespace tlpstub;
using namespace tlpstub::kernel;
using tlpstub::test::FakeMemory;
using tlpstub::test::FakeSym;
using tlpstub::test::KallsymsBuilder;
using tlpstub::test::KallsymsLayoutSpec;
using tlpstub::test::PageTableBuilder;

namespace {

using Bytes = std::vector<std::uint8_t>;

// 256 single-character tokens, except slot 1 = "_te" and slot 2 = "linux_".
struct HandTokens {
  Bytes table, index;
  HandTokens() {
    for (int i = 0; i < 256; ++i) {
      index.push_back(static_cast<std::uint8_t>(table.size()));
      index.push_back(static_cast<std::uint8_t>(table.size() >> 8));
      if (i == 1) {
        for (char c : std::string("_te")) table.push_back(c);
      } else if (i == 2) {
        for (char c : std::string("linux_")) table.push_back(c);
      } else {
        table.push_back(static_cast<std::uint8_t>(i == 0 ? '@' : i));
      }
      table.push_back(0);
    }
  }
};

TEST(KallsymsDecode, HandBytesAbsolutePercpu) {
  HandTokens t;
  auto tokens = parse_tokens(t.table, t.index);
  ASSERT_TRUE(tokens) << tokens.error().message;
  EXPECT_EQ((*tokens)[2], "linux_");
  // "T_text" = 'T', token 1 ("_te"), 'x', 't': 4 tokens.
  // "Dlinux_banner" = 'D', token 2, b a n n e r: 8 tokens.
  // "druns" = d r u n s: 5 tokens.
  const Bytes names{0x04, 'T', 0x01, 'x', 't', 0x08, 'D', 0x02, 'b', 'a', 'n', 'n', 'e', 'r',
                    0x05, 'd', 'r', 'u', 'n', 's'};
  auto dn = decode_names(names, 3, *tokens, NameLength::byte, {}, 4);
  ASSERT_TRUE(dn) << dn.error().message;
  ASSERT_EQ(dn->names.size(), 3u);
  EXPECT_EQ(dn->names[0], "T_text");
  EXPECT_EQ(dn->names[1], "Dlinux_banner");
  EXPECT_EQ(dn->end, names.size());
  // base 0xffffffff8a000000. _text: -1 = ff ff ff ff. linux_banner at base + 0x1234560:
  // -(0x1234560) - 1 = 0xfedcba9f. runs: per-CPU offset 0x1a000.
  const Bytes offsets{0xff, 0xff, 0xff, 0xff, 0x9f, 0xba, 0xdc, 0xfe, 0x00, 0xa0, 0x01, 0x00};
  auto syms = decode_addresses(*dn, offsets, AddressEncoding::absolute_percpu, 0xffffffff8a000000);
  ASSERT_TRUE(syms) << syms.error().message;
  EXPECT_EQ((*syms)[0].name, "_text");
  EXPECT_EQ((*syms)[0].type, 'T');
  EXPECT_EQ((*syms)[0].address, 0xffffffff8a000000u);
  EXPECT_FALSE((*syms)[0].percpu);
  EXPECT_EQ((*syms)[1].address, 0xffffffff8b234560u);
  EXPECT_EQ((*syms)[2].address, 0x1a000u);
  EXPECT_TRUE((*syms)[2].percpu);
}

TEST(KallsymsDecode, HandBytes615AndAbsolute) {
  HandTokens t;
  auto tokens = parse_tokens(t.table, t.index);
  const Bytes names{0x04, 'T', 0x01, 'x', 't', 0x02, 'D', 'x'};
  auto dn = decode_names(names, 2, *tokens, NameLength::byte, {}, 4);
  ASSERT_TRUE(dn);
  // 6.15: base + (u32)off; 0x80000010 stays positive (u32, not s32).
  const Bytes off615{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x80};
  auto s = decode_addresses(*dn, off615, AddressEncoding::relative, 0xffffffff81000000);
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)[0].address, 0xffffffff81000000u);
  EXPECT_EQ((*s)[1].address, 0xffffffff81000000u + 0x80000010u);
  EXPECT_FALSE((*s)[1].percpu);
  const Bytes abs{0x00, 0x00, 0x00, 0x81, 0xff, 0xff, 0xff, 0xff,
                  0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  auto a = decode_addresses(*dn, abs, AddressEncoding::absolute, 0);
  ASSERT_TRUE(a);
  EXPECT_EQ((*a)[0].address, 0xffffffff81000000u);
  EXPECT_EQ((*a)[1].address, 0x2000u);
  EXPECT_TRUE((*a)[1].percpu);
}

TEST(KallsymsDecode, Uleb128LengthAndMarkers) {
  HandTokens t;
  auto tokens = parse_tokens(t.table, t.index);
  // Length 133 = 0x85 0x01 (0x05 | 1 << 7): 'T' then 132 'A's.
  Bytes names{0x85, 0x01, 'T'};
  names.insert(names.end(), 132, 'A');
  names.insert(names.end(), {0x02, 't', 'b'});
  auto dn = decode_names(names, 2, *tokens, NameLength::uleb128, {}, 4);
  ASSERT_TRUE(dn) << dn.error().message;
  EXPECT_EQ(dn->names[0], "T" + std::string(132, 'A'));
  EXPECT_EQ(dn->names[1], "tb");
  // The same bytes with 1-byte lengths: 0x85 is a length of 133 starting at 0x01: different.
  auto one = decode_names(names, 2, *tokens, NameLength::byte, {}, 4);
  EXPECT_TRUE(!one || one->names[0] != dn->names[0]);
  // Marker 0 must be 0 (4- and 8-byte).
  const Bytes m4{0, 0, 0, 0}, m8{0, 0, 0, 0, 0, 0, 0, 0}, bad{1, 0, 0, 0};
  EXPECT_TRUE(decode_names(names, 2, *tokens, NameLength::uleb128, m4, 4));
  EXPECT_TRUE(decode_names(names, 2, *tokens, NameLength::uleb128, m8, 8));
  auto b = decode_names(names, 2, *tokens, NameLength::uleb128, bad, 4);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("kallsyms_markers[0] = 1"), std::string::npos);
}

TEST(KallsymsDecode, MalformedGiveErrorsQuickly) {
  HandTokens t;
  auto tokens = parse_tokens(t.table, t.index);
  const Bytes names{0x04, 'T', 0x01, 'x', 't'};
  const auto t0 = std::chrono::steady_clock::now();
  // A count of 2^31: refused before anything is allocated.
  auto huge = decode_names(names, 1ull << 31, *tokens, NameLength::byte, {}, 4);
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code, Errc::malformed);
  // More symbols than the bytes can hold.
  EXPECT_FALSE(decode_names(names, 3, *tokens, NameLength::byte, {}, 4));
  // A length past the end.
  const Bytes past{0x09, 'T', 'x'};
  auto p = decode_names(past, 1, *tokens, NameLength::byte, {}, 4);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("length 9"), std::string::npos);
  // ULEB128 cut after its first byte.
  EXPECT_FALSE(decode_names(Bytes{0x81, 0x00}, 1, *tokens, NameLength::uleb128, {}, 4) &&
               false);
  EXPECT_FALSE(decode_names(Bytes{0x00, 0x00}, 1, *tokens, NameLength::byte, {}, 4));
  // Token index pointing past the token table; a token without NUL; a short index.
  Bytes idx = t.index;
  idx[2 * 7] = 0xff;
  idx[2 * 7 + 1] = 0xff;
  auto ti = parse_tokens(t.table, idx);
  ASSERT_FALSE(ti);
  EXPECT_NE(ti.error().message.find("kallsyms_token_index[7] = 65535"), std::string::npos);
  Bytes nonul = t.table;
  nonul.back() = 'x';
  EXPECT_FALSE(parse_tokens(nonul, t.index));
  EXPECT_FALSE(parse_tokens(t.table, Bytes(100)));
  // Address table shorter than the names.
  auto dn = decode_names(names, 1, *tokens, NameLength::byte, {}, 4);
  ASSERT_TRUE(dn);
  EXPECT_FALSE(decode_addresses(*dn, Bytes{1, 2}, AddressEncoding::absolute_percpu, 0));
  EXPECT_FALSE(decode_addresses(*dn, Bytes(4), AddressEncoding::absolute, 0));
  // A name that expands past KSYM_NAME_LEN through a long token.
  HandTokens big;
  Bytes table, index;
  for (int i = 0; i < 256; ++i) {
    index.push_back(static_cast<std::uint8_t>(table.size()));
    index.push_back(static_cast<std::uint8_t>(table.size() >> 8));
    table.insert(table.end(), i == 1 ? 300 : 1, 'q');
    table.push_back(0);
  }
  auto bt = parse_tokens(table, index);
  ASSERT_TRUE(bt) << bt.error().message;
  auto longname = decode_names(Bytes{0x03, 'T', 0x01, 0x01}, 1, *bt, NameLength::byte, {}, 4);
  ASSERT_FALSE(longname);
  EXPECT_NE(longname.error().message.find("expands past"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

// ---------------------------------------------------------------------------------------------
// Whole layouts in a fake kernel image.

constexpr std::uint64_t k2M = 2ull << 20;
constexpr std::uint64_t kTextVa = 0xffffffff8a000000;  // KASLR slide 0x9000000
constexpr std::uint64_t kTextPa = 0x2000000;
constexpr std::uint64_t kRodataVa = kTextVa + 2 * k2M;
constexpr std::uint64_t kBannerVa = kRodataVa + 0x180000;
constexpr std::uint64_t kTablesVa = kBannerVa + 0x100;
constexpr std::uint64_t kImageSlots = 6;

std::uint64_t pa(std::uint64_t va) { return va - kTextVa + kTextPa; }

std::vector<FakeSym> fake_symbols(bool percpu, bool long_name) {
  std::vector<FakeSym> s;
  if (percpu) {
    s.push_back({"fixed_percpu_data", 'D', 0x0, true});
    s.push_back({"runqueues", 'd', 0x1a000, true});
  }
  s.push_back({"_text", 'T', kTextVa});
  s.push_back({"startup_64", 'T', kTextVa});
  s.push_back({"_stext", 'T', kTextVa + 0x1000});
  for (int i = 0; i < 700; ++i)
    s.push_back({fmt::format("sym_{:04d}_in_text", i), i % 3 ? 't' : 'T',
                 kTextVa + 0x2000 + 0x40 * static_cast<std::uint64_t>(i)});
  if (long_name) s.push_back({std::string(200, 'L'), 'T', kTextVa + 0x80000});
  s.push_back({"linux_banner", 'R', kBannerVa});
  s.push_back({"init_task", 'D', kTextVa + 4 * k2M + 0x1000});
  return s;
}

struct FakeImage {
  FakeMemory mem;
  KernelImage img;
  test::BuiltKallsyms built;
  std::vector<FakeSym> syms;

  FakeImage(const KallsymsLayoutSpec& spec, bool vmcoreinfo) {
    PageTableBuilder b(mem, {.levels = 4, .first_table = 0x100000});
    for (std::uint64_t i = 0; i < kImageSlots; ++i) {
      mem.back(PhysAddr(kTextPa + i * k2M), k2M);
      b.map_2m(VirtAddr(kTextVa + i * k2M), PhysAddr(kTextPa + i * k2M),
               i < 2 ? PageTableBuilder::kKernelText
                     : PageTableBuilder::kKernelText | PageTableBuilder::NX);
    }
    const bool percpu = spec.enc != KallsymsLayoutSpec::relative_615;
    syms = fake_symbols(percpu, spec.uleb);
    built = KallsymsBuilder::build(syms, spec, kTablesVa, kTextVa);
    mem.write(PhysAddr(pa(kTablesVa)), built.bytes);
    const std::string banner = "Linux version 6.1.0-99-fake (x@y) (gcc) #1 SMP\n";
    mem.write(PhysAddr(pa(kBannerVa)), Bytes(banner.begin(), banner.end()));
    img.text_va = kTextVa;
    img.banner_va = kBannerVa;
    img.banner_pa = pa(kBannerVa);
    img.top = b.top();
    img.levels = 4;
    img.phys_base = kTextPa - (kTextVa - kStartKernelMap);
    if (vmcoreinfo) {
      img.vmcoreinfo["OSRELEASE"] = "6.1.0-99-fake";
      // kernel/vmcore_info.c exports these (markers and seqs are not exported).
      for (const char* n : {"kallsyms_names", "kallsyms_num_syms", "kallsyms_token_table",
                            "kallsyms_token_index", "kallsyms_offsets", "kallsyms_relative_base",
                            "kallsyms_addresses"})
        if (built.symbol_va.contains(n))
          img.vmcoreinfo[fmt::format("SYMBOL({})", n)] = fmt::format("{:x}", built.symbol_va[n]);
    }
  }
};

struct LayoutCase {
  const char* name;
  KallsymsLayoutSpec spec;
  const char* encoding;  // expected in the layout description
};

void PrintTo(const LayoutCase& c, std::ostream* os) { *os << c.name; }

class KallsymsLayouts : public ::testing::TestWithParam<std::tuple<LayoutCase, bool>> {};

TEST_P(KallsymsLayouts, RecoversEverySymbol) {
  const auto& [lc, vmcoreinfo] = GetParam();
  FakeImage f(lc.spec, vmcoreinfo);
  auto r = recover_symbols(f.mem, f.img);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->report.method, vmcoreinfo ? "vmcoreinfo" : "scan");
  EXPECT_NE(r->report.layout.find(lc.encoding), std::string::npos) << r->report.layout;
  EXPECT_NE(r->report.layout.find(lc.spec.order_64 ? "order 6.4+" : "order <= 6.3"),
            std::string::npos)
      << r->report.layout;
  EXPECT_NE(r->report.layout.find(fmt::format("{}-byte markers", lc.spec.width)),
            std::string::npos);
  EXPECT_EQ(r->report.names_va, f.built.symbol_va["kallsyms_names"]);
  ASSERT_EQ(r->table.size(), f.syms.size());
  for (const FakeSym& s : f.syms) {
    auto found = r->table.find(s.name);
    ASSERT_EQ(found.size(), 1u) << s.name;
    EXPECT_EQ(found[0]->address, s.address) << s.name;
    EXPECT_EQ(found[0]->type, s.type) << s.name;
    EXPECT_EQ(found[0]->percpu, s.percpu) << s.name;
  }
  // Large runs, not entry by entry: a handful of reads, never one per symbol.
  EXPECT_LT(r->report.reads, vmcoreinfo ? 40u : 200u);
  EXPECT_LT(f.mem.batches(), vmcoreinfo ? 40u : 200u);
}

const LayoutCase kCases[] = {
    {"v6_12", {KallsymsLayoutSpec::absolute_percpu, true, 4, true, true}, "absolute per-CPU"},
    {"v6_1_192", {KallsymsLayoutSpec::absolute_percpu, true, 4, true, false}, "absolute per-CPU"},
    {"v6_1_0", {KallsymsLayoutSpec::absolute_percpu, true, 4, false, false}, "absolute per-CPU"},
    {"v5_x", {KallsymsLayoutSpec::absolute_percpu, false, 4, false, false}, "absolute per-CPU"},
    {"v4_15", {KallsymsLayoutSpec::absolute_percpu, false, 8, false, false}, "absolute per-CPU"},
    {"v6_15", {KallsymsLayoutSpec::relative_615, true, 4, true, true}, "u32 offsets (6.15+)"},
    {"v6_4_noseqs", {KallsymsLayoutSpec::absolute_percpu, true, 4, false, true}, "absolute per-CPU"},
    {"absolute8", {KallsymsLayoutSpec::absolute, false, 8, false, false}, "absolute addresses"},
    {"absolute_64", {KallsymsLayoutSpec::absolute, true, 4, false, true}, "absolute addresses"},
};

INSTANTIATE_TEST_SUITE_P(All, KallsymsLayouts,
                         ::testing::Combine(::testing::ValuesIn(kCases), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param).name) +
                                  (std::get<1>(info.param) ? "_vmcoreinfo" : "_scan");
                         });

TEST(KallsymsRecover, RejectsTablesThatDoNotMatchTheKernel) {
  FakeImage f({}, true);
  f.img.text_va += k2M;  // discovery says _text is elsewhere: nothing validates
  auto r = recover_symbols(f.mem, f.img);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("_text decodes to 0xffffffff8a000000 (relative, absolute per-CPU (<= 6.14)) or "
                                     "0x89ffffff (relative, u32 offsets (6.15+)), "
                                     "discovery found _text at 0xffffffff8a200000"), std::string::npos)
      << r.error().message;
}

TEST(KallsymsRecover, HostileCountsAndIndexes) {
  {
    FakeImage f({}, true);
    f.mem.write_u64(PhysAddr(pa(f.built.symbol_va["kallsyms_num_syms"])), 0x80000000ull);
    // Scanning would find the tables by the token table, and num_syms is checked there too.
    auto r = recover_symbols(f.mem, f.img);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("kallsyms_num_syms at"), std::string::npos)
        << r.error().message;
  }
  {
    FakeImage f({}, true);
    const std::uint64_t idx = f.built.symbol_va["kallsyms_token_index"];
    f.mem.write(PhysAddr(pa(idx) + 2 * 0x41), Bytes{0xff, 0xff});  // token 'A' past the table
    const auto t0 = std::chrono::steady_clock::now();
    auto r = recover_symbols(f.mem, f.img);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("kallsyms_token_index[65] = 65535"), std::string::npos)
        << r.error().message;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  }
  {
    // Unreadable tables: the transport error is reported.
    FakeImage f({}, true);
    f.mem.fail_at(PhysAddr(pa(f.built.symbol_va["kallsyms_names"]) + 0x1000));
    auto r = recover_symbols(f.mem, f.img);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("cannot read"), std::string::npos) << r.error().message;
  }
}

TEST(SymbolTable, FindAddressSkipsPerCpuOffsets) {
  SymbolTable t({{"runqueues", 0x1a000, 'd', true},
                 {"runqueues", 0xffffffff82001000, 'D'},
                 {"only_percpu", 0x2000, 'd', true}});
  const Symbol* s = t.find_address("runqueues");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->address, 0xffffffff82001000u);
  EXPECT_EQ(t.find_address("only_percpu"), nullptr);
  EXPECT_EQ(t.find_address("absent"), nullptr);
}

TEST(SymbolTable, LookupsNearestAndGlob) {
  SymbolTable t({{"b_func", 0xffffffff81000100, 't'},
                 {"_text", 0xffffffff81000000, 'T'},
                 {"startup_64", 0xffffffff81000000, 't'},
                 {"runqueues", 0x1a000, 'd', true},
                 {"dup", 0xffffffff81000200, 't'},
                 {"dup", 0xffffffff81000300, 't'}});
  EXPECT_EQ(t.find("dup").size(), 2u);
  EXPECT_TRUE(t.find("nope").empty());
  auto n = t.nearest(0xffffffff81000104);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->symbol->name, "b_func");
  EXPECT_EQ(n->offset, 4u);
  EXPECT_EQ(t.nearest(0xffffffff81000000)->symbol->name, "_text");  // the global one
  EXPECT_FALSE(t.nearest(0x1a000));  // per-CPU offsets are not addresses
  EXPECT_FALSE(t.nearest(0xffffffff80000000));
  auto g = t.match("*u*", 1);
  EXPECT_EQ(g.total, 5u);  // runqueues, startup_64, b_func, dup, dup
  EXPECT_EQ(g.symbols.size(), 1u);
  EXPECT_TRUE(glob_match("sta?tup_*", "startup_64"));
  EXPECT_FALSE(glob_match("sta?tup_", "startup_64"));
  EXPECT_TRUE(glob_match("a\\*b", "a*b"));
  EXPECT_FALSE(glob_match("a\\*b", "axb"));
  // Many stars against a long non-match stays fast.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(glob_match("*a*a*a*a*a*a*a*a*b", std::string(5000, 'a')));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

}  // namespace
