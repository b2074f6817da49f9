// Tasks as gdb threads: ids (pid, idle tasks above every pid), names, extra info, and the
// registers of a sleeping task from its switch frame read through a page walk (the stack is
// in vmalloc space), of a running task only the placeholder.
#include <gtest/gtest.h>

#include <thread>

#include "app/task_threads.hpp"
#include "tests/app/tasks_fixture.hpp"

namespace tlpstub::app::testing {
namespace {

using tlpstub::test::FakeTasks;
using stub::Reg;

constexpr std::uint64_t kStackVa = 0xffffc90000014000;  // vmalloc: only a page walk finds it
constexpr std::uint64_t kStackPa = 0x2800000;

struct ThreadsFixture : TasksFixture {
  ThreadsFixture() {
    b.map_4k(VirtAddr(kStackVa), PhysAddr(kStackPa));
    const std::uint64_t sp = kStackVa + 0xf00;
    k.w64(k.task_of[1] + FakeTasks::kThreadSp, sp);
    // inactive_task_frame {r15, r14, r13, r12, bx, bp, ret_addr} of the fake layout
    const std::uint64_t vals[] = {0x15, 0x14, 0x13, 0x12, 0xb0, kStackVa + 0xf80,
                                  FakeTasks::kText + 0x1234};
    for (int i = 0; i < 7; ++i) k.mem.write_u64(PhysAddr(kStackPa + 0xf00 + 8 * i), vals[i]);
    publish();
  }
  stub::RegisterSet regs(std::int64_t id) {
    auto r = target->registers(id);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : stub::RegisterSet{};
  }
};

TEST(TaskThreads, OneThreadPerTaskIdleTasksLast) {
  ThreadsFixture f;
  f.target->begin_request(SteadyClock::now() + std::chrono::seconds(1));
  auto list = f.target->threads();
  std::string s;
  for (auto& t : list) s += std::to_string(t.id) + ":" + t.name + ":" + t.extra + "\n";
  EXPECT_EQ(s,
            "1:init:init [1]\n2:kthreadd:kthreadd [2]\n3:kworker/0:0:kworker/0:0 [3]\n"
            "100:server:server [100]\n101:worker:worker [101]\n130:sh:sh [130]\n"
            "1073741824:swapper/0:swapper/0 [0]\n1073741825:swapper/1:swapper/1 [0]\n");
}

TEST(TaskThreads, SleepingTaskRegistersFromItsSwitchFrame) {
  ThreadsFixture f;
  f.target->begin_request(SteadyClock::now() + std::chrono::seconds(1));
  auto r = f.regs(1);
  auto v = [&](Reg g) { return r.value[static_cast<int>(g)]; };
  EXPECT_EQ(v(Reg::rip), FakeTasks::kText + 0x1234);
  EXPECT_EQ(v(Reg::rsp), kStackVa + 0xf00 + 56);
  EXPECT_EQ(v(Reg::rbp), kStackVa + 0xf80);
  EXPECT_EQ(v(Reg::rbx), 0xb0u);
  EXPECT_EQ(v(Reg::r12), 0x12u);
  EXPECT_EQ(v(Reg::r13), 0x13u);
  EXPECT_EQ(v(Reg::r14), 0x14u);
  EXPECT_EQ(v(Reg::r15), 0x15u);
  for (Reg g : {Reg::rax, Reg::rcx, Reg::rdx, Reg::rsi, Reg::rdi, Reg::r8, Reg::r11,
                Reg::eflags, Reg::cs})
    EXPECT_FALSE(v(g)) << static_cast<int>(g);  // unknown, never zero
  // cr3: the process's own page table.
  EXPECT_EQ(v(Reg::cr3), f.k.mem.peek_u64(PhysAddr(f.k.pa(f.k.read_mm(f.k.task_of[1]) + 120))) -
                             FakeTasks::kPob);
}

TEST(TaskThreads, RunningTaskAndBadFrameGetOnlyThePlaceholder) {
  ThreadsFixture f;
  f.target->begin_request(SteadyClock::now() + std::chrono::seconds(1));
  auto r = f.regs(kIdleThreadBase);  // swapper/0 runs on CPU 0
  EXPECT_EQ(r.value[static_cast<int>(Reg::rip)], FakeTasks::kText);
  EXPECT_FALSE(r.value[static_cast<int>(Reg::rsp)]);
  auto r2 = f.regs(2);  // kthreadd: thread.sp points at no mapped stack
  EXPECT_EQ(r2.value[static_cast<int>(Reg::rip)], FakeTasks::kText);
  EXPECT_FALSE(r2.value[static_cast<int>(Reg::rbx)]);
  EXPECT_FALSE(f.target->registers(999));
}

TEST(TaskThreads, FrameWithAReturnAddressOutsideTextIsRefused) {
  ThreadsFixture f;
  f.k.mem.write_u64(PhysAddr(kStackPa + 0xf00 + 48), 0x4141414141414141);
  f.target->begin_request(SteadyClock::now() + std::chrono::seconds(1));
  auto r = f.regs(1);
  EXPECT_EQ(r.value[static_cast<int>(Reg::rip)], FakeTasks::kText);
  EXPECT_FALSE(r.value[static_cast<int>(Reg::rbx)]);
}

TEST(TaskThreads, ThreadPacketsShareARecentWalkCommandsWalkAfresh) {
  ThreadsFixture f;
  auto packets = [&] {
    f.target->begin_request(SteadyClock::now() + std::chrono::seconds(1));
    f.target->threads();
    f.target->registers(1);
    f.target->registers(100);
  };
  packets();
  packets();  // gdb's next packet of the same `info threads`: the walk is reused
  EXPECT_EQ(f.target->state().task_walks(), 1u);
  // A command (monitor ps) walks afresh, within the same window too.
  f.target->begin_request(SteadyClock::now() + std::chrono::seconds(1));
  ASSERT_TRUE(f.target->state().tasks());
  EXPECT_EQ(f.target->state().task_walks(), 2u);
  // Past the window a thread packet walks again.
  std::this_thread::sleep_for(SessionState::kThreadWalkReuse + std::chrono::milliseconds(50));
  packets();
  EXPECT_EQ(f.target->state().task_walks(), 3u);
}

}  // namespace
}  // namespace tlpstub::app::testing
