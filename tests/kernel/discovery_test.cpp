// Discovery on synthetic memory: a fake kernel image (text, rodata, data slots mapped with 2 MiB
// pages), its init_top_pgt, a direct map, banners (the real one, the 6.1+ placeholder, a copy in
// a writable page, a stale copy the table does not map there), a stale decoy table and a stale
// VMCOREINFO page that must both be rejected by translation.
#include "kernel/discovery.hpp"

#include <gtest/gtest.h>

#include <string>

#include "kernel/vmcoreinfo.hpp"
#include "tests/support/fake_memory.hpp"

using namespace tlpstub;
using namespace tlpstub::kernel;
using tlpstub::test::FakeMemory;
using tlpstub::test::PageTableBuilder;

namespace {

constexpr std::uint64_t k2M = 2ull << 20;
constexpr std::uint64_t kStackEndMagic = 0x57AC6E9D;

const std::string kRelease = "6.1.0-99-fake-amd64";
const std::string kFakeBanner = "Linux version " + kRelease +
                            " (builder@example.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld "
                            "2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.999-1 (2026-01-01)";
const std::string kUtsVersion = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.999-1 (2026-01-01)";

struct FakeKernelOptions {
  int levels = 4;
  bool pti = true;
  std::uint64_t sme = 0;
  bool vmcoreinfo = true;
  bool stale_vmcoreinfo = true;
  bool decoy_table = true;
};

// Layout (physical): image at 32 MiB, six 2 MiB slots: text 0-1, rodata 2-3, data 4-5.
struct FakeKernel {
  static constexpr std::uint64_t kTextVa = 0xffffffff8a000000;  // KASLR slide 0x9000000
  static constexpr std::uint64_t kTextPa = 0x2000000;
  static constexpr std::uint64_t kRodataPa = kTextPa + 2 * k2M;
  static constexpr std::uint64_t kSdataPa = kTextPa + 4 * k2M;
  static constexpr std::uint64_t kImageSize = 6 * k2M;
  static constexpr std::uint64_t kTopPa = kSdataPa + 0x10000;
  static constexpr std::uint64_t kUtsPa = kSdataPa + 0x40000;
  static constexpr std::uint64_t kPlaceholderPa = kRodataPa + 0x100;
  static constexpr std::uint64_t kWritableCopyPa = kRodataPa + 0x80000;
  static constexpr std::uint64_t kStaleCopyPa = kRodataPa + 0x90000;
  static constexpr std::uint64_t kBannerPa = kRodataPa + 0x1a3450;
  static constexpr std::uint64_t kKallsymsPa = kBannerPa + 0x100;
  static constexpr std::uint64_t kVmcoreinfoPa = 0x4100000;
  static constexpr std::uint64_t kStaleVmcoreinfoPa = 0x3000000;
  static constexpr std::uint64_t kOldImagePa = 0x5000000;

  static std::uint64_t va(std::uint64_t pa) { return pa - kTextPa + kTextVa; }
  static std::uint64_t phys_base() { return kTextPa - (kTextVa - 0xffffffff80000000); }
  std::uint64_t page_offset_base() const {
    return levels == 5 ? 0xff2b334600000000 : 0xffff8ef840000000;
  }
  std::uint64_t vmalloc_va() const { return levels == 5 ? 0xffa0000000000000 : 0xffffc90000000000; }

  FakeMemory mem;
  int levels;
  std::uint64_t sme;

  explicit FakeKernel(const FakeKernelOptions& o = {}) : levels(o.levels), sme(o.sme) {
    mem.back(PhysAddr(0), 0x10000);                 // low memory
    mem.back(PhysAddr(kTextPa), kImageSize);        // the image
    mem.back(PhysAddr(0x4000000), 0x200000);        // where VMCOREINFO goes
    mem.back(PhysAddr(kOldImagePa), 0x400000);      // stale bytes of an earlier boot
    mem.write_u64(PhysAddr(kSdataPa), kStackEndMagic);  // init_stack's end marker
    if (o.decoy_table) build_decoy();
    build_tables(o.pti);
    write_string(kPlaceholderPa, placeholder_banner());
    write_string(kWritableCopyPa, kFakeBanner + "\n");  // shaped like the real one
    write_string(kStaleCopyPa, "Linux version 5.10.0-old-amd64 (x@y) (gcc) #3 SMP 2020\n");
    write_string(kBannerPa, kFakeBanner + "\n");
    write_uts();
    if (o.stale_vmcoreinfo) write_vmcoreinfo(kStaleVmcoreinfoPa, true);
    if (o.vmcoreinfo) write_vmcoreinfo(kVmcoreinfoPa, false);
  }

