// monitor bt [PID|all] [--json]: kernel stack traces of sleeping tasks with no vmlinux,
// unwound with the kernel's own ORC tables read from memory (kernel/linux/orc.hpp,
// unwind.hpp) and named with kallsyms; frame pointers where ORC has no entry. A task on a CPU
// has no saved frame (its thread.sp is stale; its registers are in the CPU): its stack is
// scanned for the lowest word that starts a clean ORC walk to the stack's end
// (kernel::scan_stack), the trace marked as scanned; the task that panicked (panic_cpu's) is
// named as such. Without ORC a running task gets no frames: none is made up.
// Without PID: the task `monitor task` selected. Frames in the scheduler's own text
// (__sched_text_start..__sched_text_end: __schedule, schedule, schedule_timeout, ...) and
// the locks' (__lock_text_*) are flagged "sched": /proc/PID/stack leaves them out
// (kernel/stacktrace.c stack_trace_consume_entry_nosched, in_sched_functions).
#include <fmt/format.h>

#include <bit>

#include "app/commands/commands.hpp"
#include "common/parse.hpp"
#include "kernel/address_space.hpp"
#include "kernel/linux/switch_frame.hpp"
#include "kernel/linux/task_layout.hpp"
#include "kernel/linux/unwind.hpp"
#include "kernel/linux/task_stacks.hpp"

