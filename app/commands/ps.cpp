// monitor ps [PATTERN] [--threads]: the kernel's tasks (kernel/linux/tasks.hpp) as `ps` shows
// them: pid, ppid, state letter, CPU, comm, plus the task_struct address and the physical
// address of the process page table (`-` for kernel threads). Processes only by default (the
// thread-group leaders, as /proc lists them); --threads adds every thread and each CPU's idle
// task, with the tgid. PATTERN is a glob on comm, or a pid. After the state letter, `>` marks
// a task running on a CPU and `!` the one running on the CPU that panicked (panic_cpu).
#include <fmt/format.h>

#include "app/commands/commands.hpp"
#include "common/parse.hpp"
#include "kernel/symbols/symbol_table.hpp"

namespace tlpstub::app::commands {

namespace {

struct PsRow {
  std::vector<const kernel::Task*> tasks;
  bool threads = false;
  const kernel::TaskList* list = nullptr;
};

std::string opt_cpu(const std::optional<std::uint32_t>& c) {
  return c ? std::to_string(*c) : "-";
}

std::string to_text(const PsRow& r) {
  std::string s;
  auto out = std::back_inserter(s);
  if (r.threads)
    fmt::format_to(out, "{:>7} {:>7} {:>7} ST {:>3} {:<16} {:<18} {}\n", "PID", "TGID", "PPID",
                   "CPU", "COMM", "TASK", "PGD");
  else
    fmt::format_to(out, "{:>7} {:>7} ST {:>3} {:<16} {:<18} {}\n", "PID", "PPID", "CPU", "COMM",
                   "TASK", "PGD");
  for (const kernel::Task* t : r.tasks) {
    const std::string pgd = t->pgd ? fmt::format("{:#x}", *t->pgd) : "-";
    const std::string st = fmt::format("{}{}", t->state, t->panicking    ? "!"
                                                      : t->running_on ? ">"
                                                                      : " ");
    if (r.threads)
      fmt::format_to(out, "{:>7} {:>7} {:>7} {} {:>3} {:<16} {:#018x} {}\n", t->pid, t->tgid,
                     t->ppid, st, opt_cpu(t->cpu), t->comm, t->address, pgd);
    else
      fmt::format_to(out, "{:>7} {:>7} {} {:>3} {:<16} {:#018x} {}\n", t->pid, t->ppid, st,
                     opt_cpu(t->cpu), t->comm, t->address, pgd);
  }
  const kernel::TaskList& l = *r.list;
  fmt::format_to(out, "{} shown of {} tasks, read via {} in {} batches{}\n", r.tasks.size(),
                 l.tasks.size(), l.method, l.stats.batches,
                 l.complete ? "" : " (partial: see warnings)");
  if (l.panic_cpu) fmt::format_to(out, "the kernel panicked on CPU {}\n", *l.panic_cpu);
  for (const std::string& w : l.warnings) fmt::format_to(out, "warning: {}\n", w);
  return s;
}

void to_json(JsonWriter& j, const PsRow& r) {
  const kernel::TaskList& l = *r.list;
  j.begin_object().field("method", l.method).field("complete", l.complete)
      .field("batches", l.stats.batches).field("attempts", l.stats.attempts).key("panic_cpu");
  if (l.panic_cpu) j.value(*l.panic_cpu); else j.null();
  j.key("warnings").begin_array();
  for (const std::string& w : l.warnings) j.value(w);
  j.end_array().key("tasks").begin_array();
  for (const kernel::Task* t : r.tasks) {
    j.begin_object()
        .field("pid", t->pid)
        .field("tgid", t->tgid)
        .field("ppid", t->ppid)
        .field("state", std::string(1, t->state))
        .field("comm", t->comm)
        .hex_field("task", t->address)
        .hex_field("stack", t->stack)
        .key("cpu");
    if (t->cpu) j.value(*t->cpu); else j.null();
    j.hex_field("pgd", t->pgd).field("idle", t->idle).key("running_on");
    if (t->running_on) j.value(*t->running_on); else j.null();
    j.field("panicking", t->panicking).end_object();
  }
  j.end_array().end_object();
}

bool matches(const kernel::Task& t, std::string_view pattern) {
  if (auto n = parse_u64(pattern, 10)) return static_cast<std::uint64_t>(t.pid) == *n;
  return kernel::glob_match(pattern, t.comm);
}

}  // namespace

stub::MonitorCommand ps_command(SessionState& s) {
  stub::MonitorCommand c{
      "ps", "ps [PATTERN] [--threads]",
      "tasks: pid, ppid, state, CPU, comm, task address, page table (--threads: all threads "
      "and idle tasks)",
      [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) -> Result<void> {
        const auto& list = s.tasks(SessionState::TaskDetail::listing);
        if (!list) return std::unexpected(list.error());
        PsRow row;
        row.threads = a.has("--threads");
        row.list = &*list;
        for (const kernel::Task& t : list->tasks) {
          if (!row.threads && (t.idle || !t.leader())) continue;
          if (a.pattern && !matches(t, *a.pattern)) continue;
          row.tasks.push_back(&t);
        }
        emit(a, row, out);
        return {};
      },
      0, 1};
  c.takes_pattern = true;
  c.switches = {"--threads"};
  c.needs = kNeedsSymbols;
  // The task walk of thousands of tasks may not fit the reply budget (0.7 s for 5,061 on a
  // loaded machine, README): with no deadline the list is whole, however long it takes.
  c.long_running = true;
  return c;
}

}  // namespace tlpstub::app::commands
