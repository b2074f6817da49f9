#include "kernel/linux/task_state.hpp"

#include <bit>

namespace tlpstub::kernel {

char task_state_letter(std::uint32_t state, std::uint32_t exit_state) {
  std::uint32_t s = (state | exit_state) & kTaskReport;
  if ((state & kTaskIdle) == kTaskIdle) s = kTaskReportIdle;
  if (state & (kTaskRtlockWait | kTaskFrozen)) s = 2;  // TASK_UNINTERRUPTIBLE
  static constexpr char kLetters[] = "RSDTtXZPI";
  const int index = 32 - std::countl_zero(s);  // fls()
  return kLetters[index];
}

}  // namespace tlpstub::kernel
