// Every task of the kernel (processes, threads, and each CPU's idle task), read from memory in
// a few batches (design.md: batched, bounded, testable on fake memory).
//
// Main path, the pid IDR of init_pid_ns (kernel/pid.c alloc_pid(): every task but the idle
// tasks has a struct pid stored there under its global pid number; an xarray since 4.20,
// include/linux/xarray.h), one batch per level:
//   init_pid_ns.idr.idr_rt.xa_head      -> top xa_node (entry - 2; an internal entry is
//                                          (v << 2) | 2, a node pointer when > 4096)
//   xa_node.slots[XA_CHUNK_SIZE]        -> child nodes, level by level (shift drops by 6)
//   leaf slots                          -> struct pid (NULL while being allocated: skipped)
//   pid.tasks[PIDTYPE_PID].first        -> &task->pid_links[PIDTYPE_PID] (NULL: a pgrp/session
//                                          id whose task is gone: skipped)
//   task_struct                         -> the fields `ps` shows, read as a few spans
//                                          (kernel/linux/read_plan.hpp); thread.sp apart, on
//                                          request (read_saved_sps)
// Each step is checked against a second fact: node.shift/offset/parent against where it was
// found, pid.numbers[0].nr against the IDR index, task.pid against the pid number,
// pid_links.pprev against &pid.tasks[0], and tasks.next->prev == self for group leaders.
// Idle tasks (pid 0, not in the IDR) come from the per-CPU runqueues (rq->idle; rq->curr says
// which task runs where), at runqueues + __per_cpu_offset[cpu] for cpu < nr_cpu_ids.
//
// Fallback when the IDR cannot be used: init_task.tasks walked one link at a time (group
// leaders), each link validated (a kernel address, back link, no cycle, length cap); then
// every leader's signal->thread_head ring (task->thread_node; before 6.7 the headless
// task->thread_group ring) walked for all leaders in parallel, a round of batches per thread,
// back links checked.
//
// Target memory is untrusted: a live target changes under the walk (bounded retries), and a
// corrupted one gives a partial list plus warnings naming where it broke; never a hang.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/deadline.hpp"
#include "common/error.hpp"
#include "kernel/kernel_image.hpp"
#include "kernel/linux/kernel_reader.hpp"
#include "kernel/symbols/symbol_table.hpp"
#include "kernel/symbols/type_info.hpp"
#include "transport/physical_memory.hpp"

namespace tlpstub::kernel {

struct Task {
  std::uint64_t address = 0;   // the task_struct
  std::int32_t pid = 0, tgid = 0;
  std::int32_t ppid = -1;      // real_parent->tgid; -1 when the parent could not be read
  char state = '?';            // as ps prints it (kernel/linux/task_state.hpp)
  std::uint32_t raw_state = 0, exit_state = 0, flags = 0;
  std::string comm;            // non-printable bytes shown as '?'
  std::optional<std::uint32_t> cpu;  // the CPU it last ran on (thread_info.cpu or cpu)
  std::uint64_t mm = 0;        // 0: a kernel thread
  std::optional<std::uint64_t> pgd;  // physical address of mm->pgd; nullopt for kernel threads
  // thread.sp: the switch frame of a task that is not running. Not read by list_tasks (only
  // `bt` and the thread registers need it, 2 datagrams per task): read_saved_sps fills it.
  std::uint64_t saved_sp = 0;
  bool has_saved_sp = false;
  std::uint64_t stack = 0;     // task_struct.stack: the lowest address of its kernel stack
  bool idle = false;           // a CPU's idle task (pid 0, "swapper/N")
  std::optional<std::uint32_t> running_on;  // the CPU whose rq->curr this task is
  bool panicking = false;      // running on the CPU that panic_cpu names (the kernel panicked)

  bool leader() const { return pid == tgid; }
  bool kernel_thread() const { return mm == 0; }
};

struct TaskWalkStats {
  std::uint64_t batches = 0, ranges = 0, bytes = 0;
  int attempts = 0;
};

struct TaskList {
  std::vector<Task> tasks;  // idle tasks by CPU, then by pid
  std::vector<std::string> warnings;
  std::string method;       // "pid idr" or "tasks list"
  bool complete = true;     // false: a warning says what is missing
  // The CPU that called panic() (kernel/panic.c panic_cpu, PANIC_CPU_INVALID = -1 until then;
  // 4.5+); nullopt: no panic, or the variable is unknown.
  std::optional<std::uint32_t> panic_cpu;
  TaskWalkStats stats;
};

struct TaskLimits {
  std::size_t max_tasks = 1u << 18;  // PID_MAX_LIMIT is 2^22, real systems far fewer
  std::size_t max_nodes = 1u << 16;  // xa_nodes of the IDR (2^22 / 64)
  int attempts = 3;                  // whole walks tried while the target changes under it
  std::uint32_t max_cpus = 8192;     // NR_CPUS upper bound (x86 Kconfig)
};

struct TaskSource {
  const TypeInfo& types;
  const SymbolTable& symbols;
  KernelRegions regions;
};

// The regions of a discovered kernel: the direct map from page_offset_base over
// `max_phys` bytes (0: the 64 TiB a 4-level direct map can hold), the image from _text to _end
// (or _text + 1 GiB when _end is unknown).
KernelRegions kernel_regions(const KernelImage& img, const SymbolTable& syms,
                             std::uint64_t max_phys);

// Fails only when nothing can be walked (types or init_task missing); otherwise a list, maybe
// partial, with warnings.
Result<TaskList> list_tasks(PhysicalMemory& mem, const TaskSource& src,
                            const TaskLimits& limits = {}, Deadline deadline = kNoDeadline);

// Reads thread.sp of those tasks that lack it, in one batch. Returns how many could not be
// read (their has_saved_sp stays false).
std::size_t read_saved_sps(PhysicalMemory& mem, const TaskSource& src, std::span<Task* const> tasks,
                           Deadline deadline = kNoDeadline);

}  // namespace tlpstub::kernel
