// The kernel config from memory: IKCONFIG from a synthetic gzip blob (zlib is the oracle for
// the compression), config files assembled from page-cache pages (ordered by struct page or
// by adjacency, with gaps), copies of other kernels rejected, and inferred options.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "kernel/linux/kconfig.hpp"
#include "tests/kernel/btf_blob.hpp"
#include "tests/kernel/btf_sample.hpp"
#include "tests/support/fake_memory.hpp"

namespace tlpstub::kernel {
namespace {

using test::FakeMemory;
using test::PageTableBuilder;

constexpr std::string_view kConfigBanner =
    "Linux version 6.12.117+deb12-amd64 (debian-kernel@lists.debian.org) (x86_64-linux-gnu-"
    "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP "
    "PREEMPT_DYNAMIC Debian 6.12.117-1~deb12u1 (2025-11-01)";

// A config file as Kconfig writes it, long enough for several pages.
std::string config_file(std::string_view version, std::string_view cc, int extra = 600) {
  std::string s = fmt::format("#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 {} "
                              "Kernel Configuration\n#\nCONFIG_CC_VERSION_TEXT=\"{}\"\n"
                              "CONFIG_CC_IS_GCC=y\nCONFIG_GCC_VERSION=120200\n",
                              version, cc);
  for (int i = 0; i < extra; ++i) {
    if (i % 50 == 0) s += fmt::format("\n#\n# Section {}\n#\n", i / 50);
    if (i % 3 == 0)
      s += fmt::format("# CONFIG_OPTION_{}_NUMBER is not set\n", i);
    else
      s += fmt::format("CONFIG_OPTION_{}_NUMBER={}\n", i, i % 3 == 1 ? "y" : "m");
  }
  s += "CONFIG_CMDLINE=\"console=ttyS0 quiet\"\n# end of Kernel hacking\n";
  return s;
}

std::map<std::string, std::string> as_map(const std::vector<ConfigOption>& v) {
  std::map<std::string, std::string> m;
  for (const ConfigOption& o : v) m[o.name] = o.value;
  return m;
}

std::vector<std::uint8_t> gzip(std::string_view s) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::vector<std::uint8_t> out(deflateBound(&z, s.size()) + 64);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  z.avail_in = static_cast<uInt>(s.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST(Kconfig, ParsesSetAndUnsetLinesOnly) {
  auto v = parse_config("#\n# Section\n#\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\n"
                        "CONFIG_D=0x10\r\nnot a line\nCONFIG_=y\nCONFIG_E F=y\n# CONFIG_G\n",
                        "t");
  EXPECT_EQ(as_map(v), (std::map<std::string, std::string>{{"CONFIG_A", "y"},
                                                           {"CONFIG_B", "n"},
                                                           {"CONFIG_C", "\"x y\""},
                                                           {"CONFIG_D", "0x10"}}));
  EXPECT_EQ(config_line(v[1]), "# CONFIG_B is not set");
  EXPECT_EQ(config_line(v[2]), "CONFIG_C=\"x y\"");
}

TEST(Kconfig, IkconfigBlob) {
  const std::string text = config_file("6.12.117", "gcc", 50);
  std::vector<std::uint8_t> blob = {'I', 'K', 'C', 'F', 'G', '_', 'S', 'T'};
  const auto gz = gzip(text);
  blob.insert(blob.end(), gz.begin(), gz.end());
  for (char c : std::string_view("IKCFG_ED")) blob.push_back(static_cast<std::uint8_t>(c));
  auto t = ikconfig_text(blob);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(*t, text);
  // Broken: markers, a flipped byte in the stream, a cut stream, a size cap.
  auto no_end = blob;
  no_end.back() = 'X';
  EXPECT_NE(ikconfig_text(no_end).error().message.find("markers"), std::string::npos);
  auto flipped = blob;
  flipped[8 + gz.size() / 2] ^= 0xff;
  EXPECT_FALSE(ikconfig_text(flipped));
  auto cut = std::vector<std::uint8_t>(gz.begin(), gz.begin() + static_cast<long>(gz.size() / 2));
  EXPECT_NE(gunzip(cut, 1 << 20).error().message.find("cut short"), std::string::npos);
  EXPECT_NE(gunzip(gz, 100).error().message.find("more than 100"), std::string::npos);
}

// A kernel image under a 4-level table, as discovery would describe it.
struct Image {
  static constexpr std::uint64_t kText = 0xffffffff9a000000, kTextPa = 0x2000000;
  FakeMemory mem;
  PageTableBuilder b{mem, {.levels = 4, .first_table = 0x100000}};
  KernelImage img;

  Image() {
    b.map_range_4k(VirtAddr(kText), PhysAddr(kTextPa), 0x200000);
    mem.back(PhysAddr(kTextPa), 0x200000);
    img.banner = std::string(kConfigBanner);
    img.release = "6.12.117+deb12-amd64";
    img.text_va = kText;
    img.kaslr_slide = kText - kDefaultTextVa;
    img.top = b.top();
    img.levels = 4;
    img.page_offset_base = 0xffff9c8000000000;
  }
  Result<KernelConfig> recover(const SymbolTable* syms, const TypeInfo* types, bool scan) {
    PageWalker walker(mem, 4, 0);
    AddressSpace as(mem, walker, b.top());
    ConfigInputs in{mem, as, img, syms, types, {}, scan};
    return recover_config(in);
  }
};

TEST(Kconfig, IkconfigFromMemoryIsExactAndPreferred) {
  Image im;
  const std::string text = config_file("6.12.117", "gcc", 300);
  const auto gz = gzip(text);
  std::vector<std::uint8_t> blob = {'I', 'K', 'C', 'F', 'G', '_', 'S', 'T'};
  blob.insert(blob.end(), gz.begin(), gz.end());
  for (char c : std::string_view("IKCFG_ED")) blob.push_back(static_cast<std::uint8_t>(c));
  const std::uint64_t at = 0x123458;  // inside the image, not page-aligned
  im.mem.write(PhysAddr(Image::kTextPa + at), blob);
  const std::uint64_t data = Image::kText + at + 8;
  SymbolTable syms({{"_text", Image::kText, 'T'},
                    {"kernel_config_data", data, 'r'},
                    {"kernel_config_data_end", data + gz.size(), 'r'}});
  auto cfg = im.recover(&syms, nullptr, true);
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->text, text);
  EXPECT_EQ(cfg->report.by_source.at("ikconfig"), parse_config(text, "").size());
  EXPECT_NE(cfg->report.source.find("IKCONFIG"), std::string::npos);
  EXPECT_EQ(cfg->report.pages_probed, 0u);  // exact: no page-cache probe
  for (const ConfigOption& o : cfg->options) {
    if (o.source == kSourceIkconfig) {
      EXPECT_TRUE(text.find(config_line(o)) != std::string::npos);
    }
  }

  // A corrupted blob: a note saying why, and the other sources.
  im.mem.write(PhysAddr(Image::kTextPa + at + 8 + gz.size() / 2), std::vector<std::uint8_t>(16));
  auto bad = im.recover(&syms, nullptr, false);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->report.source, "inferred from memory only");
  ASSERT_FALSE(bad->report.notes.empty());
  EXPECT_NE(bad->report.notes[0].find("gzip"), std::string::npos);
  // Symbols that claim a 1 GiB blob are refused before any read.
  SymbolTable huge({{"kernel_config_data", data, 'r'},
                    {"kernel_config_data_end", data + (1ull << 30), 'r'}});
  auto h = im.recover(&huge, nullptr, false);
  ASSERT_TRUE(h);
  EXPECT_NE(h->report.notes[0].find("implausible"), std::string::npos);
}

std::vector<ProbedPage> pages_of(const std::string& text, std::uint64_t first_pa,
                                 std::uint64_t mapping) {
  std::vector<ProbedPage> out;
  for (std::size_t off = 0, i = 0; off < text.size(); off += 4096, ++i) {
    ProbedPage p;
    p.pa = first_pa + i * 4096;
    p.bytes.assign(4096, 0);
    std::copy_n(text.begin() + static_cast<long>(off), std::min<std::size_t>(4096, text.size() - off),
                p.bytes.begin());
    p.mapping = mapping;
    p.index = i;
    p.has_page_info = mapping != 0;
    out.push_back(std::move(p));
  }
  return out;
}

TEST(Kconfig, AssemblesFilesByStructPageOrByAdjacency) {
  const std::string text = config_file("6.12.117", "gcc", 600);
  ASSERT_GT(text.size(), 3 * 4096u);
  // By struct page: pages scattered and shuffled.
  auto pages = pages_of(text, 0x100000, 0xffff888004c3a5b8);
  std::mt19937 rng(7);
  for (std::size_t i = 0; i < pages.size(); ++i) pages[i].pa = 0x100000 + (pages.size() - i) * 0x9000;
  std::shuffle(pages.begin(), pages.end(), rng);
  auto copies = assemble_copies(pages);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].text, text);
  EXPECT_EQ(copies[0].ordered_by, "struct page index");
  EXPECT_EQ(copies[0].header, "Linux/x86 6.12.117 Kernel Configuration");
  EXPECT_EQ(copies[0].cc_version, "\"gcc\"");
  // By adjacency: no page info, contiguous.
  auto flat = pages_of(text, 0x200000, 0);
  copies = assemble_copies(flat);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].text, text);
  EXPECT_EQ(copies[0].ordered_by, "physical adjacency");
  // A missing page: counted, the lines cut by it dropped, never spliced into garbage.
  auto gap = pages_of(text, 0x100000, 0xffff888004c3a5b8);
  gap.erase(gap.begin() + 1);
  copies = assemble_copies(gap);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].missing_pages, 1u);
  const auto full = as_map(parse_config(text, ""));
  const auto got = parse_config(copies[0].text, "");
  EXPECT_LT(got.size(), full.size());
  EXPECT_GT(got.size(), full.size() / 2);
  for (const ConfigOption& o : got) EXPECT_EQ(full.at(o.name), o.value) << o.name;
}