  static std::string placeholder_banner() {
    std::string p = kFakeBanner;
    p.replace(p.find("#1 SMP"), 6, "# SMP");
    return p + "\n";
  }

  void write_string(std::uint64_t pa, const std::string& s) {
    std::vector<std::uint8_t> b(s.begin(), s.end());
    b.push_back(0);
    mem.write(PhysAddr(pa), b);
  }

  void write_uts() {
    // struct new_utsname: six char[65]; OFFSET(uts_namespace.name)=0 here.
    write_string(kUtsPa, "Linux");
    write_string(kUtsPa + 65, "fakehost");
    write_string(kUtsPa + 130, kRelease);
    write_string(kUtsPa + 195, kUtsVersion);
    write_string(kUtsPa + 260, "x86_64");
  }

  void build_tables(bool pti) {
    PageTableBuilder b(mem, {.levels = levels, .first_table = kTopPa, .sme_mask = sme, .pti = pti});
    const std::uint64_t text = PageTableBuilder::kKernelText;
    const std::uint64_t ro = PageTableBuilder::kKernelText | PageTableBuilder::NX;
    const std::uint64_t rw = PageTableBuilder::kKernelData;
    b.map_2m(VirtAddr(kTextVa), PhysAddr(kTextPa), text);
    b.map_2m(VirtAddr(kTextVa + k2M), PhysAddr(kTextPa + k2M), text);
    // Rodata slot 2 with 4 KiB pages (as a split 2 MiB page): one of them writable, one of them
    // pointing at other memory (the bytes at its physical address are stale).
    b.map_range_4k(VirtAddr(va(kRodataPa)), PhysAddr(kRodataPa), k2M, ro);
    b.map_4k(VirtAddr(va(kWritableCopyPa & ~0xfffull)), PhysAddr(kWritableCopyPa & ~0xfffull), rw);
    b.map_4k(VirtAddr(va(kStaleCopyPa & ~0xfffull)), PhysAddr(kOldImagePa), ro);
    b.map_2m(VirtAddr(kTextVa + 3 * k2M), PhysAddr(kTextPa + 3 * k2M), ro);
    b.map_2m(VirtAddr(kTextVa + 4 * k2M), PhysAddr(kSdataPa), rw);
    b.map_2m(VirtAddr(kTextVa + 5 * k2M), PhysAddr(kSdataPa + k2M), rw);
    // Direct map of the first GiB, and something in vmalloc space above it.
    b.map_1g(VirtAddr(page_offset_base()), PhysAddr(0), rw);
    b.map_4k(VirtAddr(vmalloc_va()), PhysAddr(0x4000000 + 0x10000), rw);
    ASSERT_EQ(b.top().value, kTopPa);
    ASSERT_LT(b.next_free(), kUtsPa);
  }

  // A table from an earlier boot, structurally perfect, 16 KiB after _sdata: it maps the image
  // VA range onto the old image location, so it does not map this image's _sdata.
  void build_decoy() {
    PageTableBuilder d(mem, {.levels = levels, .first_table = kSdataPa + 0x4000, .sme_mask = sme});
    for (int i = 0; i < 6; ++i)
      d.map_2m(VirtAddr(kTextVa + i * k2M), PhysAddr(kOldImagePa - 0x1000000 + i * k2M),
               PageTableBuilder::kKernelData);
    d.map_1g(VirtAddr(page_offset_base()), PhysAddr(0));
    ASSERT_LE(d.next_free(), kTopPa);
  }

