// A KernelTarget over fake memory with synthetic page tables: what the app tests drive. The
// kernel space is given as --cr3 would give it, or a KernelImage is published as discovery
// would publish it.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "app/kernel_target.hpp"
#include "app/target_context.hpp"
#include "tests/support/fake_memory.hpp"

namespace tlpstub::app::testing {

using tlpstub::test::FakeMemory;
using tlpstub::test::PageTableBuilder;

inline constexpr std::uint64_t kVa = 0xffff888000345000ull;
inline constexpr std::uint64_t kText = 0xffffffff9a000000ull;

struct AppFixture {
  FakeMemory mem;
  PageTableBuilder b{mem};
  TargetContext ctx{mem};
  KernelTarget target{ctx};

  AppFixture() { b.map_4k(VirtAddr(kVa), PhysAddr(0x2345000)); }

  void give_cr3() {
    SpaceConfig sc;
    sc.top = b.top();
    sc.raw_cr3 = b.top().value;
    sc.levels = 4;
    sc.source = "--cr3";
    sc.image_va = kText;
    ctx.set_kernel_space(sc);
  }
  // What discovery would publish for a small made-up kernel.
  std::shared_ptr<const kernel::KernelImage> discovered() {
    auto k = std::make_shared<kernel::KernelImage>();
    k->banner = "Linux version 6.1.0-test (dev@example) #1 SMP";
    k->release = "6.1.0-test";
    k->text_va = kText;
    k->kaslr_slide = kText - kernel::kDefaultTextVa;
    k->phys_base = 0x1000000;
    k->banner_va = 0xffffffff9b000100;
    k->banner_pa = 0x2000100;
    k->top = b.top();
    k->top_va = 0xffffffff9c000000;
    k->levels = 4;
    k->page_offset_base = 0xffff888000000000;
    k->method = "scan";
    k->notes = {"a note"};
    k->cost = {12, 3456, 0.25};
    ctx.set_discovery_status({DiscoveryState::done, {}, k});
    return k;
  }

  void begin(std::chrono::milliseconds budget = std::chrono::milliseconds(1500)) {
    target.begin_request(SteadyClock::now() + budget);
  }
  // One monitor command as one gdb request; errors appear as the rcmd handler prints them.
  std::string run(std::string_view line) {
    begin();
    return run_in_request(line);
  }
  std::string run_in_request(std::string_view line) {
    std::string out;
    auto r = target.monitor(line, [&](std::string_view t) { out += t; });
    if (!r) out += "error: " + r.error().message + "\n";
    return out;
  }
};

}  // namespace tlpstub::app::testing
