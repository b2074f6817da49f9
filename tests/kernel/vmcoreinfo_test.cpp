#include "kernel/vmcoreinfo.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernel/banner.hpp"
#include "tests/support/fake_memory.hpp"

using namespace tlpstub;
using namespace tlpstub::kernel;
using tlpstub::test::FakeMemory;

namespace {

std::vector<std::uint8_t> page_of(const std::string& text, std::size_t size = 4096) {
  std::vector<std::uint8_t> p(size, 0);
  for (std::size_t i = 0; i < text.size() && i < size; ++i)
    p[i] = static_cast<std::uint8_t>(text[i]);
  return p;
}

// Lines as Debian 6.1.192 writes them [obs], formats from kernel/crash_core.c.
const std::string kText =
    "OSRELEASE=6.1.0-56-cloud-amd64\n"
    "BUILD-ID=3b43fad5034874490492495d552c0af6a5fab235\n"
    "PAGESIZE=4096\n"
    "SYMBOL(init_uts_ns)=ffffffff9ddf9b60\n"
    "OFFSET(uts_namespace.name)=0\n"
    "SYMBOL(swapper_pg_dir)=ffffffff9dc10000\n"
    "SIZE(page)=64\n"
    "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\n"
    "NUMBER(VMALLOC_START)=0xff3c654000000000\n"
    "NUMBER(phys_base)=-140509184\n"
    "SYMBOL(init_top_pgt)=ffffffff9dc10000\n"
    "NUMBER(pgtable_l5_enabled)=1\n"
    "KERNELOFFSET=1b200000\n"
    "NUMBER(sme_mask)=0\n";

}  // namespace

TEST(Vmcoreinfo, ParsesHexSymbolsAndDecimalNumbers) {
  auto v = parse_vmcoreinfo(page_of(kText));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->osrelease(), "6.1.0-56-cloud-amd64");
  EXPECT_EQ(v->build_id(), "3b43fad5034874490492495d552c0af6a5fab235");
  EXPECT_EQ(v->symbol("init_top_pgt"), 0xffffffff9dc10000u);
  EXPECT_EQ(v->symbol("init_uts_ns"), 0xffffffff9ddf9b60u);
  EXPECT_EQ(v->kerneloffset(), 0x1b200000u);
  // NUMBER is %ld: phys_base below the link address prints negative; read it as 2^64 - x.
  EXPECT_EQ(v->number("phys_base"), 0xfffffffff7a00000u);
  EXPECT_EQ(v->number("PAGE_BUDDY_MAPCOUNT_VALUE"), static_cast<std::uint64_t>(-129));
  EXPECT_EQ(v->number("pgtable_l5_enabled"), 1u);
  EXPECT_EQ(v->number("sme_mask"), 0u);
  // ... except VMALLOC_START, printed with 0x%lx (kernel/vmcore_info.c).
  EXPECT_EQ(v->number("VMALLOC_START"), 0xff3c654000000000u);
  EXPECT_EQ(v->offset("uts_namespace.name"), 0u);
  EXPECT_EQ(v->size("page"), 64u);
  EXPECT_TRUE(v->ended_by_nul);
  EXPECT_EQ(v->text_length, kText.size());
  EXPECT_TRUE(v->problems.empty());
  EXPECT_EQ(v->entries.size(), 14u);
}

TEST(Vmcoreinfo, MissingKeysAreNullopt) {
  auto v = parse_vmcoreinfo(page_of("OSRELEASE=6.12.117+deb12-amd64\nPAGESIZE=4096\n"));
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->symbol("init_top_pgt"));
  EXPECT_FALSE(v->number("phys_base"));
  EXPECT_FALSE(v->kerneloffset());
  EXPECT_EQ(v->build_id(), "");
  EXPECT_EQ(v->get("PAGESIZE") ? *v->get("PAGESIZE") : "", "4096");
}

