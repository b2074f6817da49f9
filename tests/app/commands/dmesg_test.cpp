#include <gtest/gtest.h>

#include <regex>

#include "tests/app/app_fixture.hpp"
#include "tests/kernel/printk_sample.hpp"

namespace tlpstub::app::testing {
namespace {

using test::RingSim;

constexpr std::uint64_t kPrb = 0xffffffff9b400000, kRb = 0xffffffff9b401000;
constexpr std::uint64_t kDescs = 0xffff888010000000, kInfos = 0xffff888010100000,
                        kData = 0xffff888010200000;

struct DmesgFixture : AppFixture {
  std::uint64_t next_pa = 0x4000000;

  void place(std::uint64_t va, const std::vector<std::uint8_t>& bytes) {
    const std::uint64_t start = va & ~0xfffull, end = (va + bytes.size() + 0xfff) & ~0xfffull;
    b.map_range_4k(VirtAddr(start), PhysAddr(next_pa), end - start);
    mem.write(PhysAddr(next_pa + (va - start)), bytes);
    next_pa += end - start;
  }
  void give(const RingSim& sim, bool with_types = true) {
    discovered();
    std::vector<std::uint8_t> ptr(8);
    RingSim::put64(ptr, 0, kRb);
    place(kPrb, ptr);
    place(kRb, sim.header(kDescs, kInfos, kData));
    place(kDescs, sim.descs);
    place(kInfos, sim.infos);
    place(kData, sim.data);
    kernel::RecoveredSymbols r;
    r.table = kernel::SymbolTable({{"_text", kText, 'T'}, {"prb", kPrb, 'D'}});
    ctx.set_symbols_status(
        {DiscoveryState::done, {}, std::make_shared<const kernel::RecoveredSymbols>(std::move(r))});
    if (!with_types) {
      ctx.set_types_status({TypesState::failed, "no BTF found", nullptr, std::nullopt});
      return;
    }
    auto btf = kernel::btf::Btf::parse(test::printk_btf().bytes());
    ASSERT_TRUE(btf);
    auto shared = std::make_shared<const kernel::btf::Btf>(std::move(*btf));
    ctx.set_types_status(
        {TypesState::done, {}, std::make_shared<const kernel::TypeInfo>(shared), std::nullopt});
  }
};

RingSim three() {
  RingSim sim(4, 12);
  sim.push("Linux version 6.12.0-test", 0);
  sim.push("sysrq: Trigger a crash", 61234567000, 6);
  sim.push("Kernel panic - not syncing: sysrq triggered crash", 61234999999, 0);
  return sim;
}

TEST(DmesgCommand, TextLikeDmesg) {
  DmesgFixture f;
  f.give(three());
  EXPECT_EQ(f.run("dmesg"),
            "[    0.000000] Linux version 6.12.0-test\n"
            "[   61.234567] sysrq: Trigger a crash\n"
            "[   61.234999] Kernel panic - not syncing: sysrq triggered crash\n"
            "-- 3 records (seq 0..2) from printk_ringbuffer (5.10+) at 0xffffffff9b401000; "
            "skipped: 1 being written or recycled, 0 inconsistent, 0 changed while read\n");
  EXPECT_EQ(f.run("dmesg -n 1"),
            "[   61.234999] Kernel panic - not syncing: sysrq triggered crash\n"
            "-- 1 records (seq 2..2) from printk_ringbuffer (5.10+) at 0xffffffff9b401000\n");
}

TEST(DmesgCommand, Json) {
  DmesgFixture f;
  f.give(three());
  // The wall time varies: checked for its presence, then left out.
  const std::string raw = f.run("dmesg -n 1 --json");
  const std::regex seconds(",\"seconds\":[0-9.e-]+");
  EXPECT_TRUE(std::regex_search(raw, seconds)) << raw;
  const std::string j = std::regex_replace(raw, seconds, "");
  EXPECT_EQ(j, "{\"format\":\"printk_ringbuffer (5.10+)\",\"buffer\":\"0xffffffff9b401000\","
               "\"slots\":16,\"data_size\":4096,\"skipped_state\":0,\"skipped_invalid\":0,"
               "\"changed_during_read\":0,\"reads\":6,\"bytes\":4328,\"notes\":[],"
               "\"records\":[{\"seq\":2,\"ts_nsec\":61234999999,\"level\":0,\"facility\":0,"
               "\"caller_id\":2147483655,\"text\":\"Kernel panic - not syncing: sysrq "
               "triggered crash\"}]}\n");
}

TEST(DmesgCommand, ClearErrors) {
  {
    DmesgFixture f;
    f.give(three(), false);
    EXPECT_EQ(f.run("dmesg"), "error: the printk ring buffer's layout needs the kernel's types "
                              "(BTF) (kernel types: no BTF found)\n");
  }
  {
    AppFixture f;
    EXPECT_NE(f.run("dmesg").find("error: "), std::string::npos);
  }
  DmesgFixture f;
  f.give(three());
  EXPECT_EQ(f.run("dmesg extra"), f.run("dmesg extra"));  // stable, no crash
  EXPECT_NE(f.run("dmesg extra").find("error"), std::string::npos);
}

}  // namespace
}  // namespace tlpstub::app::testing
