#include "kernel/paging.hpp"

#include <gtest/gtest.h>

using namespace tlpstub;
using namespace tlpstub::kernel;

TEST(Paging, IndicesAndShifts) {
  EXPECT_EQ(level_shift(1), 12);
  EXPECT_EQ(level_shift(2), 21);
  EXPECT_EQ(level_shift(3), 30);
  EXPECT_EQ(level_shift(4), 39);
  EXPECT_EQ(level_shift(5), 48);
  // 0xffffffff81234567: PML5 511, PML4 511, PDPT 510, PD 9, PT 0x34.
  const VirtAddr va(0xffffffff81234567);
  EXPECT_EQ(level_index(va, 5), 511u);
  EXPECT_EQ(level_index(va, 4), 511u);
  EXPECT_EQ(level_index(va, 3), 510u);
  EXPECT_EQ(level_index(va, 2), 9u);
  EXPECT_EQ(level_index(va, 1), 0x34u);
  // The 5-level direct map base 0xff11000000000000 sits in PML5 slot 0x111.
  EXPECT_EQ(level_index(VirtAddr(0xff11000000000000), 5), 0x111u);
}

TEST(Paging, FrameMasks) {
  EXPECT_EQ(frame_mask(kPageSize4K), 0x000FFFFFFFFFF000u);
  EXPECT_EQ(frame_mask(kPageSize2M), 0x000FFFFFFFE00000u);
  EXPECT_EQ(frame_mask(kPageSize1G), 0x000FFFFFC0000000u);
}

TEST(Paging, CanonicalFourLevel) {
  EXPECT_TRUE(is_canonical(VirtAddr(0), 4));
  EXPECT_TRUE(is_canonical(VirtAddr(0x00007fffffffffff), 4));
  EXPECT_FALSE(is_canonical(VirtAddr(0x0000800000000000), 4));
  EXPECT_FALSE(is_canonical(VirtAddr(0xffff7fffffffffff), 4));
  EXPECT_TRUE(is_canonical(VirtAddr(0xffff800000000000), 4));
  EXPECT_TRUE(is_canonical(VirtAddr(0xffffffffffffffff), 4));
  EXPECT_FALSE(is_canonical(VirtAddr(0xff11000000000000), 4));
}

TEST(Paging, CanonicalFiveLevel) {
  EXPECT_TRUE(is_canonical(VirtAddr(0x0000800000000000), 5));
  EXPECT_TRUE(is_canonical(VirtAddr(0x00ffffffffffffff), 5));
  EXPECT_FALSE(is_canonical(VirtAddr(0x0100000000000000), 5));
  EXPECT_FALSE(is_canonical(VirtAddr(0xfeffffffffffffff), 5));
  EXPECT_TRUE(is_canonical(VirtAddr(0xff00000000000000), 5));
  EXPECT_TRUE(is_canonical(VirtAddr(0xff11000000000000), 5));
}

TEST(Paging, LeafRules) {
  EXPECT_TRUE(is_leaf(0x1000 | bits::P, 1));
  EXPECT_TRUE(is_leaf(bits::P | bits::PAT, 1));  // bit 7 of a PTE is PAT; still a leaf
  EXPECT_FALSE(is_leaf(bits::P, 2));
  EXPECT_TRUE(is_leaf(bits::P | bits::PS, 2));
  EXPECT_TRUE(is_leaf(bits::P | bits::PS, 3));
  EXPECT_FALSE(is_leaf(bits::P | bits::PS, 4));
}

