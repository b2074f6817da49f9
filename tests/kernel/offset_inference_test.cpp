// Offset inference on a hand-built world: an image with init_task, init_signals, init_mm,
// init_stack and init_top_pgt, and tasks in a direct map, at offsets chosen here (not Linux's),
// so the inference must find them rather than know them. Hostile variants must give "missing",
// never a wrong offset.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "kernel/address_space.hpp"
#include "kernel/linux/printk.hpp"
#include "kernel/page_walker.hpp"
#include "kernel/symbols/offset_inference.hpp"
#include "kernel/symbols/wanted_offsets.hpp"
#include "tests/kernel/printk_sample.hpp"
#include "tests/support/fake_memory.hpp"

namespace tlpstub::kernel {
namespace {

using test::FakeMemory;
using test::PageTableBuilder;

// The layout of this test's task_struct (all different from Debian's).
constexpr std::uint64_t kFlags = 12, kState = 16, kStack = 24, kTasks = 400, kMm = 480,
                        kActiveMm = 488, kPid = 560, kTgid = 564, kRealParent = 576,
                        kParent = 584, kGroupLeader = 624, kThreadNode = 704, kComm = 904,
                        kSignal = 1000, kThreadSp = 2008, kTaskSize = 0x1800;
constexpr std::uint64_t kPgd = 64, kThreadHead = 24;
constexpr std::uint32_t kPfKthread = 0x00200000;

constexpr std::uint64_t kTextVa = 0xffffffff8a000000, kTextPa = 0x2000000;
constexpr std::uint64_t kStackVa = kTextVa + 0x100000, kInitTaskVa = kStackVa + 0x10000,
                        kSignalsVa = kInitTaskVa + 0x4000, kInitMmVa = kSignalsVa + 0x1000,
                        kTopVa = kInitMmVa + 0x2000, kCodeVa = kTopVa + 0x2000;
constexpr std::uint64_t kDirectVa = 0xffff888000000000, kDirectPa = 0x6000000;

struct World {
  FakeMemory mem;
  KernelImage img;
  std::vector<Symbol> syms;
  std::vector<std::uint64_t> tasks;  // direct-map VAs, in ring order
  static constexpr int kTaskCount = 6;

