// Tasks as gdb threads (design.md, "What gdb sees"): one thread per task of this request's
// task list (SessionState::tasks()), named by comm, with "comm [pid]" as extra info.
//
// Thread ids: RSP ids must be positive and 0 means "any thread", so a task's id is its pid
// and the idle task of CPU n (pid 0, "swapper/n") gets kIdleThreadBase + n, above any pid
// (PID_MAX_LIMIT is 2^22). The list is in pid order with the idle tasks last, so the thread
// gdb selects on attach is pid 1.
//
// Registers: a sleeping task's come from its switch frame (kernel/linux/switch_frame.hpp) at
// its thread.sp (read for the whole list at the first register read, not by the walk):
// rip, rsp, rbp, rbx, r12-r15, everything else unavailable. A task running on a CPU (rq->curr,
// and the one that panicked) has no saved state in memory that is current (its thread.sp is
// from its last switch and its live registers are in the CPU): it reports rip and rsp of the
// innermost frame that `monitor bt`'s stack scan finds (kernel::scan_stack: the lowest word
// of its stack that starts a clean ORC walk to the stack's end; rsp just above that return
// address), so gdb's `bt` with a vmlinux starts where `monitor bt` does. Where the scan finds
// nothing (no ORC), only the placeholder rip = _text (gdb 13 refuses a thread without a PC)
// and cr3, as for the kernel pseudo-thread. README says so.
// When tasks cannot be listed (no symbols or types yet), the kernel pseudo-thread stands in.
#pragma once

#include <cstdint>
#include <vector>

#include "app/session_state.hpp"
#include "stub/target.hpp"

namespace tlpstub::app {

inline constexpr std::int64_t kIdleThreadBase = std::int64_t{1} << 30;

std::int64_t thread_id(const kernel::Task& t);
// The ThreadLister SessionState uses by default.
std::vector<stub::ThreadInfo> task_threads(SessionState& s);
// The registers of the task with this thread id; nullopt when no task has it.
std::optional<stub::RegisterSet> task_registers(SessionState& s, std::int64_t thread_id);
// The pseudo-thread's registers: rip = _text placeholder, cr3 of the kernel space.
stub::RegisterSet placeholder_registers(SessionState& s);

}  // namespace tlpstub::app
