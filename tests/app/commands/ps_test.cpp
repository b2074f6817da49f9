// monitor ps on the made-up kernel of tests/app/tasks_fixture.hpp: exact text and JSON. The
// addresses are where the fixture's allocator put each object (task_struct, pgd page).
#include <gtest/gtest.h>

#include "tests/app/tasks_fixture.hpp"

namespace tlpstub::app::testing {
namespace {

TEST(PsCommand, ProcessesAsPsShowsThem) {
  TasksFixture f;
  f.publish();
  EXPECT_EQ(f.run("ps"),
            "    PID    PPID ST CPU COMM             TASK               PGD\n"
            "      1       0 S    1 init             0xffff888000108400 0x109000\n"
            "      2       0 S    1 kthreadd         0xffff88800010a000 -\n"
            "      3       2 I    1 kworker/0:0      0xffff88800010a400 -\n"
            "    100       1 S    1 server           0xffff88800010a800 0x10b000\n"
            "    130     100 R    1 sh               0xffff88800010c400 0x10d000\n"
            "5 shown of 8 tasks, read via pid idr in 9 batches\n");
}

TEST(PsCommand, ThreadsAndIdleTasks) {
  TasksFixture f;
  f.publish();
  EXPECT_EQ(f.run("ps --threads"),
            "    PID    TGID    PPID ST CPU COMM             TASK               PGD\n"
            "      0       0       0 R>   0 swapper/0        0xffffffff81800000 -\n"
            "      0       0       0 R>   1 swapper/1        0xffff888000108000 -\n"
            "      1       1       0 S    1 init             0xffff888000108400 0x109000\n"
            "      2       2       0 S    1 kthreadd         0xffff88800010a000 -\n"
            "      3       3       2 I    1 kworker/0:0      0xffff88800010a400 -\n"
            "    100     100       1 S    1 server           0xffff88800010a800 0x10b000\n"
            "    101     100       1 D    1 worker           0xffff88800010c000 0x10b000\n"
            "    130     130     100 R    1 sh               0xffff88800010c400 0x10d000\n"
            "8 shown of 8 tasks, read via pid idr in 9 batches\n");
}

TEST(PsCommand, PatternIsACommGlobOrAPid) {
  TasksFixture f;
  f.publish();
  const std::string head = "    PID    PPID ST CPU COMM             TASK               PGD\n";
  EXPECT_EQ(f.run("ps k*"), head +
            "      2       0 S    1 kthreadd         0xffff88800010a000 -\n"
            "      3       2 I    1 kworker/0:0      0xffff88800010a400 -\n"
            "2 shown of 8 tasks, read via pid idr in 9 batches\n");
  EXPECT_EQ(f.run("ps 100 --json"),
            "{\"method\":\"pid idr\",\"complete\":true,\"batches\":9,\"attempts\":1,"
            "\"panic_cpu\":null,\"warnings\":[],\"tasks\":[{\"pid\":100,\"tgid\":100,\"ppid\":1,"
            "\"state\":\"S\",\"comm\":\"server\",\"task\":\"0xffff88800010a800\",\"stack\":\"0x0\",\"cpu\":1,"
            "\"pgd\":\"0x10b000\",\"idle\":false,\"running_on\":null,\"panicking\":false}]}\n");
  EXPECT_EQ(f.run("ps --thread"),
            "error: ps: unknown option '--thread'; try 'monitor help ps'\n");
}

// kernel/panic.c panic_cpu holds the CPU that panicked (-1 before): the task it runs is '!'.
TEST(PsCommand, ThePanickedTaskAndItsCpu) {
  TasksFixture f;
  const std::uint64_t pc = f.k.image_alloc(8);
  f.k.syms.push_back({"panic_cpu", pc, 'D'});
  f.k.w32(pc, 0xffffffff);
  f.publish();
  EXPECT_EQ(f.run("ps --threads swapper*").find("the kernel panicked"), std::string::npos);
  f.k.w32(pc, 1);
  f.publish();
  EXPECT_EQ(f.run("ps --threads swapper*"),
            "    PID    TGID    PPID ST CPU COMM             TASK               PGD\n"
            "      0       0       0 R>   0 swapper/0        0xffffffff81800000 -\n"
            "      0       0       0 R!   1 swapper/1        0xffff888000108000 -\n"
            "2 shown of 8 tasks, read via pid idr in 9 batches\n"
            "the kernel panicked on CPU 1\n");
}

TEST(PsCommand, PartialListShowsWarnings) {
  TasksFixture f;
  f.k.w64(f.k.leaves[1] + tlpstub::test::FakeTasks::kXaSlots + 8 * (100 - 64), 0x10);
  f.publish();
  const std::string out = f.run("ps");
  // 9 batches as a whole list takes: 130's parent (100) was not read with the others; its
  // tgid is read in the batch that reads mm->pgd.
  EXPECT_NE(out.find("4 shown of 7 tasks, read via pid idr in 9 batches (partial: see "
                     "warnings)\nwarning: pid 100: struct pid pointer 0x10 is not a kernel "
                     "address\n"),
            std::string::npos)
      << out;
}

TEST(PsCommand, NeedsTypes) {
  TasksFixture f;
  f.publish();
  f.ctx->set_types_status({TypesState::failed, "no BTF", nullptr, std::nullopt});
  EXPECT_EQ(f.run("ps"), "error: tasks: kernel types (BTF) not recovered: no BTF\n");
  // Threads fall back to the kernel pseudo-thread.
  EXPECT_EQ(f.target->threads().size(), 1u);
}

}  // namespace
}  // namespace tlpstub::app::testing
