#include <gtest/gtest.h>

#include "app/commands/commands.hpp"
#include "tests/app/app_fixture.hpp"

namespace tlpstub::app::testing {
namespace {

// Tables of PageTableBuilder: PML4 0x100000, PDPT 0x101000, PD 0x102000, PT 0x103000;
// table entries carry P RW US A D (0x67); the page kernel data P RW A D G NX.
TEST(V2pCommand, TextShowsEveryLevel) {
  AppFixture f;
  f.give_cr3();
  EXPECT_EQ(f.run("v2p 0xffff888000345010"),
            "0xffff888000345010 in the 4-level table at 0x100000\n"
            "PML4E [0x111] in table 0x100000: 0x101067  P RW US A D frame 0x101000\n"
            "PDPTE [0x000] in table 0x101000: 0x102067  P RW US A D frame 0x102000\n"
            "PDE   [0x001] in table 0x102000: 0x103067  P RW US A D frame 0x103000\n"
            "PTE   [0x145] in table 0x103000: 0x8000000002345163  P RW A D G NX frame 0x2345000\n"
            "0xffff888000345010 -> phys 0x2345010 (4K page, RW, kernel, NX)\n");
}

TEST(V2pCommand, HoleShowsWhereTheWalkStopped) {
  AppFixture f;
  f.give_cr3();
  const std::string why =
      "PDE not present for 0xffff888000600000 (level 2, entry 0x0, index 0x3 in table "
      "0x102000)";
  EXPECT_EQ(f.run("v2p 0xffff888000600000"),
            "0xffff888000600000 in the 4-level table at 0x100000\n"
            "PML4E [0x111] in table 0x100000: 0x101067  P RW US A D frame 0x101000\n"
            "PDPTE [0x000] in table 0x101000: 0x102067  P RW US A D frame 0x102000\n"
            "PDE   [0x003] in table 0x102000: 0x0  not present\n" +
                why + "\nerror: " + why + "\n");
  EXPECT_EQ(f.run("v2p 0xffff888000600000 --json"),
            "{\"va\":\"0xffff888000600000\",\"levels\":4,\"table\":\"0x100000\",\"steps\":["
            "{\"level\":4,\"name\":\"PML4E\",\"table\":\"0x100000\",\"index\":273,"
            "\"entry\":\"0x101067\",\"present\":true,\"flags\":[\"P\",\"RW\",\"US\",\"A\",\"D\"],"
            "\"frame\":\"0x101000\"},"
            "{\"level\":3,\"name\":\"PDPTE\",\"table\":\"0x101000\",\"index\":0,"
            "\"entry\":\"0x102067\",\"present\":true,\"flags\":[\"P\",\"RW\",\"US\",\"A\",\"D\"],"
            "\"frame\":\"0x102000\"},"
            "{\"level\":2,\"name\":\"PDE\",\"table\":\"0x102000\",\"index\":3,"
            "\"entry\":\"0x0\",\"present\":false,\"flags\":[]}],"
            "\"error\":\"" + why + "\"}\n");
}

TEST(V2pCommand, JsonOfATranslation) {
  AppFixture f;
  f.give_cr3();
  const std::string j = f.run("v2p --json 0xffff888000345010");
  EXPECT_TRUE(j.ends_with("\"phys\":\"0x2345010\",\"page_size\":4096,\"writable\":true,"
                          "\"user\":false,\"nx\":true}\n"))
      << j;
}

TEST(V2pCommand, ArgumentsAndTheSharedMessage) {
  AppFixture f;
  EXPECT_EQ(f.run("v2p"), "error: usage: monitor v2p ADDR\n");
  EXPECT_EQ(f.run("v2p 1 2"), "error: usage: monitor v2p ADDR\n");
  EXPECT_EQ(f.run("v2p 0x1000"),
            "error: no kernel page table known: 'monitor cr3 discover', 'monitor cr3 VALUE', or "
            "'monitor phys on' for physical reads\n");
  f.give_cr3();
  EXPECT_EQ(f.run("v2p zz"), "error: v2p: 'zz' is not an address\n");
}

// Entries as v2p prints them (formerly kernel/paging's describe_entry; same expectations).
TEST(V2pCommand, EntryText) {
  using kernel::view_entry;
  EXPECT_EQ(commands::entry_text(view_entry(0x80000000012340e7, 1)),
            "0x80000000012340e7  P RW US A D PAT NX frame 0x1234000");
  EXPECT_EQ(commands::entry_text(view_entry(0x00000000012000e3, 2)),
            "0x12000e3  P RW A D PS 2M frame 0x1200000");
  EXPECT_EQ(commands::entry_text(view_entry(0x0000000040001183, 3)),
            "0x40001183  P RW PS 1G PAT G frame 0x40000000");
  EXPECT_EQ(commands::entry_text(view_entry(0x0000800000002067, 4, 1ull << 47)),
            "0x800000002067  P RW US A D SME frame 0x2000");
  EXPECT_EQ(commands::entry_text(view_entry(0, 2)), "0x0  not present");
  EXPECT_EQ(commands::entry_text(view_entry(0x1234000, 1)), "0x1234000  not present");
}

}  // namespace
}  // namespace tlpstub::app::testing