  World() {
    mem.back(PhysAddr(kTextPa), 2ull << 20);
    mem.back(PhysAddr(kDirectPa), 2ull << 20);
    PageTableBuilder b(mem, {.levels = 4, .first_table = kTextPa + 0x1f0000});
    b.map_2m(VirtAddr(kTextVa), PhysAddr(kTextPa));
    b.map_2m(VirtAddr(kDirectVa), PhysAddr(kDirectPa));
    img.text_va = kTextVa;
    img.phys_base = kTextPa - (kTextVa - kStartKernelMap);
    img.top = b.top();
    img.levels = 4;
    img.release = "6.12.0-test";
    img.top_va = kTopVa;
    syms = {{"_text", kTextVa, 'T', false},           {"init_stack", kStackVa, 'D', false},
            {"init_task", kInitTaskVa, 'D', false},     {"init_signals", kSignalsVa, 'd', false},
            {"init_mm", kInitMmVa, 'D', false},         {"init_top_pgt", kTopVa, 'D', false},
            {"after_init_task", kInitTaskVa + kTaskSize, 'D', false},
            {"after_code", kCodeVa + 0x1000, 'T', false}};

    for (int i = 0; i < kTaskCount; ++i) tasks.push_back(kDirectVa + 0x10000 + i * 0x2000);
    // init_task
    put_str(kInitTaskVa + kComm, "swapper/0");
    put(kInitTaskVa + kFlags, 4, kPfKthread | 0x2);
    put(kInitTaskVa + kStack, 8, kStackVa);
    put(kInitTaskVa + kRealParent, 8, kInitTaskVa);
    put(kInitTaskVa + kParent, 8, kInitTaskVa);
    put(kInitTaskVa + kGroupLeader, 8, kInitTaskVa);
    put(kInitTaskVa + kActiveMm, 8, kInitMmVa);
    put(kInitTaskVa + kSignal, 8, kSignalsVa);
    put(kInitTaskVa + kThreadSp, 8, kStackVa + 0x3e80);
    put(kInitTaskVa + kThreadNode, 8, kSignalsVa + kThreadHead);
    put(kInitTaskVa + kThreadNode + 8, 8, kSignalsVa + kThreadHead);
    put(kSignalsVa + kThreadHead, 8, kInitTaskVa + kThreadNode);
    put(kSignalsVa + kThreadHead + 8, 8, kInitTaskVa + kThreadNode);
    put(kInitMmVa + kPgd, 8, kTopVa);
    // The ring: init_task, then pid 1 (a user process), kthreadd, kernel threads, a shell.
    const char* comms[kTaskCount] = {"init", "kthreadd", "rcu_gp", "kworker/0:0", "sh", "kswapd0"};
    const bool user[kTaskCount] = {true, false, false, false, true, false};
    const std::uint32_t pids[kTaskCount] = {1, 2, 3, 7, 60, 31};
    for (int i = 0; i < kTaskCount; ++i) {
      const std::uint64_t t = tasks[i];
      put_str(t + kComm, comms[i]);
      put(t + kPid, 4, pids[i]);
      put(t + kTgid, 4, pids[i]);
      put(t + kFlags, 4, user[i] ? 0x400100 : kPfKthread | 0x8040);
      put(t + kState, 4, i % 2 ? 1 : 0x402);
      put(t + kStack, 8, 0xffffc90000010000 + i * 0x4000);
      put(t + kRealParent, 8, i < 2 ? kInitTaskVa : tasks[i < 4 ? 1 : 0]);
      put(t + kParent, 8, i < 2 ? kInitTaskVa : tasks[i < 4 ? 1 : 0]);
      const std::uint64_t mm = kDirectVa + 0x100000 + i * 0x1000;
      put(t + kMm, 8, user[i] ? mm : 0);
      put(t + kActiveMm, 8, user[i] ? mm : 0);
      put(t + kSignal, 8, kDirectVa + 0x180000 + i * 0x400);
    }
    link_ring(kTasks);
  }

  void link_ring(std::uint64_t L) {
    std::vector<std::uint64_t> nodes{kInitTaskVa + L};
    for (std::uint64_t t : tasks) nodes.push_back(t + L);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      put(nodes[i], 8, nodes[(i + 1) % nodes.size()]);
      put(nodes[i] + 8, 8, nodes[(i + nodes.size() - 1) % nodes.size()]);
    }
  }

  std::uint64_t pa(std::uint64_t va) const {
    return va >= kTextVa ? va - kTextVa + kTextPa : va - kDirectVa + kDirectPa;
  }
  void put(std::uint64_t va, int n, std::uint64_t v) {
    std::uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(v >> (8 * i));
    mem.write(PhysAddr(pa(va)), std::span(b, n));
  }
  void put_str(std::uint64_t va, std::string_view s) {
    std::vector<std::uint8_t> b(16, 0);
    std::memcpy(b.data(), s.data(), std::min<std::size_t>(s.size(), 15));
    mem.write(PhysAddr(pa(va)), b);
  }
  void put_code(const char* name, std::uint64_t va, std::vector<std::uint8_t> code) {
    syms.push_back({name, va, 'T', false});
    mem.write(PhysAddr(pa(va)), code);
  }

