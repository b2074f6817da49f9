// TargetContext::symbol_file (app/symbol_file_server.cpp): busy until discovery, symbols and
// types are all known (types not yet started included: a file written then would lack DWARF
// for the life of the kernel image), written once and kept, with DWARF when BTF was found.
#include <gtest/gtest.h>

#include "tests/app/app_fixture.hpp"
#include "tests/kernel/btf_fake_image.hpp"

namespace tlpstub::app::testing {
namespace {

std::shared_ptr<const kernel::RecoveredSymbols> two_symbols() {
  auto r = std::make_shared<kernel::RecoveredSymbols>();
  r->table = kernel::SymbolTable({{"_text", 0xffffffff81000000ull, 'T'},
                                  {"init_task", 0xffffffff82000000ull, 'D'}});
  return r;
}

TEST(SymbolFileServer, BusyUntilTypesAreKnownThenWrittenOnceWithDwarf) {
  tlpstub::test::FakeImage f;
  TargetContext ctx(f.mem);
  EXPECT_EQ(ctx.symbol_file(SteadyClock::now()).error().code, Errc::not_found);  // no kernel
  auto img = std::make_shared<const kernel::KernelImage>(f.img);
  ctx.set_discovery_status({DiscoveryState::done, {}, img});
  ctx.set_symbols_status({DiscoveryState::done, {}, two_symbols()});
  auto early = ctx.symbol_file(SteadyClock::now());  // types not started yet
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, Errc::busy);

  ctx.recover_types_in_background(img);
  ASSERT_EQ(ctx.wait_for_types(kNoDeadline).state, TypesState::done);
  auto f1 = ctx.symbol_file(kNoDeadline);
  ASSERT_TRUE(f1) << f1.error().message;
  EXPECT_TRUE((*f1)->has_dwarf);
  EXPECT_GT((*f1)->type_dies, 10u);
  EXPECT_EQ((*f1)->symbols, 2u);
  EXPECT_EQ((*f1)->path.rfind("/tlpstub/vmlinux-", 0), 0u) << (*f1)->path;
  auto f2 = ctx.symbol_file(kNoDeadline);
  ASSERT_TRUE(f2);
  EXPECT_EQ(f1->get(), f2->get());  // kept, not written again
}

}  // namespace
}  // namespace tlpstub::app::testing
