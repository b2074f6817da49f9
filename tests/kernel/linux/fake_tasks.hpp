// A made-up kernel's task state in fake memory, built from its own layout (deliberately not
// Debian's offsets, so nothing in the walker can be tuned to one kernel): task_structs, the
// pid IDR of init_pid_ns as xa_nodes, the tasks ring of group leaders, per-CPU runqueues,
// mm_structs. Types come as TypeInfo entries (add_member), symbols as a SymbolTable.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kernel/linux/tasks.hpp"
#include "kernel/symbols/type_info.hpp"
#include "tests/support/fake_memory.hpp"

namespace tlpstub::test {

struct FakeTasks {
  static constexpr std::uint64_t kPob = 0xffff888000000000ull;  // page_offset_base
  static constexpr std::uint64_t kText = 0xffffffff81000000ull;
  static constexpr std::uint64_t kTextPa = 0x1000000;           // phys_base 0
  static constexpr std::uint64_t kTaskSize = 1024;
  // task_struct
  static constexpr std::uint64_t kCpu = 16, kState = 24, kFlags = 28, kTasks = 64, kMm = 80,
                                 kExit = 88, kPid = 96, kTgid = 100, kParent = 104,
                                 kPidLinks = 128, kComm = 200, kThreadSp = 512,
                                 kSignal = 184, kThreadNode = 256, kThreadHead = 16,
                                 kThreadGroup = 288;
  // struct pid / upid / pid_namespace / xa_node / mm_struct / rq
  static constexpr std::uint64_t kPidLevel = 4, kPidTasks = 16, kPidNumbers = 64;
  static constexpr std::uint64_t kNsHead = 8, kNsBase = 16;
  static constexpr std::uint64_t kXaShift = 0, kXaOffset = 1, kXaParent = 8, kXaSlots = 40;
  static constexpr std::uint64_t kPgd = 120, kRqCurr = 2048, kRqIdle = 2056;
  static constexpr std::uint64_t kRunqueues = 0x3000;  // per-CPU offset

  FakeMemory mem;
  kernel::TypeInfo types;
  std::vector<kernel::Symbol> syms;
  std::uint64_t next_pa = 0x100000;      // direct-map bump allocator
  std::uint64_t next_image = kText + 0x800000;
  std::uint64_t init_task = 0, init_pid_ns = 0, nr_cpu_ids = 0, per_cpu_offset = 0;
  std::map<std::int32_t, std::uint64_t> task_of;  // pid -> task (not idle)
  std::vector<std::uint64_t> idle, curr;

  // thread_group: types of a kernel before 6.7 (task_struct.thread_group, no thread_node).
  explicit FakeTasks(unsigned cpus = 2, bool thread_group = false) {
    mem.back(PhysAddr(kTextPa), 16 << 20);
    add_types(thread_group);
    init_task = image_alloc(kTaskSize);
    init_pid_ns = image_alloc(64);
    nr_cpu_ids = image_alloc(8);
    per_cpu_offset = image_alloc(8 * cpus);
    syms = {{"_text", kText, 'T'}, {"_end", kText + (16 << 20), 'B'},
            {"init_task", init_task, 'D'}, {"init_pid_ns", init_pid_ns, 'D'},
            {"nr_cpu_ids", nr_cpu_ids, 'D'}, {"__per_cpu_offset", per_cpu_offset, 'D'},
            {"runqueues", kRunqueues, 'V', true}};
    w32(nr_cpu_ids, cpus);
    write_task(init_task, 0, 0, init_task, "swapper/0", 0, 0, 0x00200000);
    w64(init_task + kTasks, init_task + kTasks);  // an empty ring
    w64(init_task + kTasks + 8, init_task + kTasks);
    for (unsigned c = 0; c < cpus; ++c) {
      const std::uint64_t area = alloc(0x4000);
      w64(per_cpu_offset + 8 * c, area - kRunqueues + 0);  // runqueues + offset = area
      const std::uint64_t t = c == 0 ? init_task : alloc(kTaskSize);
      if (c) write_task(t, 0, 0, init_task, "swapper/" + std::to_string(c), 0, 0, 0x00200000, c);
      w64(area + kRqIdle, t);
      w64(area + kRqCurr, t);
      idle.push_back(t);
      curr.push_back(t);
    }
  }