TEST(Kconfig, CopiesOfOtherKernelsAreNotUsed) {
  ConfigCopy c;
  c.header = "Linux/x86 6.1.19 Kernel Configuration";
  std::string why;
  EXPECT_FALSE(config_matches(c, "Linux version 6.1.0-5 ... #1 SMP Debian 6.1.192-3", &why));
  EXPECT_EQ(why, "built for Linux 6.1.19, not the running kernel");
  c.header = "Linux/x86 6.1.192 Kernel Configuration";
  EXPECT_TRUE(config_matches(c, "Linux version 6.1.0-5 ... #1 SMP Debian 6.1.192-3", &why));
  c.cc_version = "\"gcc-13 (Debian 13.2.0-4) 13.2.0\"";
  EXPECT_FALSE(config_matches(c, "Linux version 6.1.0 (gcc-12 (Debian 12.2.0-14) 12.2.0) 6.1.192",
                              &why));
  EXPECT_NE(why.find("compiler"), std::string::npos);
}

TEST(Kconfig, ProbeHelpers) {
  const std::string hdr = "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 6.1";
  EXPECT_TRUE(is_config_header(std::span(reinterpret_cast<const std::uint8_t*>(hdr.data()), 64)));
  auto span = [](std::string_view s) {
    return std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  EXPECT_TRUE(looks_like_config(span("ONFIG_X=y\n# CONFIG_Y is not set\n")));
  EXPECT_TRUE(looks_like_config(span("y\n#\n# Section\n#\n")));
  EXPECT_FALSE(looks_like_config(span("plain words with no newline")));
  EXPECT_FALSE(looks_like_config(span("CONFIG_X=y\n\x01\x02")));
  std::string tail = "CONFIG_LAST=y\n";
  tail.append(20, '\0');
  EXPECT_TRUE(looks_like_config(span(tail)));
  tail += "x";
  EXPECT_FALSE(looks_like_config(span(tail)));
}

// struct page {flags; lru (16); mapping @24; index @32; ...} 64 bytes (include/linux/mm_types.h
// shape), for the page-cache path end to end.
std::shared_ptr<const btf::Btf> page_btf() {
  test::BtfBlob b;
  using B = test::BtfBlob;
  b.w({b.str("long unsigned int"), B::info(test::kInt, 0), 8, 64});  // 1
  b.w({0, B::info(test::kPtr, 0), 0});                              // 2 void *
  b.w({b.str("page"), B::info(test::kStruct, 3), 64, b.str("flags"), 1, 0, b.str("mapping"), 2,
       192, b.str("index"), 1, 256});                               // 3
  auto p = btf::Btf::parse(b.bytes());
  EXPECT_TRUE(p);
  return std::make_shared<const btf::Btf>(std::move(*p));
}

TEST(Kconfig, PageCacheEndToEndPicksTheRunningKernelsCopy) {
  Image im;
  const std::uint64_t vmemmap = 0xffffd4e5c0000000;
  im.img.vmemmap_base = vmemmap;
  const std::string mine = config_file("6.12.117", "x86_64-linux-gnu-gcc-12 (Debian "
                                       "12.2.0-14+deb12u1) 12.2.0", 700);
  const std::string other = config_file("6.1.192", "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0",
                                        300);
  // Mine: pages in reverse physical order (as the page allocator often hands them out);
  // the other kernel's copy: contiguous, with no struct page info.
  const std::uint64_t mine_map = 0xffff888003a1b2c0;
  std::vector<std::uint64_t> mine_pa;
  for (std::size_t off = 0, i = 0; off < mine.size(); off += 4096, ++i) {
    const std::uint64_t pa = 0x3800000 - i * 0x3000;
    mine_pa.push_back(pa);
    std::vector<std::uint8_t> page(4096, 0);
    std::copy_n(mine.begin() + static_cast<long>(off), std::min<std::size_t>(4096, mine.size() - off),
                page.begin());
    im.mem.write(PhysAddr(pa), page);
  }
  for (std::size_t off = 0; off < other.size(); off += 4096) {
    std::vector<std::uint8_t> page(4096, 0);
    std::copy_n(other.begin() + static_cast<long>(off),
                std::min<std::size_t>(4096, other.size() - off), page.begin());
    im.mem.write(PhysAddr(0x1000000 + off), page);
  }
  // struct pages of mine, in a vmemmap mapped by 4K pages.
  std::set<std::uint64_t> mapped;
  for (std::size_t i = 0; i < mine_pa.size(); ++i) {
    const std::uint64_t sp = vmemmap + (mine_pa[i] >> 12) * 64;
    const std::uint64_t backing = 0x5000000 + (mine_pa[i] >> 12) * 64;
    if (mapped.insert(sp & ~0xfffull).second)
      im.b.map_4k(VirtAddr(sp & ~0xfffull), PhysAddr(backing & ~0xfffull));
    im.mem.write_u64(PhysAddr(backing + 24), mine_map);
    im.mem.write_u64(PhysAddr(backing + 32), i);
  }
  // A page of printable non-config text, and a page of binary: not candidates.
  im.mem.write(PhysAddr(0x2000000 + 0x300000), std::vector<std::uint8_t>(4096, 'a'));
  TypeInfo types(page_btf());
  SymbolTable syms({{"_text", Image::kText, 'T'}, {"init_task", Image::kText + 0x1000, 'D'}});
  im.mem.reset_counters();
  auto cfg = im.recover(&syms, &types, true);
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->text, mine);
  EXPECT_EQ(as_map(cfg->options).size(),
            as_map(parse_config(mine, "")).size() + cfg->report.by_source.at("inferred"));
  ASSERT_EQ(cfg->report.copies.size(), 2u);
  std::size_t chosen = 0;
  for (const ConfigCopy& c : cfg->report.copies) {
    chosen += c.chosen;
    if (c.header.find("6.1.192") != std::string::npos) {
      EXPECT_FALSE(c.matches);
      EXPECT_EQ(c.verdict, "built for Linux 6.1.192, not the running kernel");
    } else {
      EXPECT_TRUE(c.chosen);
      EXPECT_EQ(c.ordered_by, "struct page index");
      EXPECT_EQ(c.phys, mine_pa[0]);
    }
  }
  EXPECT_EQ(chosen, 1u);
  // Sparse: 64 bytes per page probed, whole pages only for candidates and the struct pages.
  const std::uint64_t probed = cfg->report.pages_probed;
  EXPECT_EQ(probed, im.mem.info().max_address / 4096);
  EXPECT_LT(im.mem.bytes(), probed * 64 + 64 * 4096);
  EXPECT_LT(im.mem.bytes(), im.mem.info().max_address / 16);
  // Inferred: KASLR, SMP and PREEMPT_DYNAMIC from the banner, KALLSYMS_ALL.
  const auto m = as_map(cfg->options);
  EXPECT_EQ(m.at("CONFIG_RANDOMIZE_BASE"), "y");
  EXPECT_EQ(m.at("CONFIG_RANDOMIZE_MEMORY"), "y");
  EXPECT_EQ(m.at("CONFIG_SMP"), "y");
  EXPECT_EQ(m.at("CONFIG_PREEMPT_DYNAMIC"), "y");
  EXPECT_EQ(m.at("CONFIG_KALLSYMS_ALL"), "y");
  EXPECT_FALSE(m.contains("CONFIG_X86_5LEVEL"));

  // Without the matching copy: only the other kernel's file, which is not used.
  for (std::uint64_t pa : mine_pa) im.mem.write(PhysAddr(pa), std::vector<std::uint8_t>(4096, 0));
  auto none = im.recover(&syms, &types, true);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->report.source, "inferred from memory only");
  EXPECT_EQ(none->report.by_source.size(), 1u);
}

