// The kernel stacks of many tasks, read for `monitor bt` in one go: the pages of every stack
// translated together (PageWalker::translate_many: at most `levels` batches), then every
// piece read in ONE batch (kernel/symbols/virtual_batch.hpp), instead of a switch-frame read
// and a whole-stack read per task, one task after the other.
//
// Only what the unwinder needs is read: for a sleeping task, its stack from thread.sp up (the
// switch frame is at thread.sp, and every frame the unwinder reads lies above it: ORC and
// frame-pointer steps only move up the stack; kernel/linux/unwind.hpp); for a task on a CPU
// (no saved frame: the stack is scanned), the whole stack. On a 6.12 guest with 5,000
// sleeping threads this reads ~1 KiB per task instead of 16 KiB (bench/tasks_bench: 4.9 MiB
// instead of 79.7 MiB, 6 round trips instead of 10,209).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kernel/address_space.hpp"
#include "kernel/linux/tasks.hpp"

namespace tlpstub::kernel {

struct TaskStack {
  std::uint64_t base = 0;                          // virtual address of bytes[0]
  std::optional<std::vector<std::uint8_t>> bytes;  // nullopt: unreadable, or nothing asked
  std::string why;                                 // set when nothing was asked, and why
};

// One per task, in order. `thread_size`: THREAD_SIZE. A task on a CPU is read only when
// `scan_running` (its whole stack, for kernel::scan_stack); a task with no stack (exited) or
// a misaligned one gets nothing (and no `why`: the caller knows the task's fields).
std::vector<TaskStack> read_task_stacks(AddressSpace& as, std::span<const Task* const> tasks,
                                        std::uint64_t thread_size, bool scan_running);

}  // namespace tlpstub::kernel
