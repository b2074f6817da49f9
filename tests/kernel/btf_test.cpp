// BTF parser and TypeInfo on hand-built blobs (tests/kernel/btf_sample.hpp): every kind, member
// offsets through anonymous members, kind_flag bitfields, modifier chains, arrays, enums,
// DATASEC; and malformed blobs, which must give errors in bounded time.
#include "kernel/symbols/btf.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "kernel/symbols/type_info.hpp"
#include "tests/kernel/btf_sample.hpp"

using namespace tlpstub;
using namespace tlpstub::kernel;
using tlpstub::test::BtfBlob;
using tlpstub::test::sample_btf;

namespace {

std::shared_ptr<const btf::Btf> parsed() {
  auto r = btf::Btf::parse(sample_btf().bytes());
  if (!r) ADD_FAILURE() << r.error().message;
  return std::make_shared<const btf::Btf>(std::move(*r));
}

TEST(Btf, ParsesEveryKind) {
  auto b = parsed();
  ASSERT_EQ(b->type_count(), 30u);
  const btf::Kind kinds[] = {
      btf::Kind::int_,      btf::Kind::int_,     btf::Kind::ptr,       btf::Kind::array,
      btf::Kind::struct_,   btf::Kind::ptr,      btf::Kind::typedef_,  btf::Kind::int_,
      btf::Kind::volatile_, btf::Kind::const_,   btf::Kind::restrict_, btf::Kind::type_tag,
      btf::Kind::struct_,   btf::Kind::int_,     btf::Kind::union_,    btf::Kind::struct_,
      btf::Kind::struct_,   btf::Kind::enum_,    btf::Kind::fwd,       btf::Kind::func_proto,
      btf::Kind::ptr,       btf::Kind::func,     btf::Kind::var,       btf::Kind::datasec,
      btf::Kind::float_,    btf::Kind::decl_tag, btf::Kind::enum64,    btf::Kind::typedef_,
      btf::Kind::struct_,   btf::Kind::array};
  for (std::uint32_t id = 1; id <= 30; ++id)
    EXPECT_EQ(b->type(id).kind, kinds[id - 1]) << "type " << id;
  EXPECT_EQ(b->name_of(17), "task_struct");
  EXPECT_EQ(b->type(1).extra[0], (1u << 24) | 32);  // INT encoding word
  EXPECT_EQ(b->type(26).extra[0], 2u);              // DECL_TAG component_idx
  EXPECT_EQ(b->type(23).extra[0], 1u);              // VAR linkage
  EXPECT_EQ(b->size_bytes(), sample_btf().bytes().size());
}

TEST(Btf, EnumsSignedUnsignedAnd64Bit) {
  auto b = parsed();
  auto e = b->items(b->type(18));
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(b->name(e[1].name_off), "PIDTYPE_BAD");
  EXPECT_EQ(e[1].value, -1);
  auto e64 = b->items(b->type(27));
  ASSERT_EQ(e64.size(), 1u);
  EXPECT_EQ(static_cast<std::uint64_t>(e64[0].value), 0x8000000000000001ull);
}

TEST(Btf, DatasecListsPerCpuVariables) {
  auto b = parsed();
  auto sec = b->find(btf::Kind::datasec, ".data..percpu");
  ASSERT_TRUE(sec);
  auto vars = b->items(b->type(*sec));
  ASSERT_EQ(vars.size(), 1u);
  EXPECT_EQ(b->name_of(vars[0].type), "runqueues");
  EXPECT_EQ(vars[0].offset, 64u);
  EXPECT_EQ(vars[0].size, 128u);
  EXPECT_EQ(*b->size_of(vars[0].type), 128u);  // VAR -> task_struct
}

TEST(Btf, SizesAndNames) {
  auto b = parsed();
  EXPECT_EQ(*b->size_of(4), 16u);    // char[16]
  EXPECT_EQ(*b->size_of(30), 32u);   // char[2][16]
  EXPECT_EQ(*b->size_of(10), 4u);    // const volatile int
  EXPECT_EQ(*b->size_of(12), 8u);    // type-tagged pointer
  EXPECT_EQ(*b->size_of(28), 128u);  // typedef task_t
  EXPECT_EQ(*b->size_of(19), 0u);    // FWD: incomplete
  EXPECT_EQ(b->type_name(10), "const volatile int");
  EXPECT_EQ(b->type_name(30), "char[2][16]");
  EXPECT_EQ(b->type_name(12), "struct list_head *");
  EXPECT_EQ(b->type_name(11), "void * restrict");
  EXPECT_EQ(b->type_name(21), "int (*)(int, void *)");
  EXPECT_EQ(b->type_name(15), "union {...}");
  EXPECT_EQ(b->type_name(19), "struct mm_struct");
  EXPECT_EQ(b->type_name(7), "u8");
  EXPECT_EQ(*b->strip(10), 1u);
  EXPECT_EQ(*b->strip(28), 17u);
}

TEST(TypeInfo, MemberOffsetsThroughAnonymousMembersAndPaths) {
  TypeInfo ti(parsed());
  auto off = [&](std::string_view s, std::string_view p) {
    auto f = ti.member(s, p);
    EXPECT_TRUE(f) << p << ": " << (f ? "" : f.error().message);
    return f ? f->offset : ~0ull;
  };
  EXPECT_EQ(off("task_struct", "__state"), 0u);
  EXPECT_EQ(off("task_struct", "flags"), 4u);
  EXPECT_EQ(off("task_struct", "tasks"), 8u);
  EXPECT_EQ(off("task_struct", "tasks.prev"), 16u);
  EXPECT_EQ(off("task_struct", "b"), 24u);       // in the anonymous union
  EXPECT_EQ(off("task_struct", "cpu"), 36u);     // in the anonymous struct
  EXPECT_EQ(off("task_struct", "comm"), 48u);
  EXPECT_EQ(off("task_struct", "thread.sp"), 88u);
  EXPECT_EQ(off("struct task_struct", "mm"), 96u);
  EXPECT_EQ(off("task_t", "stack"), 104u);       // through the typedef
  EXPECT_EQ(off("mm_struct", "pgd"), 120u);      // the struct, not the FWD of the same name
  auto comm = ti.member("task_struct", "comm");
  EXPECT_EQ(comm->size, 16u);
  EXPECT_EQ(comm->type_name, "char[16]");
  EXPECT_EQ(comm->source, "BTF");
  EXPECT_EQ(*ti.struct_size("task_struct"), 128u);
}

TEST(TypeInfo, KindFlagBitfields) {
  TypeInfo ti(parsed());
  auto a = ti.member("task_struct", "bit_a");
  auto b = ti.member("task_struct", "bit_b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->bit_offset, 320u);
  EXPECT_EQ(a->bit_size, 1u);
  EXPECT_EQ(b->bit_offset, 321u);
  EXPECT_EQ(b->bit_size, 3u);
  EXPECT_EQ(b->offset, 40u);
  EXPECT_EQ(b->size, 1u);
  EXPECT_EQ(b->type_name, "u8");
  EXPECT_FALSE(ti.member("task_struct", "bit_b.x"));  // a bitfield has no members
}

TEST(TypeInfo, MissingMembersAndTypesAreNotFound) {
  TypeInfo ti(parsed());
  EXPECT_EQ(ti.member("task_struct", "thread_group").error().code, Errc::not_found);
  EXPECT_EQ(ti.member("no_such", "x").error().code, Errc::not_found);
  EXPECT_EQ(ti.member("task_struct", "thread..sp").error().code, Errc::invalid_argument);
  EXPECT_EQ(ti.member("task_struct", "comm.x").error().code, Errc::invalid_argument);
  EXPECT_EQ(TypeInfo().member("task_struct", "pid").error().code, Errc::not_found);
}

TEST(TypeInfo, OtherSourcesWinAndSaySo) {
  TypeInfo ti(parsed());
  ti.add_member("task_struct", "pid", FieldInfo{200, 4, 1600, 0, "int", "inference"});
  EXPECT_EQ(ti.member("task_struct", "pid")->source, "inference");
  EXPECT_EQ(ti.member("task_struct", "flags")->source, "BTF");
}

TEST(TypeInfo, DescribeStructLikePahole) {
  TypeInfo ti(parsed());
  auto L = ti.describe_struct("task_struct");
  ASSERT_TRUE(L) << L.error().message;
  EXPECT_EQ(L->kind, "struct");
  EXPECT_EQ(L->size, 128u);
  ASSERT_EQ(L->members.size(), 16u);  // 12 members + 2 of the union + 2 of the struct
  const LayoutRow& u = L->members[3];
  EXPECT_EQ(u.name, "");
  EXPECT_EQ(u.type_name, "union {...}");
  EXPECT_EQ(u.offset, 24u);
  EXPECT_EQ(L->members[5].name, "b");
  EXPECT_EQ(L->members[5].depth, 1);
  EXPECT_EQ(L->members[5].offset, 24u);
  EXPECT_EQ(L->members[8].name, "cpu");
  EXPECT_EQ(L->members[8].offset, 36u);
  EXPECT_EQ(L->members[10].name, "bit_b");
  EXPECT_EQ(L->members[10].bit_size, 3u);
  EXPECT_EQ(L->members[10].bit_offset, 321u);
  EXPECT_EQ(ti.describe_struct("union list_head").error().code, Errc::not_found);
  EXPECT_EQ(ti.describe_struct("task_t")->name, "task_struct");
}

TEST(TypeInfo, NamedMemberOfAnonymousTypeIsExpanded) {
  // 1 INT int; 2 STRUCT (anonymous) { int x @0; int y @32 }; 3 STRUCT outer, 20 bytes:
  // int a @0, struct {...} gen @32 bits, pair_t u @96 bits; 4 TYPEDEF pair_t -> 2.
  BtfBlob b;
  b.w({b.str("int"), BtfBlob::info(test::kInt, 0), 4, (1u << 24) | 32});
  const auto x = b.str("x"), y = b.str("y");
  b.w({0, BtfBlob::info(test::kStruct, 2), 8, x, 1, 0, y, 1, 32});
  const auto a = b.str("a"), gen = b.str("gen"), u = b.str("u");
  b.w({b.str("outer"), BtfBlob::info(test::kStruct, 3), 20, a, 1, 0, gen, 2, 32, u, 4, 96});
  b.w({b.str("pair_t"), BtfBlob::info(test::kTypedef, 0), 2});  // 4 TYPEDEF pair_t -> 2
  auto p = btf::Btf::parse(b.bytes());
  ASSERT_TRUE(p) << p.error().message;
  TypeInfo ti(std::make_shared<const btf::Btf>(std::move(*p)));
  auto L = ti.describe_struct("outer");
  ASSERT_TRUE(L);
  ASSERT_EQ(L->members.size(), 5u);  // the typedef'd anonymous struct of u is not expanded
  EXPECT_EQ(L->members[4].name, "u");
  EXPECT_EQ(L->members[4].type_name, "pair_t");
  EXPECT_EQ(L->members[1].name, "gen");
  EXPECT_EQ(L->members[1].type_name, "struct {...}");
  EXPECT_EQ(L->members[3].name, "y");
  EXPECT_EQ(L->members[3].depth, 1);
  EXPECT_EQ(L->members[3].offset, 8u);
  EXPECT_EQ(ti.member("outer", "gen.y")->offset, 8u);
  EXPECT_FALSE(ti.member("outer", "y"));  // not anonymous: reached only through gen
}

// ---------------------------------------------------------------------------------------------
// Malformed blobs.

std::string parse_error(const std::vector<std::uint8_t>& bytes) {
  auto r = btf::Btf::parse(bytes);
  return r ? std::string("parsed") : r.error().message;
}

void put32(std::vector<std::uint8_t>& v, std::size_t at, std::uint32_t x) {
  for (int i = 0; i < 4; ++i) v[at + i] = static_cast<std::uint8_t>(x >> (8 * i));
}

TEST(BtfMalformed, HeaderFieldsOutOfBounds) {
  auto good = sample_btf().bytes();
  EXPECT_EQ(parse_error(good), "parsed");
  EXPECT_NE(parse_error({0x9F, 0xEB, 1, 0}).find("header"), std::string::npos);
  auto v = good;
  v[0] = 0x9E;
  EXPECT_NE(parse_error(v).find("magic"), std::string::npos);
  v = good;
  put32(v, 20, 0xffffffff);  // str_len
  EXPECT_NE(parse_error(v).find("only"), std::string::npos);
  v = good;
  put32(v, 8, 0xfffffff0);   // type_off: u32 sums must not wrap
  put32(v, 12, 0x20);
  EXPECT_NE(parse_error(v).find("only"), std::string::npos);
  v = good;
  put32(v, 4, 12);           // hdr_len below 24
  EXPECT_NE(parse_error(v).find("hdr_len"), std::string::npos);
  v = good;
  v.back() = 'x';            // strings must end in NUL
  EXPECT_NE(parse_error(v).find("NUL"), std::string::npos);
  v = good;
  v.resize(v.size() - 1);    // truncated: the header claims one byte more
  EXPECT_NE(parse_error(v).find("only"), std::string::npos);
}

TEST(BtfMalformed, RecordsOutOfBounds) {
  {
    BtfBlob b;  // name offset past the strings
    b.w({0x1000, BtfBlob::info(test::kInt, 0), 4, 32});
    EXPECT_NE(parse_error(b.bytes()).find("past the strings"), std::string::npos);
  }
  {
    BtfBlob b;  // vlen 65535 members in a 24-byte section
    b.w({0, BtfBlob::info(test::kStruct, 0xffff), 8, 0, 0, 0});
    EXPECT_NE(parse_error(b.bytes()).find("runs past"), std::string::npos);
  }
  {
    BtfBlob b;  // kind 20 does not exist
    b.w({0, BtfBlob::info(20, 0), 0});
    EXPECT_NE(parse_error(b.bytes()).find("unknown kind"), std::string::npos);
  }
  {
    BtfBlob b;  // a reference to type 99 of 1
    b.w({0, BtfBlob::info(test::kPtr, 0), 99});
    EXPECT_NE(parse_error(b.bytes()).find("type 99"), std::string::npos);
  }
  {
    BtfBlob b;  // a member's type out of range
    b.w({b.str("s"), BtfBlob::info(test::kStruct, 1), 8, b.str("m"), 7, 0});
    EXPECT_NE(parse_error(b.bytes()).find("member refers to type 7"), std::string::npos);
  }
  {
    BtfBlob b;  // record cut short: 8 of 12 bytes
    b.w({0, BtfBlob::info(test::kPtr, 0)});
    EXPECT_NE(parse_error(b.bytes()).find("truncated"), std::string::npos);
  }
}

TEST(BtfMalformed, CyclesAreErrorsNotHangs) {
  BtfBlob b;
  // 1 TYPEDEF a -> 2, 2 CONST -> 1: a cycle. 3 anonymous STRUCT holds an anonymous member of
  // type 3. 4 PTR -> 4. 5 ARRAY of 5. 6 STRUCT s holds a member of type 3.
  b.w({b.str("a"), BtfBlob::info(test::kTypedef, 0), 2});
  b.w({0, BtfBlob::info(test::kConst, 0), 1});
  b.w({0, BtfBlob::info(test::kStruct, 1), 8, 0, 3, 0});
  b.w({0, BtfBlob::info(test::kPtr, 0), 4});
  b.w({0, BtfBlob::info(test::kArray, 0), 0, 5, 1, 2});
  b.w({b.str("s"), BtfBlob::info(test::kStruct, 1), 8, b.str("m"), 3, 0});
  auto p = btf::Btf::parse(b.bytes());
  ASSERT_TRUE(p) << p.error().message;  // the records are sound; walking them is not
  EXPECT_FALSE(p->strip(1));
  EXPECT_FALSE(p->size_of(1));
  EXPECT_FALSE(p->size_of(5));
  EXPECT_EQ(*p->size_of(4), 8u);
  EXPECT_FALSE(p->member(3, "x"));
  EXPECT_LE(p->type_name(4).size(), 600u);
  EXPECT_LE(p->type_name(1).size(), 600u);
  TypeInfo ti(std::make_shared<const btf::Btf>(std::move(*p)));
  EXPECT_FALSE(ti.describe_struct("s"));
  EXPECT_FALSE(ti.member("a", "x"));
}

TEST(BtfMalformed, WideAnonymousNestingIsBounded) {
  // Struct k (k = 1..12) has 200 anonymous members of struct k+1 (the last: of void): 200^11
  // paths to search without a bound. Function pointers whose parameters are such pointers, likewise for names.
  BtfBlob b;
  constexpr std::uint32_t kLevels = 12, kWidth = 200;
  for (std::uint32_t k = 1; k <= kLevels; ++k) {
    b.w({k == 1 ? b.str("top") : 0, BtfBlob::info(test::kStruct, kWidth), 8});
    for (std::uint32_t i = 0; i < kWidth; ++i) b.w({0, k < kLevels ? k + 1 : 0, 0});
  }
  // proto (id 13) with 8 params of type 14; 14 = PTR -> 13.
  b.w({0, BtfBlob::info(test::kFuncProto, 8), 14});
  for (int i = 0; i < 8; ++i) b.w({0, 14});
  b.w({0, BtfBlob::info(test::kPtr, 0), 13});
  auto p = btf::Btf::parse(b.bytes());
  ASSERT_TRUE(p) << p.error().message;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(p->member(1, "x"));
  EXPECT_LE(p->type_name(14).size(), 600u);
  TypeInfo ti(std::make_shared<const btf::Btf>(std::move(*p)));
  EXPECT_FALSE(ti.describe_struct("top"));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

}  // namespace
