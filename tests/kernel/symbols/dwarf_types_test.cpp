// The DWARF type reader (kernel/symbols/dwarf_types.hpp) on the hand-built DWARF 4 and 5 units
// of tests/kernel/dwarf_sample.hpp; expected offsets are the ones written there by hand.
#include <gtest/gtest.h>

#include "kernel/symbols/dwarf_types.hpp"
#include "tests/kernel/dwarf_sample.hpp"

namespace tlpstub::kernel::dwarf_read {
namespace {

const std::vector<std::string_view> kNames = {"task_struct", "loopy", "absent"};

Sections sections_of(const dwarf_sample::Sample& s) {
  return {s.info, s.abbrev, s.str, s.line_str, s.str_offsets};
}

Result<DwarfTypes> load_sample(const dwarf_sample::Sample& s) {
  return DwarfTypes::load(sections_of(s), kNames);
}

class DwarfVersions : public ::testing::TestWithParam<int> {};

TEST_P(DwarfVersions, MembersOffsetsSizesAndNames) {
  const auto s = dwarf_sample::make(GetParam());
  auto dw = load_sample(s);
  ASSERT_TRUE(dw) << dw.error().message;
  EXPECT_EQ(dw->stats().units, 1u);

  auto st = dw->member("task_struct", "__state");  // const -> volatile -> typedef -> int
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(st->offset, 0u);
  EXPECT_EQ(st->size, 4u);
  EXPECT_EQ(st->bit_size, 0u);
  EXPECT_EQ(st->type_name, "const volatile pid_t");

  auto pid = dw->member("task_struct", "pid");
  ASSERT_TRUE(pid);
  EXPECT_EQ(pid->offset, 4u);
  EXPECT_EQ(pid->type_name, "pid_t");

  auto cb = dw->member("task_struct", "desc_ring.count_bits");  // named member, anonymous type
  ASSERT_TRUE(cb) << cb.error().message;
  EXPECT_EQ(cb->offset, 12u);
  EXPECT_EQ(cb->size, 4u);

  auto y = dw->member("task_struct", "y");  // inside an anonymous union member
  ASSERT_TRUE(y) << y.error().message;
  EXPECT_EQ(y->offset, 16u);
  EXPECT_EQ(y->size, 8u);
  EXPECT_EQ(y->type_name, "long int");
  auto x = dw->member("task_struct", "x");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->offset, 16u);
  EXPECT_EQ(x->size, 4u);

  auto flags = dw->member("task_struct", "flags");
  ASSERT_TRUE(flags) << flags.error().message;
  EXPECT_EQ(flags->offset, 24u);
  EXPECT_EQ(flags->size, 1u);
  EXPECT_EQ(flags->bit_offset, 192u);
  EXPECT_EQ(flags->bit_size, 5u);
  auto level = dw->member("task_struct", "level");
  ASSERT_TRUE(level);
  EXPECT_EQ(level->offset, 24u);
  EXPECT_EQ(level->bit_offset, 197u);
  EXPECT_EQ(level->bit_size, 3u);
  EXPECT_EQ(level->type_name, "unsigned char");

  auto comm = dw->member("task_struct", "comm");
  ASSERT_TRUE(comm);
  EXPECT_EQ(comm->offset, 32u);
  EXPECT_EQ(comm->size, 16u);
  EXPECT_EQ(comm->type_name, "char[16]");

  auto parent = dw->member("task_struct", "parent");  // its struct only declared before
  ASSERT_TRUE(parent);
  EXPECT_EQ(parent->offset, 48u);
  EXPECT_EQ(parent->size, 8u);
  EXPECT_EQ(parent->type_name, "struct task_struct *");

  // The definition, not the declaration that comes first, gives the size.
  auto size = dw->struct_size("task_struct");
  ASSERT_TRUE(size);
  EXPECT_EQ(*size, 56u);
}

TEST_P(DwarfVersions, MissingThingsAreNotFoundAndCyclesAreMalformed) {
  const auto s = dwarf_sample::make(GetParam());
  auto dw = load_sample(s);
  ASSERT_TRUE(dw);
  auto none = dw->member("task_struct", "nope");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::not_found);
  EXPECT_NE(none.error().message.find("no member 'nope'"), std::string::npos);
  EXPECT_EQ(dw->member("absent", "x").error().code, Errc::not_found);
  EXPECT_EQ(dw->member("task_struct", "flags.x").error().code, Errc::invalid_argument);
  auto loop = dw->member("loopy", "x");  // typedef loop_t loop_t
  ASSERT_FALSE(loop);
  EXPECT_EQ(loop.error().code, Errc::malformed);
  EXPECT_NE(loop.error().message.find("deeper than"), std::string::npos) << loop.error().message;
}

INSTANTIATE_TEST_SUITE_P(Dwarf, DwarfVersions, ::testing::Values(4, 5));