  InferenceReport run() {
    auto r = infer_offsets(mem, img, SymbolTable(syms));
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return r ? *r : InferenceReport{};
  }
};

const InferredMember* find(const InferenceReport& r, std::string_view s, std::string_view p) {
  for (const InferredMember& m : r.members)
    if (m.struct_name == s && m.path == p) return &m;
  return nullptr;
}

std::optional<std::uint64_t> offset_of(const InferenceReport& r, std::string_view s,
                                       std::string_view p) {
  const InferredMember* m = find(r, s, p);
  return m && m->found() ? std::optional(m->offset()) : std::nullopt;
}

bool listed_missing(const InferenceReport& r, std::string_view s, std::string_view p) {
  for (const InferenceMissing& m : r.missing)
    if (m.struct_name == s && m.path == p) return true;
  return false;
}

TEST(OffsetInference, FindsEveryMemberFromDataAlone) {
  World w;
  const InferenceReport r = w.run();
  const std::pair<const char*, std::uint64_t> want[] = {
      {"tasks", kTasks},   {"pid", kPid},         {"tgid", kTgid},
      {"comm", kComm},     {"real_parent", kRealParent}, {"parent", kParent},
      {"mm", kMm},         {"active_mm", kActiveMm}, {"flags", kFlags},
      {"__state", kState}, {"signal", kSignal},   {"thread_node", kThreadNode},
      {"stack", kStack},   {"thread.sp", kThreadSp}};
  for (const auto& [path, off] : want) {
    EXPECT_EQ(offset_of(r, "task_struct", path), off) << path;
    if (const InferredMember* m = find(r, "task_struct", path)) {
      EXPECT_EQ(m->source(), "inference (data)") << path;
    }
  }
  EXPECT_EQ(offset_of(r, "mm_struct", "pgd"), kPgd);
  EXPECT_EQ(offset_of(r, "signal_struct", "thread_head"), kThreadHead);
  EXPECT_EQ(r.tasks_seen, 1u + World::kTaskCount);
  EXPECT_TRUE(listed_missing(r, "task_struct", "on_cpu"));
  EXPECT_TRUE(listed_missing(r, "task_struct", "thread_info.cpu"));  // no kick_process
  // Few large reads: the image batch, one per ring step, the candidates and the sample.
  EXPECT_LT(r.cost.reads, 200u);
  EXPECT_LT(r.cost.bytes, 256u << 10);

  TypeInfo ti;
  add_inferred(r, ti);
  auto f = ti.member("task_struct", "pid");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->offset, kPid);
  EXPECT_EQ(f->source, "inference (data)");
  auto missing = ti.member("task_struct", "exit_state");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("no inference method"), std::string::npos);
  auto on_cpu = ti.member("task_struct", "on_cpu");  // no per-CPU symbols in this world
  ASSERT_FALSE(on_cpu);
  EXPECT_NE(on_cpu.error().message.find("needs nr_cpu_ids"), std::string::npos)
      << on_cpu.error().message;
}

// mov [rdi+d], rsp ; mov rsp, [rsi+d] ; ret
std::vector<std::uint8_t> switch_to_asm(std::uint32_t save, std::uint32_t load) {
  std::vector<std::uint8_t> c = {0x55, 0x53, 0x48, 0x89, 0xa7};
  for (int i = 0; i < 4; ++i) c.push_back(static_cast<std::uint8_t>(save >> (8 * i)));
  c.insert(c.end(), {0x48, 0x8b, 0xa6});
  for (int i = 0; i < 4; ++i) c.push_back(static_cast<std::uint8_t>(load >> (8 * i)));
  c.push_back(0xc3);
  return c;
}