// A transport that does not know where RAM ends (NetTLP without --ram-size).
class SizeUnknown final : public PhysicalMemory {
 public:
  explicit SizeUnknown(FakeMemory& m) : m_(m) {}
  MemoryInfo info() const override { return {"size-unknown", 0, 64, true}; }

 protected:
  void do_read(std::span<const ReadRange> r, std::span<ReadStatus> st, Deadline d) override {
    m_.read(r, st, d);
  }

 private:
  FakeMemory& m_;
};

TEST(Kconfig, RamSizeFromMaxPfnWhenTheTransportDoesNotKnow) {
  Image im;
  const std::string mine = config_file("6.12.117", "", 10);
  im.mem.write(PhysAddr(0x1000000), std::vector<std::uint8_t>(mine.begin(), mine.end()));
  SizeUnknown mem(im.mem);
  PageWalker walker(mem, 4, 0);
  AddressSpace as(mem, walker, im.b.top());
  ConfigInputs in{mem, as, im.img, nullptr, nullptr, {}, true};
  auto none = recover_config(in);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->report.pages_probed, 0u);
  EXPECT_NE(none->report.notes[0].find("size is unknown"), std::string::npos);
  // max_pfn = 0x1800 (24 MiB): the probe stops there.
  im.mem.write_u64(PhysAddr(Image::kTextPa + 0x2000), 0x1800);
  SymbolTable syms({{"max_pfn", Image::kText + 0x2000, 'B'}});
  in.symbols = &syms;
  auto cfg = recover_config(in);
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->report.pages_probed, 0x1800u);
  EXPECT_EQ(cfg->text, mine);
}

