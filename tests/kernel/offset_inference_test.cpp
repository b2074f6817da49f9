// Offset inference on a hand-built world: an image with init_task, init_signals, init_mm,
// init_stack and init_top_pgt, and tasks in a direct map, at offsets chosen here (not Linux's),
// so the inference must find them rather than know them. Hostile variants must give "missing",
// never a wrong offset.
#include <gtest/gtest.h>

#include <cstring>

#include "kernel/symbols/offset_inference.hpp"
#include "kernel/symbols/wanted_offsets.hpp"
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
  auto missing = ti.member("task_struct", "on_cpu");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("no inference method"), std::string::npos);
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

}  // namespace
}  // namespace tlpstub::kernel
