// A KernelTarget over the made-up kernel of tests/kernel/linux/fake_tasks.hpp, published as
// discovery, symbol and type recovery would publish it: what `monitor ps` and the thread tests
// drive.
#pragma once

#include <memory>
#include <string>

#include "app/kernel_target.hpp"
#include "app/target_context.hpp"
#include "tests/kernel/linux/fake_tasks.hpp"

namespace tlpstub::app::testing {

struct TasksFixture {
  tlpstub::test::FakeTasks k;
  tlpstub::test::PageTableBuilder b{k.mem, {.first_table = 0x3000000}};
  std::unique_ptr<TargetContext> ctx;
  std::unique_ptr<KernelTarget> target;

  TasksFixture() {
    k.add(1, 1, 0, "init", 1);
    k.add(2, 2, 0, "kthreadd", 1, false);
    k.add(3, 3, 2, "kworker/0:0", 0x402, false);
    k.add(100, 100, 1, "server", 1);
    k.add(101, 100, 1, "worker", 2);
    k.add(130, 130, 100, "sh", 0);
    k.build_idr();
  }
  // Publishes everything; call after changing k.
  void publish() {
    ctx = std::make_unique<TargetContext>(k.mem);
    auto img = std::make_shared<kernel::KernelImage>();
    img->banner = "Linux version 6.12.0-test";
    img->release = "6.12.0-test";
    img->text_va = tlpstub::test::FakeTasks::kText;
    img->phys_base = 0;
    img->top = b.top();
    img->levels = 4;
    img->page_offset_base = tlpstub::test::FakeTasks::kPob;
    SpaceConfig sc;
    sc.top = b.top();
    sc.raw_cr3 = b.top().value;
    sc.source = "test";
    sc.image_va = img->text_va;
    ctx->set_kernel_space(sc);
    ctx->set_discovery_status({DiscoveryState::done, {}, img});
    kernel::RecoveredSymbols r;
    r.table = k.table();
    ctx->set_symbols_status(
        {DiscoveryState::done, {}, std::make_shared<const kernel::RecoveredSymbols>(std::move(r))});
    ctx->set_types_status(
        {TypesState::done, {}, std::make_shared<const kernel::TypeInfo>(k.types), std::nullopt});
    target = std::make_unique<KernelTarget>(*ctx);
  }
  std::string run(std::string_view line) {
    target->begin_request(SteadyClock::now() + std::chrono::milliseconds(1500));
    std::string out;
    auto r = target->monitor(line, [&](std::string_view t) { out += t; });
    if (!r) out += "error: " + r.error().message + "\n";
    return out;
  }
};

}  // namespace tlpstub::app::testing