namespace tlpstub::app::commands {

namespace {

constexpr std::uint64_t kBtDefaultThreadSize = 16 << 10;  // x86-64 without KASAN (4.x-6.x)
// Tasks whose stacks are read in one batch: ~0.3 MiB of stack reads, a few tens of ms.
constexpr std::size_t kBtChunk = 256;

struct BtFrame {
  kernel::StackFrame f;
  std::string function;  // empty: no symbol
  std::uint64_t offset = 0;
  bool sched = false;
};

struct BtTask {
  const kernel::Task* task = nullptr;
  std::vector<BtFrame> frames;
  bool complete = false;
  std::string end;  // why the trace ended, or why there is none
  bool frame_pointers = false;
};

struct BtRow {
  std::string orc;  // "N entries (format from BTF)" or why none
  std::vector<std::string> warnings;
};

std::optional<std::uint64_t> bt_symbol(const kernel::SymbolTable& t, std::string_view name) {
  for (const kernel::Symbol* s : t.find(name))
    if (!s->percpu) return s->address;
  return std::nullopt;
}

// THREAD_SIZE from the init task's stack (include/asm-generic/vmlinux.lds.h INIT_TASK_DATA:
// __start_init_task .. __end_init_task is THREAD_SIZE), else 16 KiB.
std::uint64_t bt_thread_size(const kernel::SymbolTable& t) {
  auto end = bt_symbol(t, "__end_init_task");
  auto start = bt_symbol(t, "__start_init_task");
  if (!start) start = bt_symbol(t, "init_stack");
  if (start && end && *end > *start) {
    const std::uint64_t n = *end - *start;
    if (std::has_single_bit(n) && n >= (8 << 10) && n <= (64 << 10)) return n;
  }
  return kBtDefaultThreadSize;
}

std::string bt_orc_key(const kernel::KernelImage& img) {
  return fmt::format("{}|{:#x}|{:#x}", img.release, img.text_va, img.phys_base);
}

// The ORC tables of this kernel, from the context's cache or read now (a few MB, one batch).
TargetContext::OrcResult bt_orc(SessionState& s, const kernel::KernelImage& img,
                                const kernel::SymbolTable& syms, const kernel::TypeInfo* types) {
  const std::string key = bt_orc_key(img);
  if (auto cached = s.context().orc_table(key)) return cached;
  auto format = kernel::orc_format(types, img.release);
  Result<kernel::OrcTable> t = std::unexpected(Error{});
  if (!format) {
    t = std::unexpected(format.error());
  } else {
    kernel::KernelReader rd(s.memory(), kernel::kernel_regions(img, syms, 0), s.deadline());
    t = kernel::read_orc_table(rd, syms, *format);
    // Two sources for one layout: the types' bitfields (BTF, or a profile) and the release's
    // history should agree.
    auto by_release = kernel::orc_format(nullptr, img.release);
    if (t && by_release && format->source != by_release->source &&
        (format->type_shift != by_release->type_shift ||
         format->type_bits != by_release->type_bits ||
         format->signal_bit != by_release->signal_bit || format->end_bit != by_release->end_bit))
      t->warnings.push_back(fmt::format("ORC: struct orc_entry from {} differs from what {} had",
                                        format->source, by_release->source));
  }
  auto r = std::make_shared<const Result<kernel::OrcTable>>(std::move(t));
  // A deadline or transport failure may pass: keep only what is a property of the kernel.
  if (*r || r->error().code == Errc::not_found || r->error().code == Errc::malformed ||
      r->error().code == Errc::unsupported)
    s.context().set_orc_table(key, r);
  return r;
}

struct BtContext {
  kernel::AddressSpace& as;
  const kernel::TaskLayout& layout;
  const kernel::SymbolTable& syms;
  const kernel::OrcTable* orc;
  kernel::KernelRegions regions;
  std::uint64_t thread_size = kBtDefaultThreadSize;
};

BtTask bt_trace(const BtContext& c, const kernel::Task& t, const kernel::TaskStack& st) {
  BtTask r;
  r.task = &t;
  if (t.stack == 0) {  // freed at exit (put_task_stack(), THREAD_INFO_IN_TASK kernels)
    r.end = "no kernel stack (the task has exited)";
    return r;
  }
  if (t.stack % 4096 != 0) {
    r.end = fmt::format("task_struct.stack {:#x} is not a stack", t.stack);
    return r;
  }
  const std::string on_cpu =
      t.running_on ? fmt::format("{} on CPU {}", t.panicking ? "panicked" : "running",
                                 *t.running_on)
                   : std::string();
  if (t.running_on && !c.orc) {
    r.end = on_cpu + ": no saved frame, and no ORC to scan the stack with";
    return r;
  }
  if (!st.bytes) {
    r.end = !st.why.empty() ? st.why
                            : fmt::format("stack [{:#x}, {:#x}) unreadable", st.base,
                                          t.stack + c.thread_size);
    return r;
  }
  const std::vector<std::uint8_t>& buf = *st.bytes;
  std::optional<kernel::SwitchFrame> frame;
  if (!t.running_on) {
    auto fr = kernel::decode_switch_frame(c.layout, t.saved_sp, buf, c.regions.image_start,
                                          c.regions.image_end);
    if (!fr) {
      r.end = "no switch frame: " + fr.error().message;
      return r;
    }
    frame = *fr;
  }
  kernel::StackTrace tr;
  bool start_exact = false;  // the first ip is where the task resumes, not a return address
  if (frame) {
    kernel::UnwindStart start{frame->rip, frame->rsp, frame->rbp, false};
    // A task that never ran resumes in ret_from_fork (ret_from_fork_asm 6.6+): not a return
    // address (unwind_orc.c __unwind_start).
    for (const char* name : {"ret_from_fork", "ret_from_fork_asm"})
      if (bt_symbol(c.syms, name) == frame->rip) start.signal = start_exact = true;
    tr = kernel::unwind_stack({st.base, buf}, c.orc, start, c.regions.image_start,
                              c.regions.image_end);
  } else {
    // A function's address kept on the stack (a pointer, not a return address) has its
    // ip - 1 in the padding before it (__pfx_NAME, 6.2+ with CALL_PADDING): no call there.
    auto not_padding = [&](std::uint64_t ip) {
      auto at = c.syms.nearest(ip - 1);
      return !at || !at->symbol->name.starts_with("__pfx_");
    };
    tr = kernel::scan_stack({st.base, buf}, *c.orc, c.regions.image_start, c.regions.image_end,
                            {}, not_padding);
    tr.end = fmt::format("{}: stack scanned, the innermost frames may be stale; {}", on_cpu,
                         tr.end);
  }
  auto in = [&](std::uint64_t ip, const char* from, const char* to) {
    auto a = bt_symbol(c.syms, from), b = bt_symbol(c.syms, to);
    return a && b && ip >= *a && ip < *b;
  };
  for (const kernel::StackFrame& f : tr.frames) {
    BtFrame b{f, {}, 0,
              in(f.ip, "__sched_text_start", "__sched_text_end") ||
                  in(f.ip, "__lock_text_start", "__lock_text_end")};
    // A return address may lie just past its function (a call to a noreturn function such
    // as panic() ends it): named by ip - 1, as the kernel's %pB does (lib/vsprintf.c).
    const bool ret = f.method != kernel::FrameMethod::regs &&
                     !(f.method == kernel::FrameMethod::start && start_exact);
    if (auto at = c.syms.nearest(ret ? f.ip - 1 : f.ip)) {
      b.function = at->symbol->name;
      b.offset = at->offset + (ret ? 1 : 0);
    }
    r.frames.push_back(std::move(b));
  }
  r.complete = tr.complete;
  r.end = tr.end;
  r.frame_pointers = tr.used_frame_pointers;
  return r;
}

std::string bt_symbolic(const BtFrame& f) {
  return f.function.empty() ? std::string("?") : fmt::format("{}+{:#x}", f.function, f.offset);
}

// Text and JSON come out a task at a time (`bt all` streams: its output may take longer than
// gdb's remotetimeout to produce); the pieces of one --json run form one document.
std::string task_text(const BtTask& t) {
  std::string s;
  auto out = std::back_inserter(s);
  fmt::format_to(out, "pid {} ({}) {}\n", t.task->pid, t.task->comm, t.task->state);
  for (std::size_t i = 0; i < t.frames.size(); ++i) {
    const BtFrame& f = t.frames[i];
    fmt::format_to(out, "  #{:<2} {:#018x} {}{}\n", i, f.f.ip, bt_symbolic(f),
                   f.f.method == kernel::FrameMethod::frame_pointer ? " (frame pointer)"
                   : f.f.method == kernel::FrameMethod::scan        ? " (stack scan)"
                                                                    : "");
  }
  fmt::format_to(out, "  ({}{})\n", t.end, t.complete || t.frames.empty() ? "" : ": partial");
  return s;
}

std::string text_tail(const BtRow& r) {
  std::string s = fmt::format("ORC: {}\n", r.orc);
  for (const std::string& w : r.warnings) s += fmt::format("warning: {}\n", w);
  return s;
}

std::string task_json(const BtTask& t) {
  JsonWriter j;
  j.begin_object().field("pid", t.task->pid).field("comm", t.task->comm)
      .field("state", std::string(1, t.task->state)).hex_field("task", t.task->address)
      .key("running_on");
  if (t.task->running_on) j.value(*t.task->running_on); else j.null();
  j.field("panicking", t.task->panicking).field("complete", t.complete).field("end", t.end)
      .field("frame_pointers", t.frame_pointers).key("frames").begin_array();
  for (const BtFrame& f : t.frames) {
    j.begin_object().hex_field("ip", f.f.ip).hex_field("sp", f.f.sp).key("function");
    if (f.function.empty()) j.null(); else j.value(f.function);
    j.field("offset", f.offset).field("sched", f.sched)
        .field("method", kernel::frame_method_name(f.f.method)).end_object();
  }
  j.end_array().end_object();
  return j.str();
}

// {"orc":...,"warnings":[...],"tasks":[  -- the tasks follow, then "]}".
std::string json_head(const BtRow& r) {
  JsonWriter j;
  j.begin_object().field("orc", r.orc).key("warnings").begin_array();
  for (const std::string& w : r.warnings) j.value(w);
  j.end_array().key("tasks").begin_array();
  return j.str();
}

Result<std::vector<const kernel::Task*>> bt_select(SessionState& s, const stub::MonitorArgs& a,
                                                   const kernel::TaskList& list) {
  std::vector<const kernel::Task*> out;
  if (!a.words.empty() && a.words[0] == "all") {
    for (const kernel::Task& t : list.tasks) out.push_back(&t);
    return out;
  }
  std::optional<std::uint64_t> pid;
  if (!a.words.empty()) {
    auto n = parse_u64(a.words[0], 10);
    if (n) pid = *n;
    if (!pid || *pid > 0x7fffffff)
      return fail(Errc::invalid_argument,
                  fmt::format("bt: '{}' is neither a pid nor 'all'", a.words[0]));
  } else if (s.selected_task) {
    pid = static_cast<std::uint64_t>(*s.selected_task);
  } else {
    return fail(Errc::invalid_argument, "bt: give a PID or 'all' (or select one: monitor task PID)");
  }
  for (const kernel::Task& t : list.tasks)
    if (!t.idle && static_cast<std::uint64_t>(t.pid) == *pid) out.push_back(&t);
  if (out.empty()) return fail(Errc::not_found, fmt::format("bt: no task with pid {}", *pid));
  return out;
}

Result<void> bt_run(SessionState& s, const stub::MonitorArgs& a, const stub::OutputFn& out) {
  const auto& list = s.tasks();
  if (!list) return std::unexpected(list.error());
  auto chosen = bt_select(s, a, *list);
  if (!chosen) return std::unexpected(chosen.error());
  const auto& sc = s.snapshot().space;
  const auto& img = s.snapshot().discovery.image;
  const TypesStatus ty = s.context().types();
  const SymbolsStatus& sy = s.symbols();
  if (!sc || !img || !ty.types || !sy.symbols)
    return fail(Errc::not_found, "bt: needs the kernel address space, types and symbols");
  auto layout = kernel::task_layout(*ty.types);
  if (!layout) return std::unexpected(layout.error());
  if (!layout->has_frame() || !layout->stack.present)
    return fail(Errc::not_found,
                "bt: kernel types lack struct inactive_task_frame or task_struct.stack");
  const kernel::SymbolTable& syms = sy.symbols->table;
  auto orc = bt_orc(s, *img, syms, ty.types.get());
  BtRow row;
  if (*orc) {
    const kernel::OrcTable& o = **orc;
    row.orc = fmt::format("{} entries (format from {}; {})", o.size(), o.format().source,
                          o.lookup_checked ? fmt::format("orc_lookup agrees in {} of {} blocks",
                                                         o.lookup_checked - o.lookup_bad,
                                                         o.lookup_checked)
                                           : std::string("orc_lookup not checked"));
    row.warnings = (*orc)->warnings;
  } else {
    row.orc = "none, frame pointers only: " + orc->error().message;
  }
  kernel::AddressSpace as(s.memory(), s.walker_for(*sc), sc->top);
  BtContext c{as, *layout, syms, *orc ? &**orc : nullptr, kernel::kernel_regions(*img, syms, 0),
              bt_thread_size(syms)};
  // Stacks are read a chunk of tasks at a time (one batch each), and each chunk's traces go
  // out before the next: gdb sees output as it comes and can stop `bt all` between chunks.
  if (a.json) out(json_head(row));
  const std::span<const kernel::Task* const> all(*chosen);
  for (std::size_t at = 0; at < all.size(); at += kBtChunk) {
    if (a.stop_requested())
      return fail(Errc::deadline, fmt::format("bt: stopped after {} of {} tasks", at,
                                              all.size()));
    const auto part = all.subspan(at, std::min(kBtChunk, all.size() - at));
    const std::vector<kernel::TaskStack> stacks =
        kernel::read_task_stacks(as, part, c.thread_size, c.orc != nullptr);
    std::string text;
    for (std::size_t i = 0; i < part.size(); ++i) {
      const BtTask t = bt_trace(c, *part[i], stacks[i]);
      text += a.json ? (at + i ? "," : "") + task_json(t) : task_text(t);
    }
    out(text);
  }
  out(a.json ? std::string("]}\n") : text_tail(row));
  return {};
}

}  // namespace

std::optional<kernel::StackFrame> scanned_start(SessionState& s, const kernel::Task& t) {
  const auto& sc = s.snapshot().space;
  const auto& img = s.snapshot().discovery.image;
  const TypesStatus ty = s.context().types();
  const SymbolsStatus& sy = s.symbols();
  if (!t.running_on || !sc || !img || !ty.types || !sy.symbols) return std::nullopt;
  auto layout = kernel::task_layout(*ty.types);
  if (!layout || !layout->stack.present) return std::nullopt;
  const kernel::SymbolTable& syms = sy.symbols->table;
  auto orc = bt_orc(s, *img, syms, ty.types.get());
  if (!*orc) return std::nullopt;
  kernel::AddressSpace as(s.memory(), s.walker_for(*sc), sc->top);
  BtContext c{as, *layout, syms, &**orc, kernel::kernel_regions(*img, syms, 0),
              bt_thread_size(syms)};
  const kernel::Task* one[] = {&t};
  const std::vector<kernel::TaskStack> stacks =
      kernel::read_task_stacks(as, one, c.thread_size, true);
  const BtTask r = bt_trace(c, t, stacks[0]);
  if (r.frames.empty() || r.frames[0].f.method != kernel::FrameMethod::scan) return std::nullopt;
  return r.frames[0].f;
}

stub::MonitorCommand bt_command(SessionState& s) {
  stub::MonitorCommand c{
      "bt", "bt [PID|all]",
      "kernel stack trace of a task (ORC from memory, kallsyms names; no vmlinux); a running or "
      "panicked task's stack is scanned",
      [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) { return bt_run(s, a, out); },
      0, 1};
  c.needs = kNeedsSymbols;
  // `bt all` on thousands of tasks outlasts gdb's remotetimeout: no deadline, streamed.
  c.long_running = true;
  return c;
}

}  // namespace tlpstub::app::commands
