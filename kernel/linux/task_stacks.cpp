#include "kernel/linux/task_stacks.hpp"

#include <fmt/format.h>

#include "kernel/symbols/virtual_batch.hpp"

namespace tlpstub::kernel {

namespace {

// The part of one task's stack to read; len 0: none (`why` may say why).
TaskStack stack_range(const Task& t, std::uint64_t thread_size, bool scan_running,
                      std::uint64_t& len) {
  TaskStack st;
  len = 0;
  if (t.stack == 0 || t.stack % 4096 != 0 || (t.running_on && !scan_running)) return st;
  const std::uint64_t end = t.stack + thread_size;
  if (end < t.stack) return st;
  if (t.running_on) {
    st.base = t.stack;
  } else if (!t.has_saved_sp) {
    st.why = "no switch frame: thread.sp not read (kernel::read_saved_sps)";
    return st;
  } else if (t.saved_sp % 8 == 0 && t.saved_sp >= t.stack && t.saved_sp < end) {
    st.base = t.saved_sp;
  } else {
    st.why = fmt::format("no switch frame: thread.sp {:#x} is not on the task's stack [{:#x}, "
                         "{:#x})", t.saved_sp, t.stack, end);
    return st;
  }
  len = end - st.base;
  return st;
}

}  // namespace

std::vector<TaskStack> read_task_stacks(AddressSpace& as, std::span<const Task* const> tasks,
                                        std::uint64_t thread_size, bool scan_running) {
  std::vector<TaskStack> out;
  std::vector<VirtualRead> reads;
  std::vector<std::size_t> who;
  out.reserve(tasks.size());
  for (const Task* t : tasks) {
    std::uint64_t len = 0;
    out.push_back(stack_range(*t, thread_size, scan_running, len));
    if (len == 0) continue;
    reads.push_back({out.back().base, len});
    who.push_back(out.size() - 1);
  }
  auto got = read_virtual_batch(as.memory(), as.walker(), as.top(), reads);
  for (std::size_t k = 0; k < got.size(); ++k) out[who[k]].bytes = std::move(got[k]);
  return out;
}

}  // namespace tlpstub::kernel