TEST(Vmcoreinfo, BadValuesAreNulloptNotGarbage) {
  auto v = parse_vmcoreinfo(page_of("OSRELEASE=x\n"
                                    "SYMBOL(a)=ffffzz\n"
                                    "SYMBOL(b)=\n"
                                    "SYMBOL(c)=1ffffffffffffffff\n"  // 17 digits: out of range
                                    "NUMBER(d)=12x\n"
                                    "NUMBER(e)=--5\n"
                                    "NUMBER(f)=-\n"
                                    "OFFSET(g.h)=-4\n"
                                    "KERNELOFFSET=0x10\n"));
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->symbol("a"));
  EXPECT_FALSE(v->symbol("b"));
  EXPECT_FALSE(v->symbol("c"));
  EXPECT_FALSE(v->number("d"));
  EXPECT_FALSE(v->number("e"));
  EXPECT_FALSE(v->number("f"));
  EXPECT_FALSE(v->offset("g.h"));
  EXPECT_EQ(v->kerneloffset(), 0x10u);  // a 0x prefix on hex is tolerated
}

TEST(Vmcoreinfo, GarbageEndsTheText) {
  std::string t = "OSRELEASE=6.1.0\nSYMBOL(_stext)=ffffffff81000000\nSYMBOL(x)=ab";
  auto p = page_of(t);
  p[t.size()] = 0xff;  // binary junk right after a partial line
  p[t.size() + 1] = 'Z';
  auto v = parse_vmcoreinfo(p);
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->ended_by_nul);
  EXPECT_EQ(v->symbol("_stext"), 0xffffffff81000000u);
  EXPECT_FALSE(v->symbol("x"));  // its line never ended: dropped
  EXPECT_EQ(v->problems.size(), 2u);
}

TEST(Vmcoreinfo, MalformedLinesAreSkipped) {
  auto v = parse_vmcoreinfo(page_of("OSRELEASE=6.1\nno equals sign\n=value\nBAD KEY=1\n"
                                    "SYMBOL(ok)=10\nSYMBOL(ok)=20\n\n"));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->symbol("ok"), 0x10u);  // first wins
  EXPECT_EQ(v->entries.size(), 2u);
  EXPECT_EQ(v->problems.size(), 4u);
}

TEST(Vmcoreinfo, PageWithoutNulStopsAtPageEnd) {
  // A full page of text with no NUL: the kernel truncates at VMCOREINFO_BYTES; never read past.
  std::string t = "OSRELEASE=6.1\n";
  while (t.size() < 4096) t += "OFFSET(s.f)=1\n";
  t.resize(4096);
  std::vector<std::uint8_t> buf = page_of(t, 4096 + 64);
  for (std::size_t i = 4096; i < buf.size(); ++i) buf[i] = 'A';  // beyond the page: ignored
  auto v = parse_vmcoreinfo(std::span(buf).first(4096));
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->ended_by_nul);
  EXPECT_EQ(v->text_length, 4096u);
  auto w = parse_vmcoreinfo(buf);  // a longer buffer: still one page at most
  ASSERT_TRUE(w);
  EXPECT_EQ(w->text_length, 4096u);
}

TEST(Vmcoreinfo, TruncatedFirstLineOrWrongStartIsNotVmcoreinfo) {
  EXPECT_FALSE(parse_vmcoreinfo(page_of("OSRELEASE=6.1")));  // no newline before the NUL
  EXPECT_FALSE(parse_vmcoreinfo(page_of("PAGESIZE=4096\nOSRELEASE=6.1\n")));
  EXPECT_FALSE(parse_vmcoreinfo(page_of("OSRELEASE=\n")));
  EXPECT_FALSE(parse_vmcoreinfo(page_of("")));
  EXPECT_FALSE(parse_vmcoreinfo({}));
  EXPECT_FALSE(parse_vmcoreinfo(page_of("OSREL", 5)));
}

TEST(Vmcoreinfo, StartsLike) {
  EXPECT_TRUE(starts_like_vmcoreinfo(page_of("OSRELEASE=6", 16)));
  EXPECT_FALSE(starts_like_vmcoreinfo(page_of("OSRELEASE", 9)));
  EXPECT_FALSE(starts_like_vmcoreinfo(page_of("\x0b\0\0\0OSRELEASE=", 16)));
}