TEST(OffsetInference, CodeConfirmsDataAndAConflictIsMissing) {
  World w;
  w.put_code("__switch_to_asm", kCodeVa, switch_to_asm(kThreadSp, kThreadSp));
  // get_task_mm: test byte [rdi+flags+2], 0x20 ; push rbx ; mov rbx, rdi ; call . ;
  //              mov rax, [rbx+mm] ; pop rbx ; ret
  w.put_code("get_task_mm", kCodeVa + 0x100,
             {0xf6, 0x47, kFlags + 2, 0x20, 0x53, 0x48, 0x89, 0xfb, 0xe8, 0, 0, 0, 0, 0x48, 0x8b,
              0x83, kMm & 0xff, kMm >> 8, 0, 0, 0x5b, 0xc3});
  // kick_process: mov ebx, [rdi+0x14]
  w.put_code("kick_process", kCodeVa + 0x200, {0x53, 0x8b, 0x5f, 0x14, 0x5b, 0xc3});
  InferenceReport r = w.run();
  ASSERT_TRUE(find(r, "task_struct", "thread.sp"));
  EXPECT_EQ(find(r, "task_struct", "thread.sp")->source(), "inference (data+code agree)");
  EXPECT_EQ(offset_of(r, "task_struct", "mm"), kMm);
  EXPECT_EQ(find(r, "task_struct", "mm")->source(), "inference (data+code agree)");
  EXPECT_EQ(offset_of(r, "task_struct", "flags"), kFlags);
  EXPECT_EQ(find(r, "task_struct", "flags")->source(), "inference (data+code agree)");
  EXPECT_EQ(offset_of(r, "task_struct", "thread_info.cpu"), 0x14u);
  EXPECT_EQ(find(r, "task_struct", "thread_info.cpu")->source(), "inference (code)");

  // The code says something else: neither answer is used.
  World w2;
  w2.put_code("__switch_to_asm", kCodeVa, switch_to_asm(kThreadSp + 8, kThreadSp + 8));
  r = w2.run();
  ASSERT_TRUE(find(r, "task_struct", "thread.sp"));
  EXPECT_FALSE(find(r, "task_struct", "thread.sp")->found());
  EXPECT_EQ(find(r, "task_struct", "thread.sp")->conflict, "data says 2008, code says 2016")
      << find(r, "task_struct", "thread.sp")->conflict;
  TypeInfo ti;
  add_inferred(r, ti);
  EXPECT_FALSE(ti.member("task_struct", "thread.sp"));

  // Save and load disagree inside __switch_to_asm: the code method has no answer.
  World w3;
  w3.put_code("__switch_to_asm", kCodeVa, switch_to_asm(kThreadSp, kThreadSp + 8));
  r = w3.run();
  EXPECT_EQ(find(r, "task_struct", "thread.sp")->source(), "inference (data)");
}

TEST(OffsetInference, TwoSwapperStringsLeaveCommAndTasksMissing) {
  World w;
  w.put_str(kInitTaskVa + 3000, "swapper/0");
  const InferenceReport r = w.run();
  EXPECT_FALSE(offset_of(r, "task_struct", "comm"));
  EXPECT_FALSE(offset_of(r, "task_struct", "tasks"));
  EXPECT_FALSE(offset_of(r, "task_struct", "pid"));
  EXPECT_TRUE(listed_missing(r, "task_struct", "comm"));
  // What does not depend on them is still found.
  EXPECT_EQ(offset_of(r, "task_struct", "stack"), kStack);
}

TEST(OffsetInference, ARingThatDoesNotCloseGivesNoTasks) {
  World w;
  w.put(w.tasks.back() + kTasks, 8, kDirectVa + 0x1ff000);  // into zeros
  InferenceReport r = w.run();
  EXPECT_FALSE(offset_of(r, "task_struct", "tasks"));
  EXPECT_FALSE(offset_of(r, "task_struct", "pid"));
  EXPECT_FALSE(offset_of(r, "task_struct", "mm"));
  EXPECT_FALSE(offset_of(r, "task_struct", "flags"));

  World w2;
  w2.put(w2.tasks.back() + kTasks, 8, 0xffff888fff000000);  // unmapped
  r = w2.run();
  EXPECT_FALSE(offset_of(r, "task_struct", "tasks"));

  World w3;  // a back link that does not point back
  w3.put(w3.tasks[2] + kTasks + 8, 8, w3.tasks[0] + kTasks);
  r = w3.run();
  EXPECT_FALSE(offset_of(r, "task_struct", "tasks"));

  World w4;  // a ring that loops without coming back to init_task: bounded, and missing
  w4.put(w4.tasks[3] + kTasks, 8, w4.tasks[3] + kTasks);
  w4.put(w4.tasks[3] + kTasks + 8, 8, w4.tasks[3] + kTasks);
  r = w4.run();
  EXPECT_FALSE(offset_of(r, "task_struct", "tasks"));
}

