// read_task_stacks: which part of each stack is read (a sleeping task's from thread.sp up, a
// running task's whole), all tasks in one batch after the page walks, and nothing read for a
// task whose thread.sp is off its stack. Stacks mapped in the vmalloc area by an independent
// page-table builder (tests/support/fake_memory.hpp); bytes checked against the pattern.
#include "kernel/linux/task_stacks.hpp"

#include <gtest/gtest.h>

#include "tests/support/fake_memory.hpp"

using namespace tlpstub;
using namespace tlpstub::kernel;
using tlpstub::test::FakeMemory;
using tlpstub::test::PageTableBuilder;

namespace {

constexpr std::uint64_t kTaskStackVa = 0xffffc90000010000;  // vmalloc area, 4-level
constexpr std::uint64_t kThreadSize = 16 << 10;

struct StacksWorld {
  FakeMemory mem;
  PageTableBuilder b{mem};
  PageWalker walker{mem};
  AddressSpace as{mem, walker, b.top()};
  // Stack n at kTaskStackVa + n * 32 KiB, frames at 0x800000 + n * 16 KiB.
  std::uint64_t map_stack(unsigned n) {
    const std::uint64_t va = kTaskStackVa + n * 2 * kThreadSize;
    const std::uint64_t pa = 0x800000 + n * kThreadSize;
    b.map_range_4k(VirtAddr(va), PhysAddr(pa), kThreadSize);
    mem.fill_pattern(PhysAddr(pa), kThreadSize);
    return va;
  }
};

}  // namespace

TEST(TaskStacks, SleepingFromThreadSpRunningWholeAllInOneBatch) {
  StacksWorld w;
  Task sleeping, running, off, exited, unread;
  sleeping.stack = w.map_stack(0);
  sleeping.saved_sp = sleeping.stack + kThreadSize - 0x300;
  sleeping.has_saved_sp = true;
  running.stack = w.map_stack(1);
  running.running_on = 1;
  off.stack = w.map_stack(2);
  off.saved_sp = off.stack - 8;  // below its stack: not a switch frame of this task
  off.has_saved_sp = true;
  exited.stack = 0;
  unread.stack = w.map_stack(3);  // thread.sp never read (list_tasks leaves it)
  const Task* tasks[] = {&sleeping, &running, &off, &exited, &unread};
  w.walker.new_epoch();
  w.mem.reset_counters();
  auto st = read_task_stacks(w.as, tasks, kThreadSize, true);
  ASSERT_EQ(st.size(), 5u);
  ASSERT_TRUE(st[0].bytes);
  EXPECT_EQ(st[0].base, sleeping.saved_sp);
  EXPECT_EQ(st[0].bytes->size(), 0x300u);
  EXPECT_EQ((*st[0].bytes)[0], FakeMemory::pattern_at(0x800000 + kThreadSize - 0x300));
  ASSERT_TRUE(st[1].bytes);
  EXPECT_EQ(st[1].base, running.stack);
  EXPECT_EQ(st[1].bytes->size(), kThreadSize);
  EXPECT_EQ((*st[1].bytes)[5], FakeMemory::pattern_at(0x800000 + kThreadSize + 5));
  EXPECT_FALSE(st[2].bytes);
  EXPECT_NE(st[2].why.find("not on the task's stack"), std::string::npos) << st[2].why;
  EXPECT_FALSE(st[3].bytes);
  EXPECT_TRUE(st[3].why.empty());
  EXPECT_FALSE(st[4].bytes);
  EXPECT_NE(st[4].why.find("thread.sp not read"), std::string::npos) << st[4].why;
  // 4 levels of tables (one batch each, fewer when shared), then one batch of stack bytes.
  EXPECT_LE(w.mem.batches(), 5u);
  std::uint64_t last = 0;
  for (const auto& r : w.mem.log().back()) last += r.length;
  EXPECT_EQ(last, 0x300u + kThreadSize);  // the stacks, all in the last batch
}

TEST(TaskStacks, RunningTaskWithoutScanAndAnUnmappedStack) {
  StacksWorld w;
  Task running, unmapped;
  running.stack = w.map_stack(0);
  running.running_on = 0;
  unmapped.stack = kTaskStackVa + 10 * 2 * kThreadSize;  // never mapped
  unmapped.saved_sp = unmapped.stack + 0x3f00;
  unmapped.has_saved_sp = true;
  const Task* tasks[] = {&running, &unmapped};
  auto st = read_task_stacks(w.as, tasks, kThreadSize, false);
  EXPECT_FALSE(st[0].bytes);  // no scan wanted: nothing read
  EXPECT_FALSE(st[1].bytes);  // asked, not mapped
  EXPECT_EQ(st[1].base, unmapped.saved_sp);
  EXPECT_TRUE(st[1].why.empty());
}
