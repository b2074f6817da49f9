// The state letter `ps` prints for a task, computed as the kernel itself computes it for
// /proc/PID/stat (include/linux/sched.h __task_state_index() and fs/proc/array.c
// task_state_array, same in 6.1 and 6.12):
//
//   state = (__state | exit_state) & TASK_REPORT          TASK_REPORT = 0x7f
//   (__state & TASK_IDLE) == TASK_IDLE  -> TASK_REPORT_IDLE (0x80)   TASK_IDLE = 0x402
//   __state & (TASK_RTLOCK_WAIT 0x1000 | TASK_FROZEN 0x8000) -> TASK_UNINTERRUPTIBLE
//   index = fls(state) into "RSDTtXZPI"
//
// Before 5.14 the field was `long state` with the same low bits (commit 2f064a59a11f); the
// caller passes its low 32 bits.
#pragma once

#include <cstdint>

namespace tlpstub::kernel {

inline constexpr std::uint32_t kTaskReport = 0x7f;
inline constexpr std::uint32_t kTaskIdle = 0x402;          // UNINTERRUPTIBLE | NOLOAD
inline constexpr std::uint32_t kTaskReportIdle = 0x80;
inline constexpr std::uint32_t kTaskRtlockWait = 0x1000;
inline constexpr std::uint32_t kTaskFrozen = 0x8000;
inline constexpr std::uint32_t kPfKthread = 0x00200000;    // task_struct.flags PF_KTHREAD

// One of R S D T t X Z P I.
char task_state_letter(std::uint32_t state, std::uint32_t exit_state);

}  // namespace tlpstub::kernel
