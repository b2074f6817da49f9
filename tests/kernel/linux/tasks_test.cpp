// The task walk on made-up kernels (tests/kernel/linux/fake_tasks.hpp): the pid IDR path, the
// tasks-list fallback, and hostile memory (pointers into nowhere, cycles, shared subtrees,
// huge counts) that must end with a partial list, warnings naming the place, in few batches.
#include <gtest/gtest.h>

#include <functional>

#include "kernel/linux/task_state.hpp"
#include "kernel/linux/tasks.hpp"
#include "tests/kernel/linux/fake_tasks.hpp"

namespace tlpstub::kernel {
namespace {

using test::FakeTasks;

struct World {
  FakeTasks k;
  World() {
    k.add(1, 1, 0, "init", 1);                       // S
    k.add(2, 2, 0, "kthreadd", 1, false);            // S, kernel thread
    k.add(3, 3, 2, "kworker/0:0", kTaskIdle, false);  // I
    k.add(70, 70, 1, "defunct", 0, true, 0x20);      // Z (exit_state EXIT_ZOMBIE)
    k.add(100, 100, 1, "server", 1);
    k.add(101, 100, 1, "worker", 2);                 // D, a thread of 100
    k.add(130, 130, 100, "child", 4);                // T
  }
  Result<TaskList> walk(TaskLimits lim = {}) {
    SymbolTable st = k.table();
    k.mem.reset_counters();
    return list_tasks(k.mem, TaskSource{k.types, st, k.regions()}, lim);
  }
};

std::string summary(const TaskList& l) {
  std::string s;
  for (const Task& t : l.tasks)
    s += std::to_string(t.pid) + "/" + std::to_string(t.tgid) + "/" + std::to_string(t.ppid) +
         t.state + t.comm + (t.idle ? "*" : "") + " ";
  return s;
}

TEST(TaskState, LettersAsProcPrintsThem) {
  EXPECT_EQ(task_state_letter(0, 0), 'R');
  EXPECT_EQ(task_state_letter(1, 0), 'S');
  EXPECT_EQ(task_state_letter(2, 0), 'D');
  EXPECT_EQ(task_state_letter(0x102, 0), 'D');   // TASK_KILLABLE
  EXPECT_EQ(task_state_letter(0x104, 0), 'T');   // TASK_STOPPED
  EXPECT_EQ(task_state_letter(8, 0), 't');       // TASK_TRACED
  EXPECT_EQ(task_state_letter(0, 0x10), 'X');
  EXPECT_EQ(task_state_letter(0x80, 0x20), 'Z');  // TASK_DEAD | EXIT_ZOMBIE
  EXPECT_EQ(task_state_letter(0x40, 0), 'P');
  EXPECT_EQ(task_state_letter(0x402, 0), 'I');   // TASK_IDLE
  EXPECT_EQ(task_state_letter(0x8000, 0), 'D');  // TASK_FROZEN reads as D
  EXPECT_EQ(task_state_letter(0x1000, 0), 'D');  // TASK_RTLOCK_WAIT
  EXPECT_EQ(task_state_letter(0x2001, 0), 'S');  // TASK_FREEZABLE | INTERRUPTIBLE
}

TEST(Tasks, PidIdrGivesEveryTaskInFewBatches) {
  World w;
  w.k.build_idr({55});  // a process group id whose task is gone
  auto l = w.walk();
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(l->method, "pid idr");
  EXPECT_TRUE(l->complete) << (l->warnings.empty() ? "" : l->warnings[0]);
  EXPECT_EQ(summary(*l),
            "0/0/0Rswapper/0* 0/0/0Rswapper/1* 1/1/0Sinit 2/2/0Skthreadd 3/3/2Ikworker/0:0 "
            "70/70/1Zdefunct 100/100/1Sserver 101/100/1Dworker 130/130/100Tchild ");
  const Task& init = l->tasks[2];
  EXPECT_EQ(init.address, w.k.task_of[1]);
  ASSERT_TRUE(init.pgd);
  EXPECT_EQ(*init.pgd % 4096, 0u);
  EXPECT_EQ(*init.pgd, w.k.mem.peek_u64(PhysAddr(w.k.pa(w.k.read_mm(init.address) + 120))) -
                           FakeTasks::kPob);
  EXPECT_FALSE(l->tasks[3].pgd);  // kthreadd: no mm
  EXPECT_EQ(l->tasks[7].pgd, l->tasks[6].pgd);  // a thread shares its process's page table
  EXPECT_EQ(l->tasks[1].running_on, 1u);
  EXPECT_EQ(l->tasks[0].cpu, 0u);  // as written in thread_info.cpu
  EXPECT_EQ(l->tasks[1].cpu, 1u);
  // cpus (3) + head (1) + 2 IDR levels + pids + tasks + mm: a batch per step, not per task.
  EXPECT_EQ(l->stats.batches, 9u);
  EXPECT_EQ(w.k.mem.batches(), 9u);
  // thread.sp is left to bt and the thread registers (read_saved_sps).
  EXPECT_FALSE(l->tasks[2].has_saved_sp);
  EXPECT_EQ(l->tasks[2].saved_sp, 0u);
}

TEST(Tasks, SavedStackPointersAreReadOnRequestInOneBatch) {
  World w;
  w.k.build_idr();
  auto l = w.walk();
  ASSERT_TRUE(l);
  SymbolTable st = w.k.table();
  w.k.mem.reset_counters();
  std::vector<Task*> some = {&l->tasks[2], &l->tasks[6]};
  EXPECT_EQ(read_saved_sps(w.k.mem, TaskSource{w.k.types, st, w.k.regions()}, some), 0u);
  EXPECT_EQ(w.k.mem.batches(), 1u);
  EXPECT_TRUE(l->tasks[2].has_saved_sp);
  EXPECT_EQ(l->tasks[2].saved_sp, l->tasks[2].address + 0x100);  // as fake_tasks writes it
  EXPECT_EQ(l->tasks[6].saved_sp, l->tasks[6].address + 0x100);
  EXPECT_FALSE(l->tasks[3].has_saved_sp);
  // Already read: nothing more to read.
  w.k.mem.reset_counters();
  EXPECT_EQ(read_saved_sps(w.k.mem, TaskSource{w.k.types, st, w.k.regions()}, some), 0u);
  EXPECT_EQ(w.k.mem.batches(), 0u);
  // A task pointer into nowhere counts as unread.
  Task bad;
  bad.address = 0xffffc90000001000;
  Task* one[] = {&bad};
  EXPECT_EQ(read_saved_sps(w.k.mem, TaskSource{w.k.types, st, w.k.regions()}, one), 1u);
  EXPECT_FALSE(bad.has_saved_sp);
}

TEST(Tasks, IdrWalkChecksPidLinksAndTheLeadersBackLinks) {
  World w;
  w.k.build_idr();
  // pid 100's pid_links[PIDTYPE_PID].pprev no longer points at its struct pid: not its task.
  w.k.w64(w.k.task_of[100] + FakeTasks::kPidLinks + 8, w.k.pid_of[1] + FakeTasks::kPidTasks);
  // init's tasks.next->prev no longer points back at init.
  const std::uint64_t next = w.k.mem.peek_u64(PhysAddr(w.k.pa(w.k.task_of[1] + FakeTasks::kTasks)));
  w.k.w64(next + 8, next);
  auto l = w.walk({.attempts = 2});
  ASSERT_TRUE(l);
  EXPECT_FALSE(l->complete);
  EXPECT_EQ(l->stats.attempts, 2);
  EXPECT_EQ(summary(*l).find("100/100"), std::string::npos);
  std::string all;
  for (auto& s : l->warnings) all += s + "\n";
  EXPECT_NE(all.find("pid_links.pprev"), std::string::npos) << all;
  EXPECT_NE(all.find("1 leaders whose next->prev does not point back"), std::string::npos) << all;
}

TEST(Tasks, PointerIntoNowhereGivesPartialListNamingIt) {
  World w;
  w.k.build_idr();
  w.k.w64(w.k.leaves[1] + FakeTasks::kXaSlots + 8 * (100 - 64), 0xffffc90000001000);  // vmalloc
  auto l = w.walk();
  ASSERT_TRUE(l);
  EXPECT_FALSE(l->complete);
  EXPECT_EQ(summary(*l).find("100/100"), std::string::npos);
  EXPECT_NE(summary(*l).find("101/100/1Dworker"), std::string::npos);
  ASSERT_FALSE(l->warnings.empty());
  EXPECT_NE(l->warnings[0].find("pid 100: struct pid pointer 0xffffc90000001000"),
            std::string::npos) << l->warnings[0];
  EXPECT_EQ(l->stats.attempts, 1);  // an address outside every region is not the target changing
}

TEST(Tasks, InconsistentNodeIsRetriedThenDropped) {
  World w;
  w.k.build_idr();
  w.k.w8(w.k.leaves[1] + FakeTasks::kXaOffset, 7);  // says it is slot 7 of its parent
  auto l = w.walk({.attempts = 3});
  ASSERT_TRUE(l);
  EXPECT_EQ(l->stats.attempts, 3);
  EXPECT_FALSE(l->complete);
  EXPECT_EQ(summary(*l).find("70/70"), std::string::npos);  // leaf 1 holds pids 64-127
  EXPECT_EQ(summary(*l).find("100/100"), std::string::npos);
  EXPECT_NE(summary(*l).find("130/130/100Tchild"), std::string::npos);  // parent read alone
  ASSERT_FALSE(l->warnings.empty());
  EXPECT_NE(l->warnings[0].find("inconsistent"), std::string::npos) << l->warnings[0];
  // cpus, 3 walks, then one batch for the parent's tgid and mm->pgd together
  EXPECT_EQ(l->stats.batches, 3u + 3 * 5 + 1);
}

// A live target: memory that changes under the walk. Before batch `at`, `change` runs.
class ChangingMemory final : public PhysicalMemory {
 public:
  ChangingMemory(PhysicalMemory& inner, std::size_t at, std::function<void()> change)
      : inner_(inner), at_(at), change_(std::move(change)) {}
  MemoryInfo info() const override { return inner_.info(); }