TEST(Kconfig, InferredFromPagingAndSymbols) {
  KernelImage img;
  img.levels = 5;
  img.banner = "Linux version 6.1.0 (x@y) (gcc) #1 SMP PREEMPT_RT Thu";
  img.release = "6.1.0-rt";
  img.vmcoreinfo = {{"OSRELEASE", "6.1.0-rt"}};
  SymbolTable syms({{"__start_orc_unwind_ip", 0xffffffff82000000, 'R'}});
  const auto m = as_map(infer_options(img, &syms, true));
  EXPECT_EQ(m.at("CONFIG_X86_5LEVEL"), "y");
  EXPECT_EQ(m.at("CONFIG_PGTABLE_LEVELS"), "5");
  EXPECT_EQ(m.at("CONFIG_PREEMPT_RT"), "y");
  EXPECT_EQ(m.at("CONFIG_UNWINDER_ORC"), "y");
  EXPECT_EQ(m.at("CONFIG_DEBUG_INFO_BTF"), "y");
  EXPECT_EQ(m.at("CONFIG_CRASH_CORE"), "y");
  EXPECT_FALSE(m.contains("CONFIG_RANDOMIZE_BASE"));
  EXPECT_FALSE(m.contains("CONFIG_PREEMPT_DYNAMIC"));
}

}  // namespace
}  // namespace tlpstub::kernel
