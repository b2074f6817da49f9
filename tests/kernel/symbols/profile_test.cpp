// Profiles (kernel/symbols/profile.hpp): save/load round trip, the exact file text, what a
// malformed or foreign profile gets, and that a profile wins over BTF.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "kernel/symbols/profile.hpp"
#include "tests/kernel/btf_sample.hpp"

namespace tlpstub::kernel {
namespace {

FieldInfo field(std::uint64_t off, std::uint64_t size, std::string type, std::string source,
                std::uint64_t bit_off = 0, std::uint32_t bits = 0) {
  return FieldInfo{off, size, bits ? bit_off : off * 8, bits, std::move(type), std::move(source)};
}

KernelImage image(std::string release, std::string build_id) {
  KernelImage k;
  k.release = std::move(release);
  k.build_id = std::move(build_id);
  return k;
}

// A TypeInfo as inference and BTF would leave it: a few members, one a bitfield, two sizes.
TypeInfo sample_types() {
  TypeInfo ti;
  ti.add_member("task_struct", "pid", field(2456, 4, "pid_t", "BTF"));
  ti.add_member("task_struct", "__state", field(24, 4, "unsigned int", "inference (data)"));
  ti.add_member("task_struct", "thread.sp", field(5400, 8, "long unsigned int", "BTF"));
  ti.add_member("printk_info", "level", field(27, 1, "u8", "BTF", 221, 3));
  ti.add_size("task_struct", 9792, "BTF");
  ti.add_size("printk_info", 88, "BTF");
  return ti;
}

constexpr std::string_view kSampleJson =
    "{\n\"format\": \"tlpstub-profile\", \"version\": 1,\n\"release\": \"6.1.0-test\",\n"
    "\"build_id\": \"00ff\",\n\"structs\": {\n"
    " \"task_struct\": {\"size\": 9792, \"size_source\": \"BTF\", \"members\": {\n"
    "  \"pid\": {\"offset\":2456,\"size\":4,\"type\":\"pid_t\",\"source\":\"BTF\"},\n"
    "  \"__state\": {\"offset\":24,\"size\":4,\"type\":\"unsigned int\","
    "\"source\":\"inference (data)\"},\n"
    "  \"thread.sp\": {\"offset\":5400,\"size\":8,\"type\":\"long unsigned int\","
    "\"source\":\"BTF\"}}},\n"
    " \"printk_info\": {\"size\": 88, \"size_source\": \"BTF\", \"members\": {\n"
    "  \"level\": {\"offset\":27,\"size\":1,\"bit_offset\":221,\"bit_size\":3,\"type\":\"u8\","
    "\"source\":\"BTF\"}}}}\n}\n";

TEST(Profile, SavedTextIsExact) {
  const Profile p = make_profile(sample_types(), image("6.1.0-test", "00ff"));
  EXPECT_EQ(profile_to_json(p), kSampleJson);
}

TEST(Profile, RoundTripGivesTheSameMembersAndSizes) {
  const Profile p = make_profile(sample_types(), image("6.1.0-test", "00ff"));
  const std::string path = ::testing::TempDir() + "profile_round_trip.json";
  ASSERT_TRUE(save_profile_file(p, path));
  auto q = load_profile_file(path);
  std::remove(path.c_str());
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->release, "6.1.0-test");
  EXPECT_EQ(q->build_id, "00ff");
  TypeInfo loaded;
  add_profile(*q, loaded);
  const TypeInfo orig = sample_types();
  for (auto [s, m] : {std::pair{"task_struct", "pid"}, {"task_struct", "__state"},
                      {"task_struct", "thread.sp"}, {"printk_info", "level"}}) {
    auto a = orig.member(s, m);
    auto b = loaded.member(s, m);
    ASSERT_TRUE(b) << m;
    EXPECT_EQ(b->offset, a->offset) << m;
    EXPECT_EQ(b->size, a->size) << m;
    EXPECT_EQ(b->bit_offset, a->bit_offset) << m;
    EXPECT_EQ(b->bit_size, a->bit_size) << m;
    EXPECT_EQ(b->type_name, a->type_name) << m;
    EXPECT_EQ(b->source, "profile") << m;
  }
  EXPECT_EQ(loaded.struct_size("task_struct").value(), 9792u);
  EXPECT_EQ(loaded.size_source("task_struct"), "profile");
  // Saving what was loaded gives the same profile again (sources now "profile").
  auto again = parse_profile(profile_to_json(make_profile(loaded, image("6.1.0-test", "00ff"))));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->members.size(), 4u);
  EXPECT_EQ(again->sizes.size(), 2u);
}

TEST(Profile, AProfileWinsOverBtf) {
  auto b = btf::Btf::parse(test::sample_btf().bytes());
  ASSERT_TRUE(b);
  TypeInfo ti(std::make_shared<const btf::Btf>(std::move(*b)));
  EXPECT_EQ(ti.member("task_struct", "comm")->offset, 48u);
  Profile p{"r", "", {{"task_struct", "comm", field(64, 16, "char[16]", "BTF")}},
            {{"task_struct", 4096, "BTF"}}};
  add_profile(p, ti);
  EXPECT_EQ(ti.member("task_struct", "comm")->offset, 64u);
  EXPECT_EQ(ti.member("task_struct", "comm")->source, "profile");
  EXPECT_EQ(ti.member("task_struct", "flags")->source, "BTF");  // not in the profile
  EXPECT_EQ(ti.struct_size("task_struct").value(), 4096u);
}

