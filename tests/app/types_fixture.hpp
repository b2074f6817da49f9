// Publishes the hand-built BTF of tests/kernel/btf_sample.hpp as a finished types recovery.
#pragma once

#include <gtest/gtest.h>

#include "app/target_context.hpp"
#include "tests/kernel/btf_sample.hpp"

namespace tlpstub::app::testing {

inline void publish_sample_types(TargetContext& ctx) {
  auto b = kernel::btf::Btf::parse(tlpstub::test::sample_btf().bytes());
  ASSERT_TRUE(b);
  auto shared = std::make_shared<const kernel::btf::Btf>(std::move(*b));
  kernel::BtfFound found{shared, 0xffffffff9b6bec58, 0x26bec58, shared->size_bytes(),
                         "header scan", {7, 4096, 0.125}};
  ctx.set_types_status({TypesState::done, {}, std::make_shared<const kernel::TypeInfo>(shared),
                        found});
}

}  // namespace tlpstub::app::testing