TEST(Paging, Cr3Normalisation) {
  // PCID 0x5, user half (+0x1000), no-flush bit 63.
  EXPECT_EQ(cr3_table(0x800000000abc1005).value, 0xabc0000u);
  EXPECT_EQ(cr3_table(0x0000000000abc000).value, 0xabc000u);
  // LAM bits 61/62 and the SME C-bit (bit 47 here).
  EXPECT_EQ(cr3_table(0x6000800012345018, 1ull << 47).value, 0x12344000u);
  // Without the mask the C-bit would stay in the address.
  EXPECT_EQ(cr3_table(0x0000800012344000).value, 0x800012344000u);
  // A kernel built without PTI: bit 12 is part of the address.
  EXPECT_EQ(cr3_table(0x8000000000abd005, 0, false).value, 0xabd000u);
}

TEST(Paging, EntryProblems) {
  EXPECT_FALSE(entry_problem(0x1234000 | bits::P | bits::RW, 4));
  EXPECT_TRUE(entry_problem(0x1234000 | bits::P | bits::PS, 4));
  EXPECT_TRUE(entry_problem(0x1234000 | bits::P | bits::PS, 5));
  // A table pointer with bit 52 set.
  EXPECT_TRUE(entry_problem((1ull << 52) | 0x1234000 | bits::P, 2));
  EXPECT_TRUE(entry_problem((1ull << 62) | 0x1234000 | bits::P, 4));
  // Leaves may carry software bits and protection keys (bits 57..62).
  EXPECT_FALSE(entry_problem((0xfull << 59) | 0x1234000 | bits::P, 1));
  EXPECT_FALSE(entry_problem((1ull << 57) | 0x40000000 | bits::P | bits::PS, 3));
  // Large pages: PAT (bit 12) is allowed, bits 13..20 (2M) / 13..29 (1G) are reserved.
  EXPECT_FALSE(entry_problem(0x200000 | bits::PAT_LARGE | bits::P | bits::PS, 2));
  EXPECT_TRUE(entry_problem(0x200000 | (1ull << 13) | bits::P | bits::PS, 2));
  EXPECT_TRUE(entry_problem(0x40000000 | (1ull << 29) | bits::P | bits::PS, 3));
  EXPECT_FALSE(entry_problem(0x40000000 | (1ull << 30) | bits::P | bits::PS, 3));
  // NX is fine anywhere.
  EXPECT_FALSE(entry_problem(bits::NX | 0x1000 | bits::P, 4));
}

// The same entries as text are checked in tests/app/commands/v2p_test.cpp.
TEST(Paging, ViewEntry) {
  using V = std::vector<std::string_view>;
  EntryView pte = view_entry(0x80000000012340e7, 1);
  EXPECT_TRUE(pte.present);
  EXPECT_EQ(pte.flags, (V{"P", "RW", "US", "A", "D", "PAT", "NX"}));
  EXPECT_EQ(pte.frame, 0x1234000u);
  EXPECT_EQ(view_entry(0x00000000012000e3, 2).flags, (V{"P", "RW", "A", "D", "PS 2M"}));
  EXPECT_EQ(view_entry(0x00000000012000e3, 2).frame, 0x1200000u);
  EXPECT_EQ(view_entry(0x0000000040001183, 3).flags, (V{"P", "RW", "PS 1G", "PAT", "G"}));
  EXPECT_EQ(view_entry(0x0000000040001183, 3).frame, 0x40000000u);
  EntryView sme = view_entry(0x0000800000002067, 4, 1ull << 47);
  EXPECT_TRUE(sme.sme);
  EXPECT_EQ(sme.frame, 0x2000u);
  EXPECT_FALSE(view_entry(0, 2).present);
  EXPECT_FALSE(view_entry(0x1234000, 1).present);
  EXPECT_TRUE(view_entry(0x1234000, 1).flags.empty());
}

TEST(Paging, Names) {
  EXPECT_EQ(entry_name(1), "PTE");
  EXPECT_EQ(entry_name(2), "PDE");
  EXPECT_EQ(entry_name(3), "PDPTE");
  EXPECT_EQ(entry_name(4), "PML4E");
  EXPECT_EQ(entry_name(5), "PML5E");
  EXPECT_EQ(table_name(5), "PML5");
}
