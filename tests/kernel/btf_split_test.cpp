// Split BTF (a module's, on top of vmlinux's): a hand-built module blob over the sample base
// (tests/kernel/btf_sample.hpp, 30 types). Its type ids start at 31 and its string offsets at
// the base's string section size, as kernel/bpf/btf.c numbers them; ids and offsets below are
// written by hand from that rule, not taken from the parser.
#include <gtest/gtest.h>

#include "kernel/symbols/btf.hpp"
#include "kernel/symbols/type_info.hpp"
#include "tests/kernel/btf_sample.hpp"

using namespace tlpstub;
using namespace tlpstub::kernel;
using tlpstub::test::BtfBlob;
using tlpstub::test::sample_btf;

namespace {

// Split blobs: no leading NUL in the strings (offsets continue the base's).
struct SplitBlob {
  BtfBlob blob;
  std::uint32_t base_str_len;
  explicit SplitBlob(std::uint32_t base_len) : base_str_len(base_len) { blob.strings.clear(); }
  std::uint32_t str(std::string_view s) { return base_str_len + blob.str(s); }
};

btf::Btf base() {
  auto b = btf::Btf::parse(sample_btf().bytes());
  EXPECT_TRUE(b);
  return std::move(*b);
}

std::uint32_t base_strings() { return static_cast<std::uint32_t>(sample_btf().strings.size()); }

// 31 STRUCT dummy_priv, 24 bytes: list (5, the base's list_head) @0, id (1, base int) @128 bits
//    and owner (32) @160 bits
// 32 TYPEDEF owner_t -> 1 (base int)
// 33 FUNC dummy_xmit -> 34; 34 FUNC_PROTO returning 1 with one param of type 35
// 35 PTR -> 31
SplitBlob module_blob() {
  SplitBlob s(base_strings());
  using B = BtfBlob;
  const auto list = s.str("list"), id = s.str("id"), owner = s.str("owner");
  s.blob.w({s.str("dummy_priv"), B::info(4, 3), 24, list, 5, 0, id, 1, 128, owner, 32, 160});
  s.blob.w({s.str("owner_t"), B::info(8, 0), 1});
  s.blob.w({s.str("dummy_xmit"), B::info(12, 0), 34});
  s.blob.w({0, B::info(13, 1), 1, s.str("priv"), 35});
  s.blob.w({0, B::info(2, 0), 31});
  return s;
}

TEST(BtfSplit, ModuleTypesContinueTheBase) {
  const btf::Btf b = base();
  auto m = btf::Btf::parse_split(module_blob().blob.bytes(), b);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->type_count(), 35u);
  EXPECT_EQ(m->first_own_type(), 31u);
  EXPECT_EQ(m->name_of(31), "dummy_priv");
  EXPECT_EQ(m->name_of(17), "task_struct");  // base types stay where they were
  auto id = m->find(btf::Kind::struct_, "dummy_priv");
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, 31u);
  EXPECT_EQ(m->function_signature(33), "int dummy_xmit(struct dummy_priv * priv)");

  // Through TypeInfo, as monitor type uses it: module members refer to base types.
  TypeInfo ti(std::make_shared<const btf::Btf>(std::move(*m)));
  auto L = ti.describe_struct("dummy_priv");
  ASSERT_TRUE(L) << L.error().message;
  EXPECT_EQ(L->size, 24u);
  ASSERT_EQ(L->members.size(), 3u);
  EXPECT_EQ(L->members[0].type_name, "struct list_head");
  EXPECT_EQ(L->members[1].offset, 16u);
  EXPECT_EQ(L->members[1].type_name, "int");
  EXPECT_EQ(L->members[2].offset, 20u);
  EXPECT_EQ(L->members[2].type_name, "owner_t");
  auto prev = ti.member("dummy_priv", "list.prev");
  ASSERT_TRUE(prev);
  EXPECT_EQ(prev->offset, 8u);
}

TEST(BtfSplit, ReferencesAndNamesPastTheEndAreErrors) {
  const btf::Btf b = base();
  {
    SplitBlob s(base_strings());
    s.blob.w({s.str("bad"), BtfBlob::info(8, 0), 32});  // typedef -> 32, one past the last (31)
    auto m = btf::Btf::parse_split(s.blob.bytes(), b);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().message, "BTF: type 31 type refers to type 32, past the last (31)");
  }
  {
    SplitBlob s(base_strings());
    s.str("x");
    s.blob.w({base_strings() + 2, BtfBlob::info(8, 0), 1});  // name one past the strings
    auto m = btf::Btf::parse_split(s.blob.bytes(), b);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().message, "BTF: type 31 name offset " +
                                     std::to_string(base_strings() + 2) + " past the strings");
  }
  {
    // A split blob over a split base is refused (the kernel has one level).
    auto m = btf::Btf::parse_split(module_blob().blob.bytes(), b);
    ASSERT_TRUE(m);
    auto mm = btf::Btf::parse_split(module_blob().blob.bytes(), *m);
    ASSERT_FALSE(mm);
    EXPECT_EQ(mm.error().message, "BTF: a split BTF's base is split");
  }
  {
    // Strings that do not end in NUL.
    SplitBlob s(base_strings());
    s.blob.strings = "abc";
    s.blob.w({0, BtfBlob::info(2, 0), 1});
    auto m = btf::Btf::parse_split(s.blob.bytes(), b);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().message, "BTF: string section does not end in NUL");
  }
  {
    // An empty string section is fine for a split blob (its types are all anonymous).
    SplitBlob s(base_strings());
    s.blob.w({0, BtfBlob::info(2, 0), 17});
    auto m = btf::Btf::parse_split(s.blob.bytes(), b);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->type_name(31), "struct task_struct *");
  }
}

}  // namespace
