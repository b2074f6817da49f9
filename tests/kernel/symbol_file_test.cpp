// The symbol-file writer (kernel/export/), read back by independent tools: binutils' readelf
// for the ELF and symbols, llvm-dwarfdump --verify for the DWARF, and gdb itself (the
// consumer) for types, members, bitfields and variable addresses. Input: a small symbol table
// and the hand-built BTF of tests/kernel/btf_sample.hpp (every kind). Under CI=true a missing
// tool fails the test; elsewhere it is skipped.
#include "kernel/export/symbol_file.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kernel/export/elf_writer.hpp"
#include "tests/kernel/btf_sample.hpp"

using namespace tlpstub;
using namespace tlpstub::kernel;

namespace {

constexpr std::uint64_t kSlide = 0x1e00000;
constexpr std::uint64_t kLink = 0xffffffff81000000ull;  // link-time _text

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string_view(ci) == "true";
}

SymbolTable sample_symbols() {
  auto at = [](std::uint64_t off) { return kLink + kSlide + off; };
  return SymbolTable({
      {"_text", at(0), 'T'},
      {"startup_64", at(0), 'T'},
      {"do_thing", at(0x100), 't'},
      {"schedule", at(0x180), 'T'},
      {"_etext", at(0x1000), 'T'},
      {"init_task", at(0x2000), 'D'},
      {"init_mm", at(0x2100), 'D'},
      {"linux_banner", at(0x2400), 'R'},
      {"__bss_start", at(0x3000), 'B'},
      {"jiffies_64", at(0x3010), 'b'},
      {"_end", at(0x4000), 'B'},
      {"__per_cpu_start", 0, 'D', true},
      {"runqueues", 0x40, 'D', true},
      {"current_task", 0xc0, 'D', true},
  });
}

struct ToolRun {
  int status = -1;
  std::string out;
};

ToolRun run(const std::string& cmd) {
  ToolRun r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  while (std::size_t n = fread(buf.data(), 1, buf.size(), p)) r.out.append(buf.data(), n);
  r.status = pclose(p);
  return r;
}

bool have(const char* tool) { return run(std::string("command -v ") + tool).status == 0; }

class SymbolFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto b = btf::Btf::parse(test::sample_btf().bytes());
    ASSERT_TRUE(b) << b.error().message;
    btf_ = std::make_unique<btf::Btf>(std::move(*b));
    file_ = write_symbol_file(sample_symbols(), btf_.get(), kSlide);
    path_ = std::filesystem::temp_directory_path() /
            ("tlpstub-symfile-" + std::to_string(::getpid()) + ".elf");
    std::ofstream(path_, std::ios::binary)
        .write(reinterpret_cast<const char*>(file_.bytes.data()),
               static_cast<std::streamsize>(file_.bytes.size()));
  }
  void TearDown() override { std::filesystem::remove(path_); }
  void need(const char* tool) {
    if (have(tool)) return;
    if (in_ci()) FAIL() << tool << " is not installed (CI=true: .ci/deps installs it)";
    GTEST_SKIP() << tool << " is not installed";
  }
  std::string gdb(const std::string& commands) {
    return run("gdb -nx -batch -ex 'set confirm off' " + commands + " " + path_.string()).out;
  }

  std::unique_ptr<btf::Btf> btf_;
  SymbolFile file_;
  std::filesystem::path path_;
};

TEST_F(SymbolFileTest, HeaderIsElf64X8664Exec) {
  ASSERT_GE(file_.bytes.size(), 64u);
  EXPECT_EQ(file_.bytes[0], 0x7f);
  EXPECT_EQ(file_.bytes[1], 'E');
  EXPECT_EQ(file_.bytes[4], 2);   // ELFCLASS64
  EXPECT_EQ(file_.bytes[5], 1);   // little-endian
  EXPECT_EQ(file_.bytes[16], 2);  // ET_EXEC
  EXPECT_EQ(file_.bytes[18], 62); // EM_X86_64
  EXPECT_EQ(file_.symbols, 14u);
  EXPECT_EQ(file_.variables, 3u);  // runqueues (BTF VAR), init_task, init_mm (known names)
}

TEST_F(SymbolFileTest, ReadelfSectionsCoverTheImageAtLinkTimeAddresses) {
  need("readelf");
  const std::string s = run("readelf -W -S " + path_.string()).out;
  EXPECT_NE(s.find(".text             NOBITS          ffffffff81000000"), std::string::npos) << s;
  EXPECT_NE(s.find(".data             NOBITS          ffffffff81001000"), std::string::npos) << s;
  EXPECT_NE(s.find(".bss              NOBITS          ffffffff81003000"), std::string::npos) << s;
  EXPECT_NE(s.find(".data..percpu     NOBITS          0000000000000000"), std::string::npos) << s;
  EXPECT_NE(s.find(".debug_info       PROGBITS"), std::string::npos) << s;
  EXPECT_EQ(s.find("Warning"), std::string::npos) << s;
}

TEST_F(SymbolFileTest, ReadelfSymbolsHaveTypesSizesAndSections) {
  need("readelf");
  const ToolRun r = run("readelf -W -s " + path_.string());
  ASSERT_EQ(r.status, 0) << r.out;
  // Num: Value Size Type Bind Vis Ndx Name; sections: 1 .text 2 .data 3 .bss 4 .data..percpu
  const char* want[] = {
      "ffffffff81000100   128 FUNC    LOCAL  DEFAULT    1 do_thing",
      "ffffffff81000180  3712 FUNC    GLOBAL DEFAULT    1 schedule",
      "ffffffff81002000   256 OBJECT  GLOBAL DEFAULT    2 init_task",
      "ffffffff81003010  4080 OBJECT  LOCAL  DEFAULT    3 jiffies_64",
      "0000000000000040   128 OBJECT  GLOBAL DEFAULT    4 runqueues",
      "ffffffff81004000     0 OBJECT  GLOBAL DEFAULT    3 _end",
  };
  for (const char* w : want) EXPECT_NE(r.out.find(w), std::string::npos) << w << "\n" << r.out;
  EXPECT_EQ(r.out.find("Warning"), std::string::npos) << r.out;
}