TEST(OffsetInference, AmbiguousPairsAreMissingNotGuessed) {
  World w;
  // A second u32 pair that looks like pid/tgid in every task, and 0/0 in init_task.
  for (std::size_t i = 0; i < w.tasks.size(); ++i) {
    w.put(w.tasks[i] + 520, 4, i == 0 ? 1 : 100 + i);
    w.put(w.tasks[i] + 524, 4, i == 0 ? 1 : 100 + i);
  }
  // A second pointer to init_signals, and two adjacent pairs pointing to init_task.
  w.put(kInitTaskVa + 1200, 8, kSignalsVa);
  w.put(kInitTaskVa + 1400, 8, kInitTaskVa);
  w.put(kInitTaskVa + 1408, 8, kInitTaskVa);
  const InferenceReport r = w.run();
  EXPECT_FALSE(offset_of(r, "task_struct", "pid"));
  EXPECT_FALSE(offset_of(r, "task_struct", "tgid"));
  EXPECT_FALSE(offset_of(r, "task_struct", "signal"));
  EXPECT_FALSE(offset_of(r, "task_struct", "real_parent"));
  EXPECT_FALSE(offset_of(r, "task_struct", "parent"));
  EXPECT_EQ(offset_of(r, "task_struct", "comm"), kComm);
}

TEST(OffsetInference, NoInitTaskIsAnError) {
  World w;
  std::erase_if(w.syms, [](const Symbol& s) { return s.name == "init_task"; });
  EXPECT_FALSE(infer_offsets(w.mem, w.img, SymbolTable(w.syms)));
}

TEST(OffsetInference, GarbageInitTaskFindsNothingWrong) {
  World w;
  w.mem.fill_pattern(PhysAddr(w.pa(kInitTaskVa)), kTaskSize);
  const InferenceReport r = w.run();
  // Only what does not come from init_task's bytes (init_mm.pgd) is found.
  for (const InferredMember& m : r.members)
    if (m.struct_name != "mm_struct") {
      EXPECT_FALSE(m.found()) << m.struct_name << "." << m.path;
    }
  EXPECT_EQ(offset_of(r, "mm_struct", "pgd"), kPgd);
}

// Two CPUs: CPU 0 runs init_task, CPU 1 runs tasks[2]; per-CPU areas in the direct map.
constexpr std::uint64_t kCpuOff = 8, kOnCpuOff = 40, kOnRqOff = 300;
constexpr std::uint64_t kCurrentTaskOff = 0x1b40;  // per-CPU offset of current_task
constexpr std::uint64_t kNrCpuIdsVa = kTextVa + 0x150000, kPerCpuOffsetVa = kTextVa + 0x150100;

// nr CPUs; CPU c runs running[c]; `rq_decoy`: another int that is 1 exactly in running tasks.
void add_cpus(World& w, const std::vector<std::uint64_t>& running, bool rq_decoy) {
  const auto n = static_cast<std::uint32_t>(running.size());
  w.syms.push_back({"nr_cpu_ids", kNrCpuIdsVa, 'D', false});
  w.syms.push_back({"__per_cpu_offset", kPerCpuOffsetVa, 'D', false});
  w.syms.push_back({"current_task", kCurrentTaskOff, 'D', true});
  w.put(kNrCpuIdsVa, 4, n);
  for (std::uint32_t c = 0; c < n; ++c) {
    const std::uint64_t area = kDirectVa + 0x1c0000 + c * 0x8000;
    w.put(kPerCpuOffsetVa + 8 * c, 8, area);
    w.put(area + kCurrentTaskOff, 8, running[c]);
    w.put(running[c] + kCpuOff, 4, c);
    w.put(running[c] + kOnCpuOff, 4, 1);
    if (rq_decoy) w.put(running[c] + kOnRqOff, 4, 1);
  }
  // Sleeping tasks sit on CPU 0 or 1 (when there is one).
  for (std::size_t i = 0; i < w.tasks.size(); ++i)
    if (std::find(running.begin(), running.end(), w.tasks[i]) == running.end())
      w.put(w.tasks[i] + kCpuOff, 4, n > 1 ? i % 2 : 0);
}

