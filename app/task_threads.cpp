#include "app/task_threads.hpp"

#include <fmt/format.h>

#include "app/commands/commands.hpp"
#include "kernel/address_space.hpp"
#include "kernel/linux/switch_frame.hpp"
#include "kernel/linux/task_layout.hpp"

namespace tlpstub::app {

std::int64_t thread_id(const kernel::Task& t) {
  if (t.idle) return kIdleThreadBase + t.cpu.value_or(0);
  return t.pid;
}

std::vector<stub::ThreadInfo> task_threads(SessionState& s) {
  const auto& tasks = s.thread_tasks();
  if (!tasks || tasks->tasks.empty())
    return {{1, "kernel", s.phys_mode() ? "physical memory" : "kernel address space"}};
  std::vector<stub::ThreadInfo> out, idle;
  for (const kernel::Task& t : tasks->tasks)
    (t.idle ? idle : out).push_back({thread_id(t), t.comm, fmt::format("{} [{}]", t.comm, t.pid)});
  out.insert(out.end(), idle.begin(), idle.end());
  return out;
}

stub::RegisterSet placeholder_registers(SessionState& s) {
  stub::RegisterSet regs;
  const auto& sc = s.snapshot().space;
  regs.set(stub::Reg::rip, sc && sc->image_va ? sc->image_va : 0);
  if (sc) regs.set(stub::Reg::cr3, sc->raw_cr3);
  return regs;
}

std::optional<stub::RegisterSet> task_registers(SessionState& s, std::int64_t id) {
  const auto& tasks = s.thread_tasks();
  if (!tasks) return std::nullopt;
  const kernel::Task* task = nullptr;
  for (const kernel::Task& t : tasks->tasks)
    if (thread_id(t) == id) task = &t;
  if (!task) return std::nullopt;
  stub::RegisterSet regs = placeholder_registers(s);
  if (task->pgd) regs.set(stub::Reg::cr3, *task->pgd);
  const auto& sc = s.snapshot().space;
  const auto& img = s.snapshot().discovery.image;
  const TypesStatus ty = s.context().types();
  using stub::Reg;
  if (task->running_on) {
    // Its registers are in the CPU: the innermost frame that `monitor bt`'s stack scan finds
    // stands in (rip there, rsp just above its return address); everything else unavailable.
    if (auto f = commands::scanned_start(s, *task)) {
      regs.set(Reg::rip, f->ip);
      regs.set(Reg::rsp, f->sp);
    }
    return regs;
  }
  if (!sc || !img || !ty.types) return regs;
  auto layout = kernel::task_layout(*ty.types);
  if (!layout) return regs;
  // The walk leaves thread.sp out; the first register read reads it for every task of the
  // (shared) list in one batch: gdb's `info threads` asks each thread's registers in turn.
  if (!task->has_saved_sp) s.thread_tasks(SessionState::TaskDetail::frames);
  if (!task->has_saved_sp) return regs;  // the placeholder
  kernel::AddressSpace as(s.memory(), s.walker_for(*sc), sc->top);
  static const kernel::SymbolTable kNone;
  const kernel::SymbolTable& table = s.symbols().symbols ? s.symbols().symbols->table : kNone;
  const kernel::KernelRegions r = kernel::kernel_regions(*img, table, 0);
  auto fr = kernel::read_switch_frame(as, *layout, task->saved_sp, r.image_start, r.image_end);
  if (!fr) return regs;  // the placeholder
  regs.set(Reg::rip, fr->rip);
  regs.set(Reg::rsp, fr->rsp);
  regs.set(Reg::rbp, fr->rbp);
  regs.set(Reg::rbx, fr->rbx);
  regs.set(Reg::r12, fr->r12);
  regs.set(Reg::r13, fr->r13);
  regs.set(Reg::r14, fr->r14);
  regs.set(Reg::r15, fr->r15);
  return regs;
}

}  // namespace tlpstub::app
