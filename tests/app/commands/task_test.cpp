// monitor task PID|kernel: the session reads a process's user memory through its own page
// table (a made-up one whose user page holds a known string), and goes back.
#include <gtest/gtest.h>

#include "tests/app/tasks_fixture.hpp"

namespace tlpstub::app::testing {
namespace {

using tlpstub::test::FakeTasks;
using tlpstub::test::PageTableBuilder;

constexpr std::uint64_t kUserVa = 0x7ffd12340000;
constexpr std::uint64_t kUserPa = 0x3900000;

struct TaskCmdFixture : TasksFixture {
  PageTableBuilder user{k.mem, {.first_table = 0x3800000}};
  TaskCmdFixture() {
    user.map_4k(VirtAddr(kUserVa), PhysAddr(kUserPa), PageTableBuilder::kUserData);
    const std::string s = "hello from pid 130";
    k.mem.write(PhysAddr(kUserPa + 0x10), std::span(reinterpret_cast<const std::uint8_t*>(s.data()),
                                                    s.size() + 1));
    k.w64(k.read_mm(k.task_of[130]) + FakeTasks::kPgd, FakeTasks::kPob + user.top().value);
    publish();
  }
  std::string read_string(std::uint64_t va) {
    target->begin_request(SteadyClock::now() + std::chrono::seconds(1));
    std::uint8_t b[32] = {};
    auto r = target->read_memory(va, b);
    if (r.fault) return "fault: " + r.fault->message;
    return std::string(reinterpret_cast<const char*>(b));
  }
};

TEST(TaskCommand, ReadsTheProcessMemoryThenGoesBack) {
  TaskCmdFixture f;
  EXPECT_NE(f.read_string(kUserVa + 0x10).find("fault"), std::string::npos);
  EXPECT_EQ(f.run("task 130"),
            "task 130 (sh): page table 0x3800000; 'monitor task kernel' goes back\n");
  EXPECT_EQ(f.read_string(kUserVa + 0x10), "hello from pid 130");
  EXPECT_EQ(f.target->state().selected_task, 130);
  EXPECT_EQ(f.run("task kernel --json"), "{\"pid\":null,\"comm\":null,\"task\":null,"
                                         "\"table\":\"0x3000000\"}\n");
  EXPECT_NE(f.read_string(kUserVa + 0x10).find("fault"), std::string::npos);
}

TEST(TaskCommand, Errors) {
  TaskCmdFixture f;
  EXPECT_EQ(f.run("task 2"), "error: task: pid 2 (kthreadd) is a kernel thread: no user "
                             "address space\n");
  EXPECT_EQ(f.run("task 999"), "error: task: no task with pid 999\n");
  EXPECT_EQ(f.run("task x1"), "error: task: 'x1' is neither a pid nor 'kernel'\n");
  EXPECT_EQ(f.run("task"), "error: usage: monitor task PID|kernel\n");
}

}  // namespace
}  // namespace tlpstub::app::testing