  void write_vmcoreinfo(std::uint64_t pa, bool stale) {
    // A stale page names a different KASLR layout: its init_top_pgt is not a table now.
    const std::uint64_t shift = stale ? 0x4000000 : 0;
    std::string t = "OSRELEASE=" + std::string(stale ? "5.10.0-old-amd64" : kRelease) + "\n";
    t += "BUILD-ID=00112233445566778899aabbccddeeff00112233\n";
    t += "PAGESIZE=4096\n";
    t += fmt::format("SYMBOL(init_uts_ns)={:x}\n", va(kUtsPa) + shift);
    t += "OFFSET(uts_namespace.name)=0\n";
    t += fmt::format("SYMBOL(swapper_pg_dir)={:x}\n", va(kTopPa) + shift);
    t += fmt::format("SYMBOL(_stext)={:x}\n", kTextVa + shift);
    t += fmt::format("SYMBOL(kallsyms_offsets)={:x}\n", va(kKallsymsPa) + shift);
    t += fmt::format("SYMBOL(kallsyms_names)={:x}\n", va(kKallsymsPa) + 0x40000 + shift);
    t += fmt::format("NUMBER(phys_base)={}\n", static_cast<std::int64_t>(phys_base()));
    t += fmt::format("SYMBOL(init_top_pgt)={:x}\n", va(kTopPa) + shift);
    t += fmt::format("NUMBER(pgtable_l5_enabled)={}\n", levels == 5 ? 1 : 0);
    t += fmt::format("KERNELOFFSET={:x}\n", kTextVa - 0xffffffff81000000 + shift);
    t += "NUMBER(KERNEL_IMAGE_SIZE)=1073741824\n";
    t += fmt::format("NUMBER(sme_mask)={}\n", sme);
    write_string(pa, t);
  }
};

bool has_note(const KernelImage& k, std::string_view needle) {
  for (const std::string& n : k.notes)
    if (n.find(needle) != std::string::npos) return true;
  return false;
}

std::string all_notes(const KernelImage& k) {
  std::string s;
  for (const std::string& n : k.notes) s += "  " + n + "\n";
  return s;
}

void expect_layout(const KernelImage& k, const FakeKernel& f) {
  EXPECT_EQ(k.release, kRelease);
  EXPECT_EQ(k.banner, kFakeBanner);
  EXPECT_EQ(k.banner_pa, FakeKernel::kBannerPa);
  EXPECT_EQ(k.banner_va, FakeKernel::va(FakeKernel::kBannerPa));
  EXPECT_EQ(k.text_va, FakeKernel::kTextVa);
  EXPECT_EQ(k.kaslr_slide, 0x9000000u);
  EXPECT_EQ(k.phys_base, FakeKernel::phys_base());
  EXPECT_EQ(k.image_pa(k.text_va), FakeKernel::kTextPa);
  EXPECT_EQ(k.top.value, FakeKernel::kTopPa);
  EXPECT_EQ(k.top_va, FakeKernel::va(FakeKernel::kTopPa));
  EXPECT_EQ(k.levels, f.levels);
  EXPECT_EQ(k.sme_mask, f.sme);
  EXPECT_EQ(k.page_offset_base, f.page_offset_base());
}

}  // namespace

TEST(Discovery, VmcoreinfoPathRejectsTheStalePageAndConfirmsByTranslation) {
  FakeKernel f;
  std::vector<std::string> progress;
  auto k = discover(f.mem, {}, [&](std::string_view s) { progress.emplace_back(s); });
  ASSERT_TRUE(k) << k.error().message;
  SCOPED_TRACE(all_notes(*k));
  EXPECT_EQ(k->method, "vmcoreinfo");
  expect_layout(*k, f);
  EXPECT_EQ(k->build_id, "00112233445566778899aabbccddeeff00112233");
  EXPECT_EQ(k->vmcoreinfo_pa, FakeKernel::kVmcoreinfoPa);
  EXPECT_EQ(k->vmcoreinfo.at("OSRELEASE"), kRelease);
  EXPECT_TRUE(has_note(*k, "VMCOREINFO candidate at 0x3000000 rejected"));
  EXPECT_TRUE(has_note(*k, "right before the kallsyms tables"));
  EXPECT_TRUE(has_note(*k, "matches init_uts_ns.name.version"));
  EXPECT_EQ(k->vmalloc_base, 0u);
  EXPECT_TRUE(has_note(*k, "page_offset_base"));
  EXPECT_FALSE(progress.empty());
  EXPECT_GT(k->cost.reads, 0u);
  EXPECT_GT(k->cost.bytes, 0u);
}