void set_le32(std::vector<std::uint8_t>& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::string load_error(const dwarf_sample::Sample& s) {
  auto dw = load_sample(s);
  return dw ? std::string("(loaded)") : dw.error().message;
}

TEST(DwarfMalformed, UnitLongerThanTheSection) {
  auto s = dwarf_sample::make(5);
  s.info.resize(s.info.size() - 10);
  EXPECT_NE(load_error(s).find("runs past the end of .debug_info"), std::string::npos)
      << load_error(s);
}

TEST(DwarfMalformed, UnitCutInsideADie) {
  auto s = dwarf_sample::make(4);
  // Keep the header and part of the every-form DIE; the length says so.
  const std::size_t keep = s.junk_die + 40;
  s.info.resize(keep);
  set_le32(s.info, 0, static_cast<std::uint32_t>(keep - 4));
  EXPECT_NE(load_error(s).find("runs past the end of its unit"), std::string::npos)
      << load_error(s);
}

TEST(DwarfMalformed, UnitEndsWithOpenChildren) {
  auto s = dwarf_sample::make(5);
  s.info.pop_back();  // the unit DIE's closing null
  set_le32(s.info, 0, static_cast<std::uint32_t>(s.info.size() - 4));
  EXPECT_NE(load_error(s).find("ends inside 1 open DIE"), std::string::npos) << load_error(s);
}

TEST(DwarfMalformed, NullEntryOutsideChildren) {
  auto s = dwarf_sample::make(5);
  s.info.push_back(0);  // a second null after the unit DIE's children closed
  set_le32(s.info, 0, static_cast<std::uint32_t>(s.info.size() - 4));
  EXPECT_NE(load_error(s).find("a null entry outside any DIE's children"), std::string::npos)
      << load_error(s);
}

TEST(DwarfMalformed, UnknownAbbreviationCode) {
  auto s = dwarf_sample::make(5);
  s.info[s.junk_die] = 0x63;
  EXPECT_NE(load_error(s).find("abbreviation code 99 is not in the unit's table"),
            std::string::npos) << load_error(s);
}

TEST(DwarfMalformed, AbbreviationCodeZeroEndsTheTableEarly) {
  auto s = dwarf_sample::make(4);
  s.abbrev.assign({0});  // an empty table: every DIE's code is unknown
  EXPECT_NE(load_error(s).find("abbreviation code 1 is not in the unit's table"),
            std::string::npos) << load_error(s);
}

TEST(DwarfMalformed, AbbrevTableWithoutEnd) {
  auto s = dwarf_sample::make(4);
  s.abbrev.resize(5);
  EXPECT_NE(load_error(s).find(".debug_abbrev"), std::string::npos) << load_error(s);
}

TEST(DwarfMalformed, HugeBlockLength) {
  auto s = dwarf_sample::make(5);
  // The every-form DIE: code (1 byte), sibling ref4, addr (8), block2 (2 + 3), then block4.
  const std::size_t block4 = s.junk_die + 1 + 4 + 8 + 5;
  ASSERT_EQ(s.info[block4], 2);  // its length as written
  set_le32(s.info, block4, 0xfffffff0);
  EXPECT_NE(load_error(s).find("runs past the end of its unit"), std::string::npos)
      << load_error(s);
}

TEST(DwarfMalformed, OverlongLeb128RunsToTheEnd) {
  auto s = dwarf_sample::make(5);
  for (std::size_t i = s.junk_die; i < s.info.size(); ++i) s.info[i] = 0x80;
  EXPECT_NE(load_error(s).find("abbreviation code runs past the end of its unit"),
            std::string::npos) << load_error(s);
}

TEST(DwarfMalformed, SixtyFourBitAndReservedLengthsAndOldVersions) {
  auto s = dwarf_sample::make(5);
  set_le32(s.info, 0, 0xffffffff);
  EXPECT_NE(load_error(s).find("64-bit DWARF"), std::string::npos) << load_error(s);
  set_le32(s.info, 0, 0xfffffff3);
  EXPECT_NE(load_error(s).find("reserved length"), std::string::npos) << load_error(s);
  auto v3 = dwarf_sample::make(4);
  v3.info[4] = 3;
  EXPECT_NE(load_error(v3).find("DWARF version 3"), std::string::npos) << load_error(v3);
  auto split = dwarf_sample::make(5);
  split.info[6] = 4;  // DW_UT_skeleton
  EXPECT_NE(load_error(split).find("unit type 0x4"), std::string::npos) << load_error(split);
}

TEST(DwarfMalformed, StringOffsetsOutOfRange) {
  auto s = dwarf_sample::make(5);
  s.str.resize(4);  // names by strp now point past .debug_str
  EXPECT_NE(load_error(s).find("past the end of .debug_str"), std::string::npos)
      << load_error(s);
}

TEST(DwarfMalformed, EveryTruncationFailsCleanly) {
  // Each prefix of the unit, with its length made to agree, fails with a message or (when it
  // ends between DIEs) loads; none reads outside the buffer (ASan/valgrind would say so).
  for (int version : {4, 5}) {
    const auto s = dwarf_sample::make(version);
    for (std::size_t n = 12; n < s.info.size(); ++n) {
      auto t = s;
      t.info.resize(n);
      set_le32(t.info, 0, static_cast<std::uint32_t>(n - 4));
      auto dw = load_sample(t);
      if (!dw) {
        EXPECT_FALSE(dw.error().message.empty());
      }
    }
  }
}

}  // namespace
}  // namespace tlpstub::kernel::dwarf_read
