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

}  // namespace
}  // namespace tlpstub::app::testing