TEST(VmcoreinfoScan, ProbesInOrderInBatchesAndStopsAtTheAcceptedPage) {
  FakeMemory mem;
  mem.back(PhysAddr(0), 64 << 20);
  mem.write(PhysAddr(0x100000), page_of("OSRELEASE=stale\n", 64));
  mem.write(PhysAddr(0x3000000), page_of("OSRELEASE=live\n", 64));
  mem.write(PhysAddr(0x3800000), page_of("OSRELEASE=never-reached\n", 64));
  std::vector<std::string> seen;
  const PhysRange order[] = {{0x2000000, 0x4000000}, {0, 0x4000000}};
  VmcoreinfoScanStats st;
  auto hit = scan_for_vmcoreinfo(
      mem, order, 1 << 20,
      [&](const VmcoreinfoHit& h) {
        seen.push_back(h.info.osrelease());
        return h.info.osrelease() == "live";
      },
      &st);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->pa.value, 0x3000000u);
  EXPECT_EQ(seen, std::vector<std::string>{"live"});  // the priority window came first
  EXPECT_EQ(st.hits, 1u);
  // 0x2000000..0x3000000 is 4096 pages: one batch, then the hit in the second.
  EXPECT_EQ(st.pages_probed, 8192u);
  EXPECT_LE(mem.batches(), 4u);
}

TEST(VmcoreinfoScan, RejectedHitsContinueOverlapsVisitOnceBudgetStops) {
  FakeMemory mem;
  mem.back(PhysAddr(0), 16 << 20);
  mem.write(PhysAddr(0x5000), page_of("OSRELEASE=a\n", 64));
  mem.write(PhysAddr(0x9000), page_of("OSRELEASE=b\n", 64));
  const PhysRange order[] = {{0, 0x10000}, {0x8000, 0x20000}};
  VmcoreinfoScanStats st;
  int calls = 0;
  auto hit = scan_for_vmcoreinfo(
      mem, order, 1 << 20, [&](const VmcoreinfoHit&) { return ++calls, false; }, &st);
  EXPECT_FALSE(hit);
  EXPECT_EQ(calls, 2);  // 0x9000 is in both ranges but probed once
  EXPECT_EQ(st.pages_probed, 0x20u);
  EXPECT_EQ(st.rejected, 2u);
  EXPECT_FALSE(st.budget_exhausted);

  VmcoreinfoScanStats capped;
  scan_for_vmcoreinfo(mem, order, 4, [](const VmcoreinfoHit&) { return false; }, &capped);
  EXPECT_TRUE(capped.budget_exhausted);
  EXPECT_EQ(capped.pages_probed, 4u);
}

TEST(VmcoreinfoScan, DownwardRangeIsProbedFromItsEnd) {
  FakeMemory mem;
  mem.back(PhysAddr(0), 0x100000);
  mem.write(PhysAddr(0x10000), page_of("OSRELEASE=low\n", 64));
  mem.write(PhysAddr(0xf0000), page_of("OSRELEASE=high\n", 64));
  const PhysRange order[] = {{0, 0x100000, true}};
  auto hit = scan_for_vmcoreinfo(mem, order, 100, [](const VmcoreinfoHit&) { return true; });
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->info.osrelease(), "high");
  ASSERT_GE(mem.batches(), 1u);
  EXPECT_EQ(mem.log()[0].front().addr, 0xff000u);  // the top page first
}

TEST(VmcoreinfoScan, UnreadablePagesAreSkipped) {
  FakeMemory mem;
  mem.back(PhysAddr(0), 0x4000);
  mem.write(PhysAddr(0x3000), page_of("OSRELEASE=x\n", 64));
  mem.fail_at(PhysAddr(0x1000), Errc::completer_abort);
  const PhysRange order[] = {{0, 0x8000}};  // 0x4000.. is unbacked
  auto hit = scan_for_vmcoreinfo(mem, order, 100, [](const VmcoreinfoHit&) { return true; });
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->pa.value, 0x3000u);
}

// --- banner candidates ---

