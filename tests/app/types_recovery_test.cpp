// TargetContext's types recovery: BTF found in (fake) memory on a background thread, published
// for `monitor info` and the commands that need types; a failure is published too.
#include <gtest/gtest.h>

#include "tests/app/app_fixture.hpp"
#include "tests/kernel/btf_fake_image.hpp"

namespace tlpstub::app::testing {
namespace {

TEST(TypesRecovery, BackgroundRecoveryPublishesTypeInfo) {
  tlpstub::test::FakeImage f;
  TargetContext ctx(f.mem);
  auto img = std::make_shared<const kernel::KernelImage>(f.img);
  ctx.recover_types_in_background(img);
  const TypesStatus st = ctx.wait_for_types(kNoDeadline);
  ASSERT_EQ(st.state, TypesState::done) << st.message;
  ASSERT_TRUE(st.btf);
  EXPECT_EQ(st.btf->pa, tlpstub::test::FakeImage::kBtfPa);
  EXPECT_EQ(st.btf->size, f.blob.size());
  EXPECT_EQ(st.types->member("task_struct", "thread.sp")->offset, 88u);  // btf_sample.hpp
}

TEST(TypesRecovery, NoBtfIsAFailureWithTheReason) {
  tlpstub::test::FakeImage f;
  f.mem.write(PhysAddr(tlpstub::test::FakeImage::kBtfPa), std::vector<std::uint8_t>(64, 0));
  TargetContext ctx(f.mem);
  ctx.recover_types_in_background(std::make_shared<const kernel::KernelImage>(f.img));
  const TypesStatus st = ctx.wait_for_types(kNoDeadline);
  EXPECT_EQ(st.state, TypesState::failed);
  EXPECT_NE(st.message.find("no vmlinux BTF"), std::string::npos) << st.message;
  EXPECT_FALSE(st.types);
}

kernel::Profile comm_at_64(std::string release) {
  kernel::FieldInfo f{64, 16, 64 * 8, 0, "char[16]", "BTF"};
  return kernel::Profile{std::move(release), "", {{"task_struct", "comm", f}}, {}};
}

TEST(TypesRecovery, AProfileOverridesBtfForItsMembers) {
  tlpstub::test::FakeImage f;
  TargetContext ctx(f.mem);
  ctx.set_profile(comm_at_64(f.img.release), "p.json", false);
  ctx.recover_types_in_background(std::make_shared<const kernel::KernelImage>(f.img));
  const TypesStatus st = ctx.wait_for_types(kNoDeadline);
  ASSERT_EQ(st.state, TypesState::done) << st.message;
  ASSERT_TRUE(st.profile);
  EXPECT_EQ(st.profile->path, "p.json");
  EXPECT_EQ(st.profile->members, 1u);
  EXPECT_EQ(st.types->member("task_struct", "comm")->offset, 64u);  // BTF says 48
  EXPECT_EQ(st.types->member("task_struct", "comm")->source, "profile");
  EXPECT_EQ(st.types->member("task_struct", "thread.sp")->source, "BTF");
}

TEST(TypesRecovery, AProfileAloneServesWhenThereIsNoBtfNorSymbols) {
  tlpstub::test::FakeImage f;
  f.mem.write(PhysAddr(tlpstub::test::FakeImage::kBtfPa), std::vector<std::uint8_t>(64, 0));
  TargetContext ctx(f.mem);
  ctx.set_profile(comm_at_64(f.img.release), "p.json", false);
  ctx.recover_types_in_background(std::make_shared<const kernel::KernelImage>(f.img));
  const TypesStatus st = ctx.wait_for_types(kNoDeadline);
  ASSERT_EQ(st.state, TypesState::done) << st.message;
  EXPECT_EQ(st.types->member("task_struct", "comm")->offset, 64u);
}

TEST(TypesRecovery, AProfileForAnotherReleaseIsRefusedUnlessForced) {
  tlpstub::test::FakeImage f;
  TargetContext ctx(f.mem);
  ctx.set_profile(comm_at_64("9.9-other"), "p.json", false);
  auto img = std::make_shared<const kernel::KernelImage>(f.img);
  ctx.recover_types_in_background(img);
  TypesStatus st = ctx.wait_for_types(kNoDeadline);
  EXPECT_EQ(st.state, TypesState::failed);
  EXPECT_EQ(st.message, "profile p.json refused: the profile is for release '9.9-other', this "
                        "kernel is '" + f.img.release + "' (--profile-force uses it anyway)");
  EXPECT_FALSE(st.types);

  ctx.set_profile(comm_at_64("9.9-other"), "p.json", true);
  ctx.recover_types_in_background(img);
  st = ctx.wait_for_types(kNoDeadline);
  ASSERT_EQ(st.state, TypesState::done) << st.message;
  EXPECT_EQ(st.types->member("task_struct", "comm")->offset, 64u);
  EXPECT_EQ(st.profile->note, "forced (--profile-force) although the profile is for release "
                              "'9.9-other', this kernel is '" + f.img.release + "'");
}

}  // namespace
}  // namespace tlpstub::app::testing
