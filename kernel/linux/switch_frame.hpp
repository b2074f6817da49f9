// The registers a sleeping task saved at its last context switch.
//
// __switch_to_asm (arch/x86/entry/entry_64.S) pushes rbp, rbx, r12-r15 on the outgoing task's
// stack, above the return address its caller (__schedule, via context_switch/switch_to)
// pushed, and stores rsp in task->thread.sp. That stack top is struct inactive_task_frame
// (arch/x86/include/asm/switch_to.h; 4.9+): {r15, r14, r13, r12, bx, bp, ret_addr} in 6.x,
// layout read from BTF (a 2019 stable change briefly added a flags word, so never assume).
// When the task runs again, execution continues at ret_addr with rsp just above it:
//   rip = ret_addr, rsp = thread.sp + offsetof(ret_addr) + 8.
// Every other register is unknown. Stacks are vmalloc'd (VMAP_STACK): read through a page
// walk, not the direct map.
#pragma once

#include <cstdint>
#include <span>

#include "common/error.hpp"
#include "kernel/address_space.hpp"
#include "kernel/linux/task_layout.hpp"

namespace tlpstub::kernel {

struct SwitchFrame {
  std::uint64_t r15 = 0, r14 = 0, r13 = 0, r12 = 0, rbx = 0, rbp = 0, rip = 0, rsp = 0;
};

// `text` is the kernel image range [start, end): ret_addr must lie in it, or the frame is not
// one (a task that is running, or memory that changed).
Result<SwitchFrame> read_switch_frame(AddressSpace& as, const TaskLayout& l,
                                      std::uint64_t saved_sp, std::uint64_t text_start,
                                      std::uint64_t text_end);

// The same from bytes already read at saved_sp (`monitor bt all` reads each sleeping task's
// stack from thread.sp up in one batch: the frame is its first bytes).
Result<SwitchFrame> decode_switch_frame(const TaskLayout& l, std::uint64_t saved_sp,
                                        std::span<const std::uint8_t> bytes,
                                        std::uint64_t text_start, std::uint64_t text_end);

}  // namespace tlpstub::kernel