// task_call_func: mov rbx, rdi ; call . ; mov eax, [rbx+on_rq] ; test ; pause ;
// mov eax, [rbx+on_cpu] ; ret
std::vector<std::uint8_t> task_call_func(std::uint8_t on_cpu) {
  return {0x48, 0x89, 0xfb, 0xe8, 0, 0, 0, 0, 0x8b, 0x83, kOnRqOff & 0xff, kOnRqOff >> 8, 0, 0,
          0x85, 0xc0, 0xf3, 0x90, 0x8b, 0x43, on_cpu, 0xc3};
}

TEST(OffsetInference, OnCpuAndCpuFromEachCpusRunningTask) {
  World w;
  add_cpus(w, {kInitTaskVa, w.tasks[2]}, false);
  InferenceReport r = w.run();
  EXPECT_EQ(offset_of(r, "task_struct", "on_cpu"), kOnCpuOff);
  ASSERT_TRUE(find(r, "task_struct", "on_cpu"));
  EXPECT_EQ(find(r, "task_struct", "on_cpu")->source(), "inference (data)");
  EXPECT_EQ(offset_of(r, "task_struct", "thread_info.cpu"), kCpuOff);
  ASSERT_TRUE(find(r, "task_struct", "thread_info.cpu"));
  EXPECT_EQ(find(r, "task_struct", "thread_info.cpu")->source(), "inference (data)");

  // on_rq is 1 in the running tasks too: the data cannot choose; the code can, and must land
  // on one of the data's candidates.
  World w2;
  add_cpus(w2, {kInitTaskVa, w2.tasks[2]}, true);
  r = w2.run();
  EXPECT_FALSE(offset_of(r, "task_struct", "on_cpu"));
  EXPECT_TRUE(listed_missing(r, "task_struct", "on_cpu"));
  World w3;
  add_cpus(w3, {kInitTaskVa, w3.tasks[2]}, true);
  w3.put_code("task_call_func", kCodeVa + 0x300, task_call_func(kOnCpuOff));
  r = w3.run();
  EXPECT_EQ(offset_of(r, "task_struct", "on_cpu"), kOnCpuOff);
  ASSERT_TRUE(find(r, "task_struct", "on_cpu"));
  EXPECT_EQ(find(r, "task_struct", "on_cpu")->source(), "inference (code; data allows it)");
  World w4;  // the code names an offset the data rules out: missing
  add_cpus(w4, {kInitTaskVa, w4.tasks[2]}, true);
  w4.put_code("task_call_func", kCodeVa + 0x300, task_call_func(kOnCpuOff + 4));
  r = w4.run();
  ASSERT_TRUE(find(r, "task_struct", "on_cpu"));
  EXPECT_FALSE(find(r, "task_struct", "on_cpu")->found());
  ASSERT_TRUE(find(r, "task_struct", "on_cpu"));
  EXPECT_EQ(find(r, "task_struct", "on_cpu")->conflict, "code says 44, which the data rules out");
}

TEST(OffsetInference, OneCpuSaysTheDataCannotTellTheCpu) {
  World w;
  add_cpus(w, {kInitTaskVa}, false);
  w.put_code("kick_process", kCodeVa + 0x200, {0x53, 0x8b, 0x5f, kCpuOff, 0x5b, 0xc3});
  InferenceReport r = w.run();
  ASSERT_TRUE(find(r, "task_struct", "thread_info.cpu"));
  EXPECT_EQ(find(r, "task_struct", "thread_info.cpu")->source(), "inference (code)");
  ASSERT_TRUE(find(r, "task_struct", "thread_info.cpu"));
  EXPECT_NE(find(r, "task_struct", "thread_info.cpu")->evidence.find("one CPU"), std::string::npos)
      << find(r, "task_struct", "thread_info.cpu")->evidence;
}

