// monitor task PID|kernel: this session's address space becomes the page table of process PID
// (its mm->pgd, from this request's task list), so `x` reads that process's user memory (the
// kernel half of a PTI pair maps user addresses too); `kernel` goes back to the kernel's. The
// switch is the session's address-space override, as with `monitor cr3 VALUE`.
#include <fmt/format.h>

#include "app/commands/commands.hpp"
#include "common/parse.hpp"

namespace tlpstub::app::commands {

namespace {

struct TaskRow {
  std::optional<kernel::Task> task;  // nullopt: back to the kernel
  std::optional<SpaceConfig> space;
};

std::string to_text(const TaskRow& r) {
  if (!r.task)
    return r.space ? fmt::format("kernel address space (top-level table {:#x})\n",
                                 r.space->top.value)
                   : "kernel address space\n";
  return fmt::format("task {} ({}): page table {:#x}; 'monitor task kernel' goes back\n",
                     r.task->pid, r.task->comm, r.space->top.value);
}

void to_json(JsonWriter& j, const TaskRow& r) {
  j.begin_object().key("pid");
  if (r.task) j.value(r.task->pid); else j.null();
  j.key("comm");
  if (r.task) j.value(r.task->comm); else j.null();
  j.hex_field("task", r.task ? std::optional(r.task->address) : std::nullopt)
      .hex_field("table", r.space ? std::optional(r.space->top.value) : std::nullopt)
      .end_object();
}

}  // namespace

stub::MonitorCommand task_command(SessionState& s) {
  stub::MonitorCommand c{
      "task", "task PID|kernel",
      "read process PID's user memory (its page table); 'kernel' goes back",
      [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) -> Result<void> {
        TaskRow row;
        if (a.words[0] == "kernel") {
          s.set_space_override(std::nullopt);
          s.selected_task.reset();
          row.space = s.snapshot().space;
          emit(a, row, out);
          return {};
        }
        auto pid = parse_u64(a.words[0], 10);
        if (!pid || *pid > 0x7fffffff)
          return fail(Errc::invalid_argument,
                      fmt::format("task: '{}' is neither a pid nor 'kernel'", a.words[0]));
        const auto& list = s.tasks(SessionState::TaskDetail::listing);
        if (!list) return std::unexpected(list.error());
        const kernel::Task* t = nullptr;
        for (const kernel::Task& x : list->tasks)
          if (!x.idle && static_cast<std::uint64_t>(x.pid) == *pid) t = &x;
        if (!t) return fail(Errc::not_found, fmt::format("task: no task with pid {}", *pid));
        if (!t->pgd)
          return fail(Errc::not_found,
                      fmt::format("task: pid {} ({}) is a kernel thread: no user address space",
                                  t->pid, t->comm));
        SpaceConfig sc = s.snapshot().space.value_or(SpaceConfig{});
        sc.raw_cr3 = *t->pgd;
        sc.top = kernel::cr3_table(*t->pgd, sc.sme_mask);
        sc.source = fmt::format("monitor task {} ({})", t->pid, t->comm);
        row.task = *t;  // copied: the override drops this request's task list
        row.space = sc;
        s.set_space_override(sc);
        s.selected_task = row.task->pid;
        emit(a, row, out);
        return {};
      },
      1, 1};
  c.needs = kNeedsSymbols;
  return c;
}

}  // namespace tlpstub::app::commands