 protected:
  void do_read(std::span<const ReadRange> r, std::span<ReadStatus> st, Deadline d) override {
    if (++batches_ == at_) change_();
    inner_.read(r, st, d);
  }

 private:
  PhysicalMemory& inner_;
  std::size_t at_, batches_ = 0;
  std::function<void()> change_;
};

TEST(Tasks, ATargetChangingUnderTheWalkIsWalkedAgain) {
  World w;
  w.k.build_idr();
  const std::uint64_t leaf = w.k.leaves[1] + FakeTasks::kXaOffset;
  w.k.w8(leaf, 9);  // mid-update on the first walk...
  ChangingMemory live(w.k.mem, 9, [&] { w.k.w8(leaf, 1); });  // ...done by the second
  SymbolTable st = w.k.table();
  auto l = list_tasks(live, TaskSource{w.k.types, st, w.k.regions()});
  ASSERT_TRUE(l);
  EXPECT_EQ(l->stats.attempts, 2);
  EXPECT_TRUE(l->complete) << (l->warnings.empty() ? "" : l->warnings[0]);
  EXPECT_EQ(l->tasks.size(), 9u);
}

TEST(Tasks, SharedSubtreeAndHugeCountsAreCapped) {
  World w;
  w.k.build_idr();
  // Every top slot points at leaf 0: 64 "subtrees", each claiming to hold pids 1..63.
  for (unsigned s = 0; s < 64; ++s)
    w.k.w64(w.k.top + FakeTasks::kXaSlots + 8 * s, w.k.leaves[0] + 2);
  auto l = w.walk({.max_tasks = 2});
  ASSERT_TRUE(l);
  EXPECT_FALSE(l->complete);
  std::string all;
  for (auto& s : l->warnings) all += s + "\n";
  EXPECT_NE(all.find("more than 2 entries"), std::string::npos) << all;
  EXPECT_NE(all.find("63 node pointers reached twice"), std::string::npos) << all;
  EXPECT_LE(l->tasks.size(), 2u + 2);
  EXPECT_LE(l->stats.batches, 3u * 6 + 3);
}

TEST(Tasks, WithoutTheIdrTheTasksListGivesLeaders) {
  World w;
  w.k.drop_symbol("init_pid_ns");
  auto l = w.walk();
  ASSERT_TRUE(l);
  EXPECT_EQ(l->method, "tasks list");
  EXPECT_FALSE(l->complete);  // the IDR was not used: a warning says so
  EXPECT_EQ(summary(*l),
            "0/0/0Rswapper/0* 0/0/0Rswapper/1* 1/1/0Sinit 2/2/0Skthreadd 3/3/2Ikworker/0:0 "
            "70/70/1Zdefunct 100/100/1Sserver 101/100/1Dworker 130/130/100Tchild ");
  EXPECT_EQ(l->warnings.size(), 1u) << l->warnings.back();
}

TEST(Tasks, ListWalkFindsThreadsInRoundsAndStopsAtABrokenRing) {
  World w;
  w.k.add(102, 100, 1, "worker2", 1);
  w.k.add(103, 100, 1, "worker3", 1);
  w.k.drop_symbol("init_pid_ns");
  auto l = w.walk();
  ASSERT_TRUE(l);
  EXPECT_NE(summary(*l).find("101/100/1Dworker 102/100/1Sworker2 103/100/1Sworker3 "),
            std::string::npos) << summary(*l);
  // worker2's back link now names someone else: the ring is cut there.
  w.k.w64(w.k.task_of[102] + FakeTasks::kThreadNode + 8, 0xffff888000000080);
  l = w.walk();
  ASSERT_TRUE(l);
  EXPECT_EQ(summary(*l).find("worker2"), std::string::npos);
  EXPECT_NE(summary(*l).find("101/100/1Dworker"), std::string::npos);
  std::string all;
  for (auto& s : l->warnings) all += s + "\n";
  EXPECT_NE(all.find("threads of 100 broken at task"), std::string::npos) << all;
}

TEST(Tasks, BeforeLinux67TheThreadGroupRingGivesThreads) {
  FakeTasks k(2, /*thread_group=*/true);
  k.add(1, 1, 0, "init", 1);
  k.add(100, 100, 1, "server", 1);
  k.add(101, 100, 1, "worker", 2);
  k.add(102, 100, 1, "worker2", 1);
  k.add(130, 130, 100, "child", 4);
  k.drop_symbol("init_pid_ns");
  SymbolTable st = k.table();
  auto l = list_tasks(k.mem, TaskSource{k.types, st, k.regions()});
  ASSERT_TRUE(l);
  EXPECT_EQ(summary(*l),
            "0/0/0Rswapper/0* 0/0/0Rswapper/1* 1/1/0Sinit 100/100/1Sserver 101/100/1Dworker "
            "102/100/1Sworker2 130/130/100Tchild ");
  EXPECT_EQ(l->warnings.size(), 1u) << l->warnings.back();  // only: the IDR was not used
  // A thread whose link points back into its own node: the walk ends there, with a warning.
  k.w64(k.task_of[101] + FakeTasks::kThreadGroup, k.task_of[101] + FakeTasks::kThreadGroup);
  l = list_tasks(k.mem, TaskSource{k.types, st, k.regions()});
  ASSERT_TRUE(l);
  std::string all;
  for (auto& s : l->warnings) all += s + "\n";
  EXPECT_NE(all.find("threads of 100: cycle or cap at task"), std::string::npos) << all;
  EXPECT_EQ(summary(*l).find("worker2"), std::string::npos);
}

TEST(Tasks, CyclicTasksListEndsWithWarning) {
  World w;
  w.k.drop_symbol("init_pid_ns");
  // child (130) -> back to kthreadd (2). In memory that does not change, entering a task a
  // second time always meets a back link naming its first predecessor, so the back-link check
  // is what ends the walk (the visited set guards a target changing under it).
  const std::uint64_t kthreadd = w.k.task_of[2], child = w.k.task_of[130];
  w.k.w64(child + FakeTasks::kTasks, kthreadd + FakeTasks::kTasks);
  auto l = w.walk();
  ASSERT_TRUE(l);
  std::string all;
  for (auto& s : l->warnings) all += s + "\n";
  EXPECT_NE(all.find("tasks list broken after pid 130"), std::string::npos) << all;
  EXPECT_NE(summary(*l).find("130/130"), std::string::npos);
  EXPECT_EQ(l->tasks.size(), 9u);  // 2 idle, 6 leaders, thread 101
}

TEST(Tasks, BrokenBackLinkStopsTheListWalk) {
  World w;
  w.k.drop_symbol("init_pid_ns");
  w.k.w64(w.k.task_of[70] + FakeTasks::kTasks + 8, 0xffff888000000040);
  auto l = w.walk();
  ASSERT_TRUE(l);
  std::string all;
  for (auto& s : l->warnings) all += s + "\n";
  EXPECT_NE(all.find("after pid 3"), std::string::npos) << all;
  EXPECT_NE(all.find("does not point back"), std::string::npos) << all;
  EXPECT_EQ(summary(*l).find("70/70"), std::string::npos);
}

TEST(Tasks, LongListIsCapped) {
  FakeTasks k;
  for (int p = 1; p <= 300; ++p) k.add(p, p, 0, "t" + std::to_string(p));
  k.drop_symbol("init_pid_ns");
  SymbolTable st = k.table();
  auto l = list_tasks(k.mem, TaskSource{k.types, st, k.regions()}, {.max_tasks = 50});
  ASSERT_TRUE(l);
  EXPECT_LE(l->tasks.size(), 52u);
  EXPECT_LE(l->stats.batches, 60u);
}

TEST(Tasks, MissingTypesAreAClearError) {
  FakeTasks k;
  TypeInfo none;
  SymbolTable st = k.table();
  auto l = list_tasks(k.mem, TaskSource{none, st, k.regions()});
  ASSERT_FALSE(l);
  EXPECT_NE(l.error().message.find("task_struct.__state|state"), std::string::npos)
      << l.error().message;
}

}  // namespace
}  // namespace tlpstub::kernel
