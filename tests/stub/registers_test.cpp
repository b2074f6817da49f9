// g / p / G / P, and the register layout.
#include <gtest/gtest.h>

#include "session_harness.hpp"
#include "stub/target_xml.hpp"

namespace tlpstub::stub::testing {
namespace {

std::string le(std::uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out += fmt::format("{:02x}", (v >> (8 * i)) & 0xff);
  return out;
}
std::string unknown(int bytes) { return std::string(2 * bytes, 'x'); }

TEST(Registers, SizesMatchTheWire) {
  EXPECT_EQ(reg_size(Reg::rax), 8);
  EXPECT_EQ(reg_size(Reg::rip), 8);
  EXPECT_EQ(reg_size(Reg::eflags), 4);
  EXPECT_EQ(reg_size(Reg::gs), 4);
  EXPECT_EQ(reg_size(Reg::fs_base), 8);
  EXPECT_EQ(reg_size(Reg::cr4), 8);
  EXPECT_EQ(reg_size(Reg::count), 0);
  auto wire = wire_registers();
  ASSERT_EQ(wire.size(), 46u);
  for (int i = 0; i < kRegCount; ++i) {
    ASSERT_TRUE(wire[i].reg.has_value()) << i;
    EXPECT_EQ(static_cast<int>(*wire[i].reg), i);  // remote number == Reg
  }
  for (std::size_t i = kRegCount; i < wire.size(); ++i) EXPECT_FALSE(wire[i].reg) << i;
}

TEST(Registers, GReplyHasEveryRegisterInOrder) {
  Harness h;
  std::string expected;
  for (int i = 0; i < 16; ++i) {
    std::uint64_t v = i == 7 ? kDataPage + 0x800 : 0x1111111111111111ull * (i % 15 + 1);
    expected += le(v, 8);
  }
  expected += le(kKernelText + 4, 8) + le(0x246, 4) + le(0x10, 4) + le(0x18, 4) + unknown(4 * 4);
  expected += unknown(8 * 2);                                  // fs_base gs_base
  expected += unknown(8 * 2) + le(0x1234000, 8) + unknown(8);  // cr0 cr2 cr3 cr4
  expected += unknown(10 * 8) + unknown(4 * 8);                // x87
  EXPECT_EQ(h.reply("g"), expected);
}

TEST(Registers, GForASleepingTaskIsMostlyUnavailableAndCompressed) {
  Harness h;
  ASSERT_EQ(h.reply("Hg2"), "OK");
  std::string raw = h.ask("g");
  EXPECT_TRUE(raw.starts_with("$x*|")) << raw;  // rax..rdi unknown: 96 digits
  std::string g = gdb_unframe(raw);
  EXPECT_EQ(g.size(), 2u * (16 * 8 + 8 + 4 * 7 + 8 * 6 + 10 * 8 + 4 * 8));
  EXPECT_EQ(g.substr(6 * 16, 16), le(kDataPage + 0x980, 8));    // rbp
  EXPECT_EQ(g.substr(16 * 16, 16), le(kKernelText + 0x10, 8));  // rip
}

TEST(Registers, PReadsOneRegister) {
  Harness h;
  EXPECT_EQ(h.ask("p10"), "$040* 81f*\"ff#c5");  // rip 0xffffffff81000004, LE, RLE
  EXPECT_EQ(h.reply("p11"), "46020000");         // eflags, 32 bit
  EXPECT_EQ(h.reply("p12"), "10000000");         // cs
  EXPECT_EQ(h.reply("p15"), "xxxxxxxx");         // es unknown
  EXPECT_EQ(h.reply("p1c"), le(0x1234000, 8));   // cr3
  EXPECT_EQ(h.ask("p1e"), "$x*0#d2");            // st0: 10 bytes, always unavailable
  EXPECT_EQ(h.reply("p2d"), "xxxxxxxx");         // fop
}

TEST(Registers, PErrors) {
  Harness h;
  EXPECT_EQ(h.ask("p2e"), "$E16#ac");  // beyond what target.xml describes
  EXPECT_EQ(h.reply("pffffffffffffffff"), "E16");
  EXPECT_EQ(h.reply("pzz"), "E01");
  EXPECT_EQ(h.reply("p"), "E01");
}

TEST(Registers, TargetErrorBecomesErrorReply) {
  Harness h;
  h.target.threads_.push_back({5, "noregs", ""});
  ASSERT_EQ(h.reply("Hg5"), "OK");
  EXPECT_EQ(h.reply("g"), "E02");
  EXPECT_EQ(h.reply("p0"), "E02");
}

TEST(Registers, WritesAreRefused) {
  Harness h;
  EXPECT_EQ(h.ask("P0=0100000000000000"), "$E1e#db");
  EXPECT_EQ(h.reply("G" + std::string(16, '0')), "E1e");
}

}  // namespace
}  // namespace tlpstub::stub::testing