namespace {
const std::string kNoteBanner =
    "Linux version 6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian "
    "12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC "
    "Debian 6.1.192-2 (2026-11-16)";
}

TEST(Banner, RealPlaceholderAndLogCopies) {
  std::string buf;
  buf += std::string(16, '\0');
  const std::size_t placeholder = buf.size();
  std::string ph = kNoteBanner;
  ph.replace(ph.find("#1 SMP"), 6, "# SMP");  // 6.1+ weak linux_banner in init/version.c
  buf += ph + "\n" + std::string(1, '\0');
  buf += std::string(7, '\0');
  const std::size_t real = buf.size();
  buf += kNoteBanner + "\n" + std::string(1, '\0');
  // A dmesg/syslog page: the line has a prefix and is followed by the next line.
  buf += "[    0.000000] ";
  const std::size_t log = buf.size();
  buf += kNoteBanner + "\n[    0.000000] Command line: console=ttyS0\n";
  // printk's ring buffer: no newline, followed by the next record's binary header.
  buf += std::string(8, '\0');
  const std::size_t ring = buf.size();
  buf += kNoteBanner + std::string("\x10\x20\x30", 3);
  // Cut off by the end of the buffer.
  buf += std::string(1, '\0');
  const std::size_t cut = buf.size();
  buf += kNoteBanner.substr(0, 40);

  std::vector<std::uint8_t> bytes(buf.begin(), buf.end());
  auto c = find_banner_candidates(bytes, 0x1000);
  ASSERT_EQ(c.size(), 5u);
  EXPECT_EQ(c[0].pa, 0x1000 + placeholder);
  EXPECT_EQ(c[0].kind, BannerKind::placeholder);
  EXPECT_EQ(c[0].version, "# SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)");
  EXPECT_EQ(c[1].pa, 0x1000 + real);
  EXPECT_EQ(c[1].kind, BannerKind::real);
  EXPECT_EQ(c[1].text, kNoteBanner);
  EXPECT_EQ(c[1].release, "6.1.0-56-cloud-amd64");
  EXPECT_EQ(c[1].version, "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)");
  EXPECT_TRUE(c[1].has_build_number);
  EXPECT_EQ(c[2].pa, 0x1000 + log);
  EXPECT_EQ(c[2].kind, BannerKind::copy);
  EXPECT_FALSE(c[2].nul_before);
  EXPECT_EQ(c[3].pa, 0x1000 + ring);
  EXPECT_EQ(c[3].kind, BannerKind::copy);
  EXPECT_FALSE(c[3].terminated);
  EXPECT_EQ(c[4].pa, 0x1000 + cut);
  EXPECT_EQ(c[4].kind, BannerKind::copy);
}

TEST(Banner, CompilerHashDoesNotFoolTheVersionSplit) {
  const std::string b =
      "Linux version 5.15.0 (u@h) (gcc #9 (x) 11.2) #42~20.04.1-Ubuntu SMP Tue Jan 1";
  std::vector<std::uint8_t> bytes(1, 0);
  bytes.insert(bytes.end(), b.begin(), b.end());
  bytes.push_back('\n');
  bytes.push_back(0);
  auto c = find_banner_candidates(bytes, 0);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].version, "#42~20.04.1-Ubuntu SMP Tue Jan 1");
  EXPECT_EQ(c[0].kind, BannerKind::real);
  EXPECT_EQ(c[0].release, "5.15.0");
}

TEST(Banner, OverlongOrEmptyReleaseIsACopy) {
  std::string b = "Linux version " + std::string(80, 'x') + " (a@b) (c) #1 SMP\n";
  std::vector<std::uint8_t> bytes(b.begin(), b.end());
  bytes.push_back(0);
  EXPECT_EQ(find_banner_candidates(bytes, 0).at(0).kind, BannerKind::copy);
  std::string e = "Linux version  (a@b) (c) #1 SMP\n";
  std::vector<std::uint8_t> eb(e.begin(), e.end());
  eb.push_back(0);
  EXPECT_EQ(find_banner_candidates(eb, 0).at(0).kind, BannerKind::copy);
}