TEST(OffsetInference, HostileCpuSymbolsAreBounded) {
  for (std::uint64_t n : {0ull, 9000ull, 0xffffffffull}) {
    World w;
    add_cpus(w, {kInitTaskVa, w.tasks[2]}, false);
    w.put(kNrCpuIdsVa, 4, n);
    const InferenceReport r = w.run();
    EXPECT_FALSE(offset_of(r, "task_struct", "on_cpu")) << n;
    EXPECT_FALSE(offset_of(r, "task_struct", "thread_info.cpu")) << n;
  }
  World w;  // CPU 1's running task points nowhere
  add_cpus(w, {kInitTaskVa, w.tasks[2]}, false);
  w.put(kDirectVa + 0x1c8000 + kCurrentTaskOff, 8, 0xffff888fff000000);
  const InferenceReport r = w.run();
  EXPECT_FALSE(offset_of(r, "task_struct", "on_cpu"));
  EXPECT_TRUE(listed_missing(r, "task_struct", "on_cpu"));
}

// The printk ring inferred inside the whole inference, then used by read_kernel_log with no
// BTF: the same records as the simulator wrote.
TEST(OffsetInference, PrintkRingWithoutBtfReadsTheLog) {
  World w;
  constexpr std::uint64_t base = kTextVa + 0x160000, kPad = 8;
  // As the linker lays them out: each array's symbol span is its size.
  const std::uint64_t prb = base, log_buf = base + 8, log_buf_len = base + 16,
                      rb = base + 0x40, infos = base + 0x1000, descs = infos + 64 * (88 + kPad),
                      text = descs + 64 * 24;
  test::RingSim sim(6, 12, kPad);
  for (int i = 0; i < 150; ++i)
    sim.push(fmt::format("record {} with a text long enough to weigh{}", i, i % 2 ? "" : " more"),
             1000ull * static_cast<std::uint64_t>(i + 1), i % 8);
  for (const test::RingSim::Rec& x : sim.live) sim.infos[sim.slot(x.id) * sim.info_size() + kPad + 19] |= 2;
  w.put(prb, 8, rb);
  w.put(log_buf, 8, text);
  w.put(log_buf_len, 4, sim.data.size());
  w.mem.write(PhysAddr(w.pa(rb)), sim.header(descs, infos, text));
  w.mem.write(PhysAddr(w.pa(descs)), sim.descs);
  w.mem.write(PhysAddr(w.pa(infos)), sim.infos);
  w.mem.write(PhysAddr(w.pa(text)), sim.data);
  for (auto [n, va] : {std::pair{"prb", prb}, {"log_buf", log_buf}, {"log_buf_len", log_buf_len},
                       {"printk_rb_static", rb}, {"_printk_rb_static_descs", descs},
                       {"_printk_rb_static_infos", infos}, {"__log_buf", text},
                       {"after_log_buf", text + sim.data.size()}})
    w.syms.push_back({n, va, 'd', false});
  const InferenceReport r = w.run();
  EXPECT_EQ(offset_of(r, "printk_info", "ts_nsec"), kPad + 8);
  EXPECT_EQ(offset_of(r, "printk_ringbuffer", "text_data_ring.tail_lpos"), 72u);
  TypeInfo ti;
  add_inferred(r, ti);
  auto level = ti.member("printk_info", "level");
  ASSERT_TRUE(level);
  EXPECT_EQ(level->bit_offset, (kPad + 19) * 8 + 5);
  EXPECT_EQ(level->bit_size, 3u);
  EXPECT_EQ(ti.struct_size("printk_info").value_or(0), 88 + kPad);
  EXPECT_EQ(ti.size_source("printk_info"), "inference (data)");
  EXPECT_FALSE(ti.struct_size("printk_ringbuffer"));  // not inferred: the reader does without

  PageWalker walker(w.mem, 4, 0);
  AddressSpace as(w.mem, walker, w.img.top);
  auto log = read_kernel_log(as, SymbolTable(w.syms), &ti, std::nullopt);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_EQ(log->records.size(), sim.live.size());
  for (std::size_t i = 0; i < sim.live.size(); ++i) {
    EXPECT_EQ(log->records[i].text, sim.live[i].text);
    EXPECT_EQ(log->records[i].seq, sim.live[i].seq);
    EXPECT_EQ(log->records[i].level, (sim.live[i].seq) % 8);
    EXPECT_EQ(log->records[i].flags, 2);
  }
}

}  // namespace
}  // namespace tlpstub::kernel
