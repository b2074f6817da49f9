// monitor dump PATH [--level N] [--json]: writes an ELF vmcore of the target to PATH on the
// host running tlpstub (app/dump_job.hpp, kernel/export/vmcore_writer.hpp), for crash and drgn
// or for `tlpstub --memory PATH` later. A long command (stub/long_request.hpp): reads with no
// request deadline, shows progress (bytes, rate, ETA) while gdb waits, and stops when gdb
// moves on (Ctrl-C in gdb, then its next command) or sends ^C: the partial file is removed,
// as on Ctrl-C of `tlpstub --dump` (kernel/export/vmcore_writer.cpp). A dump that finished
// just as gdb moved on keeps its (whole) file.
// --level: makedumpfile's dump level (-d): 1 zero pages (always holes), 2 page cache without
// private data, 4 all page cache, 8 user (anonymous) pages, 16 free pages; excluded pages are
// holes too and the report counts them per class (kernel/linux/page_classes.hpp).
#include <fmt/format.h>

#include "app/commands/commands.hpp"
#include "app/dump_job.hpp"
#include "common/parse.hpp"

namespace tlpstub::app::commands {

namespace {

struct DumpRow {
  DumpOutcome outcome;
  std::string path;
};

std::string to_text(const DumpRow& r) { return dump_summary(r.outcome, r.path); }

void to_json(JsonWriter& j, const DumpRow& r) {
  const kernel::DumpReport& p = r.outcome.report;
  j.begin_object()
      .field("path", r.path)
      .field("ram_source", r.outcome.ram_source)
      .field("vmcoreinfo", r.outcome.vmcoreinfo_source)
      .field("ram_bytes", p.ram_bytes)
      .field("pages", p.pages)
      .field("data_pages", p.data_pages)
      .field("zero_pages", p.zero_pages)
      .field("excluded_pages", p.excluded_pages)
      .field("unreadable_pages", p.unreadable_pages)
      .field("file_size", p.file_size)
      .field("bytes_written", p.bytes_written)
      .field("seconds", p.seconds);
  if (r.outcome.classified) {
    const kernel::PageExclusion& x = r.outcome.classes;
    j.key("excluded").begin_object()
        .field("free", x.free)
        .field("cache", x.cache)
        .field("cache_private", x.cache_private)
        .field("user", x.user)
        .field("unknown_kept", x.unknown)
        .end_object();
  }
  j.key("ranges").begin_array();
  for (const kernel::VmcoreSegment& s : r.outcome.ram)
    j.begin_object().hex_field("phys", s.paddr).field("size", s.size).end_object();
  j.end_array().key("warnings").begin_array();
  for (const std::string& w : r.outcome.warnings) j.value(w);
  j.end_array().end_object();
}

Result<void> run_dump_command(SessionState& s, const stub::MonitorArgs& a,
                              const stub::OutputFn& out) {
  DumpJob job;
  job.path = std::string(a.words.at(0));
  if (auto f = a.values.find("--level"); f != a.values.end()) {
    auto v = parse_u64(f->second, 0);
    if (!v || *v > 31)
      return fail(Errc::invalid_argument,
                  fmt::format("dump: --level '{}' is not a dump level 0..31", f->second));
    job.level = static_cast<unsigned>(*v);
  }
  job.cancelled = [&a] { return a.stop_requested(); };
  job.say = [&](std::string_view line) {
    if (!a.json) {
      out(fmt::format("{}\n", line));
      return;
    }
    JsonWriter j;
    j.begin_object().field("progress", line).end_object();
    out(j.str() + "\n");
  };
  auto o = run_dump(s.context(), s.context().memory(), job);
  if (!o) return std::unexpected(o.error());
  emit(a, DumpRow{std::move(*o), job.path}, out);
  return {};
}

}  // namespace

stub::MonitorCommand dump_command(SessionState& s) {
  stub::MonitorCommand c{
      "dump", "dump PATH [--level N]",
      "write an ELF vmcore (for crash, drgn, tlpstub --memory) of the target's RAM to PATH on "
      "the tlpstub host; all-zero pages become holes",
      [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) {
        return run_dump_command(s, a, out);
      },
      1, 1};
  c.value_options = {{"--level", "N",
                      "makedumpfile dump level (bits: 1 zero, 2 cache, 4 cache+private, 8 user, "
                      "16 free pages); excluded pages become holes"}};
  c.needs = kNeedsSymbols;
  c.long_running = true;
  return c;
}

}  // namespace tlpstub::app::commands
