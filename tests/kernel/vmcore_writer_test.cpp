// The vmcore writer against fake memory, read back through the ELF-core reader of
// transport/ (MemoryFile): every byte of every RAM range, holes, the headers crash and drgn
// look at, cancellation; and malformed cores refused with a message naming the field.
#include "kernel/export/vmcore_writer.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "tests/support/fake_memory.hpp"
#include "transport/elf_core.hpp"
#include "transport/memory_file.hpp"

using namespace tlpstub;
using namespace tlpstub::kernel;
using tlpstub::test::FakeMemory;

namespace {

constexpr std::uint64_t kPob = 0xffff888000000000ull;

std::string temp_path(const char* tag) {
  return fmt::format("/tmp/tlpstub-vmcore-{}-{}", tag, ::getpid());
}

std::vector<std::uint8_t> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Two RAM ranges like a PC's: low memory ending inside a page, and a larger one holding the
// "kernel image"; with zero pages, a page that cannot be read, and a page outside RAM.
struct DumpFixture {
  FakeMemory mem;
  VmcorePlan plan;
  DumpFixture() {
    mem.fill_pattern(PhysAddr(0x1000), 0x9fc00 - 0x1000);
    mem.back(PhysAddr(0x9f000), 0x2000);                   // the widened last page of range 0
    mem.fill_pattern(PhysAddr(0x100000), 0x300000);
    mem.back(PhysAddr(0x200000), 0x3000);                   // zero pages inside range 1
    std::vector<std::uint8_t> zeros(0x3000, 0);
    mem.write(PhysAddr(0x200000), zeros);
    mem.fail_at(PhysAddr(0x300000));                        // unreadable page in range 1
    mem.fill_pattern(PhysAddr(0x500000), 0x1000);           // not RAM: must not be dumped
    plan.ram = {{0x1000, kPob + 0x1000, 0x9fc00 - 0x1000}, {0x100000, kPob + 0x100000, 0x300000}};
    plan.image = VmcoreSegment{0x180000, 0xffffffff81000000ull, 0x80000};
    plan.vmcoreinfo = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffffffff82000000\n";
  }
};

}  // namespace

TEST(VmcoreWriter, RoundTripsEveryByteThroughTheElfCoreReader) {
  DumpFixture f;
  const std::string path = temp_path("roundtrip");
  DumpOptions o;
  o.chunk = 64 * 1024;  // several chunks per range: the overlapped writes are exercised
  int progress_calls = 0;
  o.progress = [&](const DumpProgress& p) {
    ++progress_calls;
    EXPECT_LE(p.done, p.total);
  };
  auto rep = write_vmcore(f.mem, f.plan, path, o);
  ASSERT_TRUE(rep) << rep.error().message;
  EXPECT_GE(progress_calls, 1);
  EXPECT_EQ(rep->ram_bytes, 0x9fc00u - 0x1000 + 0x300000);
  EXPECT_EQ(rep->unreadable_pages, 1u);
  EXPECT_EQ(rep->first_unreadable, 0x300000u);
  EXPECT_GE(rep->zero_pages, 3u);

  auto mf = MemoryFile::open(path);
  ASSERT_TRUE(mf) << mf.error().message;
  EXPECT_TRUE((*mf)->is_elf_core());
  EXPECT_EQ((*mf)->vmcoreinfo_note(), f.plan.vmcoreinfo);
  for (const VmcoreSegment& s : f.plan.ram) {
    std::vector<std::uint8_t> got(s.size);
    ASSERT_TRUE((*mf)->read_one(PhysAddr(s.paddr), got)) << std::hex << s.paddr;
    for (std::uint64_t i = 0; i < s.size; ++i) {
      const std::uint64_t pa = s.paddr + i;
      const bool bad = (pa & ~0xfffull) == 0x300000;
      const std::uint8_t want = bad ? 0 : f.mem.peek(pa);
      ASSERT_EQ(got[i], want) << "physical 0x" << std::hex << pa;
    }
  }
  std::uint8_t b[16];
  auto outside = (*mf)->read_one(PhysAddr(0x500000), b);
  ASSERT_FALSE(outside);
  EXPECT_EQ(outside.error().code, Errc::unbacked);

  // Headers: one PT_NOTE first, then the image (sharing the RAM range's bytes), then RAM.
  auto bytes = slurp(path);
  auto core = parse_elf_core(bytes);
  ASSERT_TRUE(core) << core.error().message;
  ASSERT_EQ(core->loads.size(), 3u);
  EXPECT_EQ(core->loads[0].vaddr, 0xffffffff81000000ull);
  EXPECT_EQ(core->loads[0].paddr, 0x180000u);
  EXPECT_EQ(core->loads[0].offset, core->loads[2].offset + (0x180000 - 0x100000));
  EXPECT_EQ(core->loads[1].vaddr, kPob + 0x1000);
  EXPECT_EQ(core->loads[1].offset % 4096, 0u);
  EXPECT_EQ(bytes[0x1000 + 12], 'V');  // the note at 4 KiB, its name "VMCOREINFO"

  // Sparse: the zero and unreadable pages are holes.
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), rep->file_size);
  EXPECT_LT(static_cast<std::uint64_t>(st.st_blocks) * 512, rep->file_size);
  std::remove(path.c_str());
}