TEST(Discovery, ScanPathRejectsDecoyTableAndBannerCopies) {
  FakeKernel f;
  auto k = discover(f.mem, {.use_vmcoreinfo = false});
  ASSERT_TRUE(k) << k.error().message;
  SCOPED_TRACE(all_notes(*k));
  EXPECT_EQ(k->method, "scan");
  expect_layout(*k, f);
  EXPECT_TRUE(k->vmcoreinfo.empty());
  EXPECT_EQ(k->build_id, "");
  EXPECT_EQ(k->vmalloc_base, 0u);
  EXPECT_EQ(k->vmemmap_base, 0u);
  EXPECT_TRUE(has_note(*k, "unknown until symbols are loaded"));
  // The decoy 16 KiB after _sdata comes first in the window and is turned down.
  EXPECT_TRUE(has_note(*k, fmt::format("rejected table {:#x}: does not map _sdata",
                                       FakeKernel::kSdataPa + 0x4000)));
  // Placeholder, writable copy and stale copy were all seen before the real banner.
  EXPECT_TRUE(has_note(*k, "skipped 1 placeholder(s), 0 copies, 2 not mapped read-only"));
}

TEST(Discovery, FallsBackToTheScanWithoutVmcoreinfo) {
  FakeKernel f({.vmcoreinfo = false});
  auto k = discover(f.mem);
  ASSERT_TRUE(k) << k.error().message;
  SCOPED_TRACE(all_notes(*k));
  EXPECT_EQ(k->method, "scan");
  expect_layout(*k, f);
  EXPECT_TRUE(has_note(*k, "VMCOREINFO candidate at 0x3000000 rejected"));
  EXPECT_TRUE(has_note(*k, "VMCOREINFO not found"));
}

TEST(Discovery, FiveLevelWithPti) {
  for (bool use_vmcoreinfo : {true, false}) {
    FakeKernel f({.levels = 5});
    auto k = discover(f.mem, {.use_vmcoreinfo = use_vmcoreinfo});
    ASSERT_TRUE(k) << k.error().message;
    SCOPED_TRACE(all_notes(*k));
    EXPECT_EQ(k->method, use_vmcoreinfo ? "vmcoreinfo" : "scan");
    expect_layout(*k, f);
  }
}

TEST(Discovery, NonPtiTableAndSmeMask) {
  for (bool use_vmcoreinfo : {true, false}) {
    FakeKernel f({.pti = false, .sme = 1ull << 47});
    auto k = discover(f.mem, {.use_vmcoreinfo = use_vmcoreinfo});
    ASSERT_TRUE(k) << k.error().message;
    SCOPED_TRACE(all_notes(*k));
    expect_layout(*k, f);
  }
}

TEST(Discovery, MemoryWithoutLinuxSaysSo) {
  FakeMemory mem;
  mem.fill_pattern(PhysAddr(0), 8 << 20);
  mem.write(PhysAddr(0x200000), std::vector<std::uint8_t>{'O', 'S', 'R', 'E', 'L', 'E', 'A', 'S',
                                                          'E', '=', 'x', '\n'});
  auto k = discover(mem);
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().code, Errc::not_found);
  EXPECT_NE(k.error().message.find("no Linux kernel found in 8 MiB"), std::string::npos)
      << k.error().message;
  EXPECT_NE(k.error().message.find("init task stack"), std::string::npos) << k.error().message;
}

TEST(Discovery, EmptyOrUnreadableMemory) {
  FakeMemory mem;
  auto k = discover(mem, {.max_phys = 64 << 20});
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().code, Errc::unbacked);
}

TEST(Discovery, ImageWithoutTableIsRejected) {
  // An init stack at a 2 MiB boundary but nothing else: a stack page by chance.
  FakeMemory mem;
  mem.back(PhysAddr(0), 16 << 20);
  mem.write_u64(PhysAddr(0x600000), kStackEndMagic);
  auto k = discover(mem);
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().message.find("0x600000: no top-level table"), std::string::npos)
      << k.error().message;
}

TEST(Discovery, CostIsBatched) {
  FakeKernel f;
  auto k = discover(f.mem, {.use_vmcoreinfo = false});
  ASSERT_TRUE(k);
  // Sparse scan, table probe, page reads, walks, banner chunks: tens of batches, not thousands.
  EXPECT_LT(f.mem.batches(), 80u);
  EXPECT_EQ(k->cost.reads, f.mem.ranges());
  EXPECT_EQ(k->cost.bytes, f.mem.bytes());
  // Never more than the table window, the rodata and a few tables: well under the image size.
  EXPECT_LT(k->cost.bytes, FakeKernel::kImageSize);
}