TEST_F(SymbolFileTest, LlvmDwarfdumpVerifies) {
  need("llvm-dwarfdump");
  const ToolRun r = run("llvm-dwarfdump --verify " + path_.string());
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("No errors."), std::string::npos) << r.out;
  const ToolRun dump = run("llvm-dwarfdump --debug-info " + path_.string());
  EXPECT_NE(dump.out.find("DW_AT_name\t(\"task_struct\")"), std::string::npos) << dump.out;
  EXPECT_NE(dump.out.find("DW_AT_data_bit_offset\t(321)"), std::string::npos) << dump.out;
}

TEST_F(SymbolFileTest, GdbReadsLayoutsBitfieldsAndVariables) {
  need("gdb");
  const std::string o = gdb(
      "-ex 'ptype /o struct task_struct' -ex 'ptype enum pid_type' -ex 'ptype task_t' "
      "-ex 'info address init_task' -ex 'info address runqueues' -ex 'ptype init_mm' "
      "-ex 'p sizeof(init_task.comm)' -ex 'ptype struct thread_struct' "
      "-ex 'whatis init_task.fn' -ex 'p sizeof(struct mm_struct)' -ex 'p/x HUGE'");
  const char* want[] = {
      "/*      0      |       4 */    const volatile int __state;",
      "/*      8      |      16 */    struct list_head {",
      "/*     88      |       8 */        unsigned long sp;",
      "/*     40: 0   |       1 */    u8 bit_a : 1;",
      "/*     40: 1   |       1 */    u8 bit_b : 3;",
      "/*     48      |      16 */    char comm[16];",
      "/*    104      |       8 */    void * restrict stack;",
      "/* total size (bytes):  128 */",
      "type = enum pid_type {PIDTYPE_PID, PIDTYPE_BAD = -1}",
      "Symbol \"init_task\" is static storage at address 0xffffffff81002000.",
      "Symbol \"runqueues\" is static storage at address 0x40.",
      "type = struct mm_struct {\n    void *pgd;\n}",
      "$1 = 16",
      "type = int (*)(int, void *)",
      "$2 = 256",
      "$3 = 0x8000000000000001",
  };
  for (const char* w : want) EXPECT_NE(o.find(w), std::string::npos) << w << "\n" << o;
  EXPECT_EQ(o.find("rror"), std::string::npos) << o;
}

TEST(SymbolFile, WithoutBtfHasSymbolsAndNoDwarf) {
  SymbolFile f = write_symbol_file(sample_symbols(), nullptr, kSlide);
  EXPECT_EQ(f.symbols, 14u);
  EXPECT_EQ(f.type_dies, 0u);
  const std::string bytes(f.bytes.begin(), f.bytes.end());
  EXPECT_EQ(bytes.find(".debug_info"), std::string::npos);
}

TEST(SymbolFile, EmptyTableGivesAValidEmptyFile) {
  SymbolFile f = write_symbol_file(SymbolTable{}, nullptr, 0);
  EXPECT_EQ(f.symbols, 0u);
  ASSERT_GE(f.bytes.size(), 64u);
  EXPECT_EQ(f.bytes[0], 0x7f);
}

}  // namespace

namespace {

// .strtab shares tails: "schedule" is stored once inside "__pfx_schedule" (and "edule" inside
// both), so the table holds each distinct tail once; readelf (independent) reads every name
// back whole.
TEST(ElfStrtab, TailsAreSharedAndNamesReadBack) {
  if (!have("readelf")) {
    if (in_ci()) FAIL() << "readelf is not installed";
    GTEST_SKIP() << "readelf is not installed";
  }
  elf::ElfWriter w;
  const char* names[] = {"schedule", "__pfx_schedule", "edule", "other", "schedule", ""};
  std::uint64_t v = 0x1000;
  for (const char* n : names) w.add_symbol({n, v += 0x10, 0, elf::kSttFunc, elf::kStbGlobal});
  const auto bytes = w.finish();
  const auto path = std::filesystem::temp_directory_path() /
                    ("tlpstub-strtab-" + std::to_string(::getpid()) + ".elf");
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  const ToolRun s = run("readelf -W -s " + path.string());
  const ToolRun h = run("readelf -W -S " + path.string());
  std::filesystem::remove(path);
  for (const char* want : {"0000000000001010     0 FUNC    GLOBAL DEFAULT  ABS schedule",
                           "0000000000001020     0 FUNC    GLOBAL DEFAULT  ABS __pfx_schedule",
                           "0000000000001030     0 FUNC    GLOBAL DEFAULT  ABS edule",
                           "0000000000001040     0 FUNC    GLOBAL DEFAULT  ABS other",
                           "0000000000001050     0 FUNC    GLOBAL DEFAULT  ABS schedule"})
    EXPECT_NE(s.out.find(want), std::string::npos) << want << "\n" << s.out;
  // NUL + "__pfx_schedule\0" + "other\0": 1 + 15 + 6 bytes.
  EXPECT_NE(h.out.find(".strtab           STRTAB          0000000000000000"), std::string::npos);
  const auto at = h.out.find(".strtab");
  ASSERT_NE(at, std::string::npos);
  std::istringstream row(h.out.substr(at));
  std::string name, type, addr, off, size;
  row >> name >> type >> addr >> off >> size;
  EXPECT_EQ(size, "000016") << h.out;
}

}  // namespace