TEST(Profile, AnotherKernelIsRefusedSayingWhatDiffers) {
  const Profile p = make_profile(sample_types(), image("6.1.0-test", "00ff"));
  EXPECT_TRUE(check_profile(p, image("6.1.0-test", "00ff")));
  auto rel = check_profile(p, image("6.12.0-test", "00ff"));
  ASSERT_FALSE(rel);
  EXPECT_EQ(rel.error().message,
            "the profile is for release '6.1.0-test', this kernel is '6.12.0-test'");
  auto bid = check_profile(p, image("6.1.0-test", "11ee"));
  ASSERT_FALSE(bid);
  EXPECT_EQ(bid.error().message,
            "the profile is for build id 00ff, this kernel's is 11ee (same release "
            "'6.1.0-test', another build)");
  std::string note;
  EXPECT_TRUE(check_profile(p, image("6.1.0-test", ""), &note));
  EXPECT_EQ(note,
            "this kernel's build id is unknown (no VMCOREINFO): only the release was compared");
}

std::string parse_error(std::string_view json) {
  auto p = parse_profile(json);
  return p ? std::string("parsed") : p.error().message;
}

std::string with_structs(std::string_view structs) {
  return "{\"format\":\"tlpstub-profile\",\"version\":1,\"release\":\"r\",\"build_id\":\"\","
         "\"structs\":{" + std::string(structs) + "}}";
}

TEST(Profile, MalformedProfilesSayWhy) {
  EXPECT_EQ(parse_error(kSampleJson), "parsed");
  EXPECT_EQ(parse_error("{\"format\":\"x\""),
            "profile: JSON: line 1, column 14 (byte 13): expected ',' or '}' in an object, found "
            "end of input");
  EXPECT_EQ(parse_error("{\"format\":\"other\",\"version\":1}"),
            "profile: \"format\" is \"other\", not \"tlpstub-profile\"");
  EXPECT_EQ(parse_error("{\"format\":\"tlpstub-profile\",\"version\":2}"),
            "profile: \"version\" must be 1 (this tlpstub reads only that)");
  EXPECT_EQ(parse_error("{\"format\":\"tlpstub-profile\",\"version\":1,\"relase\":\"r\"}"),
            "profile: top level: unknown key \"relase\"");
  EXPECT_EQ(parse_error("{\"format\":\"tlpstub-profile\",\"version\":1,\"build_id\":\"\"}"),
            "profile: top level: no \"release\"");
  EXPECT_EQ(parse_error(with_structs("\"task_struct\":{\"members\":{\"__stat\":{\"offset\":1,"
                                     "\"size\":4}}}")),
            "profile: task_struct.__stat: not a member tlpstub uses (monitor offsets lists them)");
  EXPECT_EQ(parse_error(with_structs("\"no_such\":{}")),
            "profile: no_such: not a struct tlpstub uses");
  EXPECT_EQ(parse_error(with_structs("\"task_struct\":{\"members\":{\"pid\":{\"offset\":-1,"
                                     "\"size\":4}}}")),
            "profile: task_struct.pid: \"offset\" must be an integer from 0 to 1048576");
  EXPECT_EQ(parse_error(with_structs("\"task_struct\":{\"members\":{\"pid\":{\"offset\":8}}}")),
            "profile: task_struct.pid: needs \"offset\" and \"size\"");
  EXPECT_EQ(parse_error(with_structs("\"task_struct\":{\"members\":{\"pid\":{\"offset\":8,"
                                     "\"size\":4,\"bit_offset\":64}}}")),
            "profile: task_struct.pid: \"bit_offset\" and \"bit_size\" come together, for "
            "bitfields");
  EXPECT_EQ(parse_error(with_structs("\"printk_info\":{\"members\":{\"level\":{\"offset\":27,"
                                     "\"size\":1,\"bit_offset\":222,\"bit_size\":3}}}")),
            "profile: printk_info.level: the bitfield does not lie within the member's bytes");
  EXPECT_EQ(parse_error(with_structs("\"task_struct\":{\"size\":100,\"members\":{\"pid\":"
                                     "{\"offset\":98,\"size\":4}}}")),
            "profile: task_struct.pid: offset 98 + size 4 is beyond sizeof(task_struct) = 100");
  EXPECT_EQ(parse_error(with_structs("\"list_head\":{\"size\":16}")),
            "profile: list_head: its size is not one tlpstub uses");
  EXPECT_EQ(parse_error(with_structs("\"task_struct\":{\"members\":[]}")),
            "profile: task_struct: \"members\" must be an object");
}

TEST(Profile, FilesThatAreNotProfilesAreRefusedUnread) {
  auto missing = load_profile_file("/nonexistent/profile.json");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "profile /nonexistent/profile.json: cannot open it");
  const std::string path = ::testing::TempDir() + "profile_big.json";
  {
    std::ofstream f(path, std::ios::binary);
    f << std::string((1 << 20) + 1, ' ');
  }
  auto big = load_profile_file(path);
  std::remove(path.c_str());
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().message,
            "profile " + path + ": larger than 1048576 bytes, not a profile");
}

}  // namespace
}  // namespace tlpstub::kernel