  void add_types(bool thread_group) {
    auto m = [&](const char* s, const char* p, std::uint64_t off, std::uint64_t size) {
      kernel::FieldInfo f;
      f.offset = off;
      f.size = size;
      f.bit_offset = off * 8;
      f.source = "profile";
      types.add_member(s, p, f);
    };
    m("task_struct", "thread_info.cpu", kCpu, 4);
    m("task_struct", "__state", kState, 4);
    m("task_struct", "flags", kFlags, 4);
    m("task_struct", "tasks", kTasks, 16);
    m("task_struct", "mm", kMm, 8);
    m("task_struct", "exit_state", kExit, 4);
    m("task_struct", "pid", kPid, 4);
    m("task_struct", "tgid", kTgid, 4);
    m("task_struct", "real_parent", kParent, 8);
    m("task_struct", "pid_links", kPidLinks, 48);
    m("task_struct", "comm", kComm, 16);
    m("task_struct", "thread.sp", kThreadSp, 8);
    m("task_struct", "signal", kSignal, 8);
    if (thread_group) {
      m("task_struct", "thread_group", kThreadGroup, 16);
    } else {
      m("task_struct", "thread_node", kThreadNode, 16);
      m("signal_struct", "thread_head", kThreadHead, 16);
    }
    m("list_head", "next", 0, 8);
    m("list_head", "prev", 8, 8);
    m("hlist_node", "pprev", 8, 8);
    m("pid", "level", kPidLevel, 4);
    m("pid", "tasks", kPidTasks, 32);
    m("pid", "numbers", kPidNumbers, 0);
    m("upid", "nr", 0, 4);
    m("pid_namespace", "idr.idr_rt.xa_head", kNsHead, 8);
    m("pid_namespace", "idr.idr_base", kNsBase, 4);
    m("xa_node", "shift", kXaShift, 1);
    m("xa_node", "offset", kXaOffset, 1);
    m("xa_node", "count", 2, 1);
    m("xa_node", "parent", kXaParent, 8);
    m("xa_node", "slots", kXaSlots, 512);
    m("mm_struct", "pgd", kPgd, 8);
    m("rq", "curr", kRqCurr, 8);
    m("rq", "idle", kRqIdle, 8);
    const char* regs[] = {"r15", "r14", "r13", "r12", "bx", "bp", "ret_addr"};
    for (int i = 0; i < 7; ++i) m("inactive_task_frame", regs[i], 8 * i, 8);
  }

  std::uint64_t pa(std::uint64_t va) const {
    return va >= kText ? va - kernel::kStartKernelMap : va - kPob;
  }
  void w64(std::uint64_t va, std::uint64_t v) { mem.write_u64(PhysAddr(pa(va)), v); }
  void w32(std::uint64_t va, std::uint32_t v) {
    std::uint8_t b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<std::uint8_t>(v >> (8 * i));
    mem.write(PhysAddr(pa(va)), b);
  }
  void w8(std::uint64_t va, std::uint8_t v) { mem.write(PhysAddr(pa(va)), std::span(&v, 1)); }
  std::uint64_t alloc(std::uint64_t n) {
    const std::uint64_t p = next_pa;
    next_pa += (n + 63) & ~63ull;
    mem.back(PhysAddr(p), n);
    return kPob + p;
  }
  // signal_structs from an area of their own, so task addresses stay where tests expect them.
  std::uint64_t next_signal_pa = 0x2400000;
  std::uint64_t alloc_signal() {
    mem.back(PhysAddr(next_signal_pa), 64);
    next_signal_pa += 64;
    return kPob + next_signal_pa - 64;
  }
  std::uint64_t image_alloc(std::uint64_t n) {
    const std::uint64_t v = next_image;
    next_image += (n + 63) & ~63ull;
    return v;
  }

  void write_task(std::uint64_t t, std::int32_t pid, std::int32_t tgid, std::uint64_t parent,
                  const std::string& comm, std::uint32_t state, std::uint64_t mm,
                  std::uint32_t flags = 0, std::uint32_t cpu = 0, std::uint32_t exit = 0) {
    w32(t + kPid, static_cast<std::uint32_t>(pid));
    w32(t + kTgid, static_cast<std::uint32_t>(tgid));
    w64(t + kParent, parent);
    std::vector<std::uint8_t> c(16, 0);
    std::copy(comm.begin(), comm.end(), c.begin());
    mem.write(PhysAddr(pa(t + kComm)), c);
    w32(t + kState, state);
    w32(t + kExit, exit);
    w32(t + kFlags, flags);
    w32(t + kCpu, cpu);
    w64(t + kMm, mm);
    w64(t + kThreadSp, t + 0x100);  // a made-up stack pointer
  }