TEST(VmcoreWriter, CancelledDumpIsRemoved) {
  DumpFixture f;
  const std::string path = temp_path("cancel");
  DumpOptions o;
  o.chunk = 4096;
  int polls = 0;
  o.cancelled = [&] { return ++polls > 3; };
  auto rep = write_vmcore(f.mem, f.plan, path, o);
  ASSERT_FALSE(rep);
  EXPECT_NE(rep.error().message.find("cancelled"), std::string::npos);
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST(VmcoreWriter, RefusesBadPlans) {
  FakeMemory mem;
  VmcorePlan p;
  EXPECT_FALSE(vmcore_layout(p));
  p.ram = {{0x100000, 0, 0x1000}, {0x1000, 0, 0x1000}};
  auto r = vmcore_layout(p);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("out of order"), std::string::npos);
  p.ram = {{0x1000, 0, 0x1000}};
  p.image = VmcoreSegment{0x100000, 0xffffffff81000000ull, 0x1000};
  r = vmcore_layout(p);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("in no RAM range"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The reader: malformed cores.

namespace {

std::vector<std::uint8_t> good_core() {
  FakeMemory mem;
  mem.fill_pattern(PhysAddr(0x1000), 0x2000);
  VmcorePlan p;
  p.ram = {{0x1000, kPob + 0x1000, 0x2000}};
  p.vmcoreinfo = "OSRELEASE=x\n";
  const std::string path = temp_path("good");
  EXPECT_TRUE(write_vmcore(mem, p, path));
  auto b = slurp(path);
  std::remove(path.c_str());
  return b;
}

void put_u64(std::vector<std::uint8_t>& b, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::string parse_error(const std::vector<std::uint8_t>& b) {
  auto r = parse_elf_core(b);
  return r ? std::string("parsed") : r.error().message;
}

}  // namespace

TEST(ElfCoreReader, RefusesMalformedCoresWithTheFieldNamed) {
  const auto good = good_core();
  ASSERT_EQ(parse_error(good), "parsed");
  auto b = good;
  b.resize(40);
  EXPECT_NE(parse_error(b).find("shorter than an ELF64 header"), std::string::npos);
  b = good;
  b[4] = 1;
  EXPECT_NE(parse_error(b).find("not ELF64"), std::string::npos);
  b = good;
  b[18] = 3;  // EM_386
  EXPECT_NE(parse_error(b).find("not x86-64"), std::string::npos);
  b = good;
  b[16] = 2;  // ET_EXEC
  EXPECT_NE(parse_error(b).find("ET_CORE"), std::string::npos);
  b = good;
  b[56] = 0xff, b[57] = 0x7f;  // e_phnum past the end
  EXPECT_NE(parse_error(b).find("program headers"), std::string::npos);
  b = good;
  put_u64(b, 64 + 56 + 32, 1ull << 40);  // PT_LOAD filesz past the end: a truncated copy
  EXPECT_NE(parse_error(b).find("truncated"), std::string::npos);
  b = good;
  put_u64(b, 64 + 56 + 40, 16);  // memsz below filesz
  EXPECT_NE(parse_error(b).find("p_memsz"), std::string::npos);
  b = good;
  b[0x1000 + 4] = 0xff, b[0x1000 + 5] = 0xff;  // note descsz past its segment
  EXPECT_NE(parse_error(b).find("runs past its PT_NOTE"), std::string::npos);
  // Through MemoryFile: the path is named.
  const std::string path = temp_path("bad");
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  auto mf = MemoryFile::open(path);
  ASSERT_FALSE(mf);
  EXPECT_NE(mf.error().message.find(path), std::string::npos);
  std::remove(path.c_str());
}

TEST(ElfCoreReader, FirstSegmentWinsAndMemszPastFileszReadsZeros) {
  ElfCore c;
  c.loads = {{0x2000, 0, 100, 0x1000, 0x1000}, {0x1000, 0, 200, 0x1000, 0x3000}};
  auto m = elf_core_map(c);
  // [0x1000,0x2000) from load 1, [0x2000,0x3000) from load 0, [0x3000,0x4000) zeros of load 1.
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].phys, 0x1000u);
  EXPECT_EQ(m[0].offset, 200u);
  EXPECT_EQ(m[1].phys, 0x2000u);
  EXPECT_EQ(m[1].offset, 100u);
  EXPECT_EQ(m[2].phys, 0x3000u);
  EXPECT_TRUE(m[2].zero);
  EXPECT_EQ(m[2].length, 0x1000u);
}