  // A user process (mm) or kernel thread (mm 0); leaders join the tasks ring.
  std::uint64_t add(std::int32_t pid, std::int32_t tgid, std::int32_t ppid,
                    const std::string& comm, std::uint32_t state = 1, bool user = true,
                    std::uint32_t exit = 0) {
    const std::uint64_t t = alloc(kTaskSize);
    std::uint64_t mm = 0;
    if (user && pid != tgid) mm = read_mm(task_of.at(tgid));
    else if (user) {
      mm = alloc(256);
      next_pa = (next_pa + 4095) & ~4095ull;  // pgd_alloc() gives a whole page
      w64(mm + kPgd, alloc(4096));
    }
    const std::uint64_t parent = ppid == 0 ? init_task : task_of.at(ppid);
    write_task(t, pid, tgid, parent, comm, state, mm, user ? 0 : 0x00200000, 1, exit);
    task_of[pid] = t;
    // signal->thread_head: a ring of every thread's thread_node (list_add_tail).
    const std::uint64_t sig = pid == tgid ? alloc_signal()
                                          : mem.peek_u64(PhysAddr(pa(task_of.at(tgid) + kSignal)));
    w64(t + kSignal, sig);
    const std::uint64_t th = sig + kThreadHead, node = t + kThreadNode;
    if (pid == tgid) {
      w64(th, th);
      w64(th + 8, th);
    }
    const std::uint64_t tail = mem.peek_u64(PhysAddr(pa(th + 8)));
    w64(node, th);
    w64(node + 8, tail);
    w64(tail, node);
    w64(th + 8, node);
    // Before 6.7: the threads' own ring through task->thread_group, no head (both kept).
    const std::uint64_t grp = t + kThreadGroup;
    if (pid == tgid) {
      w64(grp, grp);
      w64(grp + 8, grp);
    } else {
      const std::uint64_t lead = task_of.at(tgid) + kThreadGroup;
      const std::uint64_t last = mem.peek_u64(PhysAddr(pa(lead + 8)));
      w64(grp, lead);
      w64(grp + 8, last);
      w64(last, grp);
      w64(lead + 8, grp);
    }
    if (pid == tgid) {  // insert before init_task in the ring (list_add_tail)
      const std::uint64_t head = init_task + kTasks;
      const std::uint64_t last = mem.peek_u64(PhysAddr(pa(head + 8)));
      w64(t + kTasks, head);
      w64(t + kTasks + 8, last);
      w64(last, t + kTasks);
      w64(head + 8, t + kTasks);
    }
    return t;
  }
  std::uint64_t read_mm(std::uint64_t t) const { return mem.peek_u64(PhysAddr(pa(t + kMm))); }

  // struct pid for every task added, and a two-level IDR (top shift 6) holding them; `extra`
  // pids with no task (a process group left behind) too. Returns the leaf nodes by index.
  std::map<std::uint64_t, std::uint64_t> leaves;
  std::uint64_t top = 0;
  std::map<std::int32_t, std::uint64_t> pid_of;
  void build_idr(const std::vector<std::int32_t>& extra = {}) {
    next_pa = (next_pa + 4095) & ~4095ull;
    top = alloc(kXaSlots + 512);
    w8(top + kXaShift, 6);
    w64(init_pid_ns + kNsHead, top + 2);
    auto put = [&](std::int32_t nr, std::uint64_t task) {
      const std::uint64_t p = alloc(128);
      w32(p + kPidLevel, 0);
      w32(p + kPidNumbers, static_cast<std::uint32_t>(nr));
      if (task) {
        w64(p + kPidTasks, task + kPidLinks);
        w64(task + kPidLinks + 8, p + kPidTasks);
      }
      pid_of[nr] = p;
      const std::uint64_t hi = static_cast<std::uint64_t>(nr) >> 6;
      if (!leaves.contains(hi)) {
        const std::uint64_t leaf = alloc(kXaSlots + 512);
        w8(leaf + kXaShift, 0);
        w8(leaf + kXaOffset, static_cast<std::uint8_t>(hi));
        w64(leaf + kXaParent, top);
        w64(top + kXaSlots + 8 * hi, leaf + 2);
        leaves[hi] = leaf;
      }
      w64(leaves[hi] + kXaSlots + 8 * (nr & 63), p);
    };
    for (auto [nr, t] : task_of) put(nr, t);
    for (std::int32_t nr : extra) put(nr, 0);
  }

  kernel::KernelRegions regions() const {
    return {kPob, 64ull << 20, kText, kText + (16 << 20), 0};
  }
  kernel::SymbolTable table() const { return kernel::SymbolTable(syms); }
  void drop_symbol(std::string_view name) {
    std::erase_if(syms, [&](const kernel::Symbol& s) { return s.name == name; });
  }
};

}  // namespace tlpstub::test
