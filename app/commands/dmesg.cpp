// monitor dmesg [-n N] [--json]: the kernel log as `dmesg` prints it ("[%5lu.%06lu] text"),
// read from the printk buffer in memory (kernel/linux/printk.hpp): the 5.10+ ring buffer, whose
// layout comes from BTF, or the older log_buf. -n N: the newest N records only. A last line
// starting with "--" says where the log came from and what was skipped (records being written
// or recycled by the live kernel, or failing a consistency check).
#include <fmt/format.h>

#include "app/commands/commands.hpp"
#include "kernel/address_space.hpp"
#include "kernel/linux/printk.hpp"

namespace tlpstub::app::commands {

namespace {

struct DmesgRow {
  kernel::KernelLog log;
};

std::string to_text(const DmesgRow& r) {
  std::string s;
  for (const kernel::LogRecord& rec : r.log.records) s += kernel::format_record(rec);
  const kernel::LogReport& p = r.log.report;
  auto out = std::back_inserter(s);
  fmt::format_to(out, "-- {} records", r.log.records.size());
  if (!r.log.records.empty()) fmt::format_to(out, " (seq {}..{})", p.first_seq, p.last_seq);
  fmt::format_to(out, " from {} at {:#x}", p.format, p.buffer_va);
  if (p.skipped_state || p.skipped_invalid || p.changed_during_read)
    fmt::format_to(out, "; skipped: {} being written or recycled, {} inconsistent, {} changed "
                        "while read",
                   p.skipped_state, p.skipped_invalid, p.changed_during_read);
  s += "\n";
  for (const std::string& n : p.notes) s += "-- note: " + n + "\n";
  return s;
}

void to_json(JsonWriter& j, const DmesgRow& r) {
  const kernel::LogReport& p = r.log.report;
  j.begin_object()
      .field("format", p.format)
      .hex_field("buffer", p.buffer_va)
      .field("slots", p.slots)
      .field("data_size", p.data_size)
      .field("skipped_state", p.skipped_state)
      .field("skipped_invalid", p.skipped_invalid)
      .field("changed_during_read", p.changed_during_read)
      .field("reads", p.reads)
      .field("bytes", p.bytes)
      .field("seconds", p.seconds);
  j.key("notes").begin_array();
  for (const std::string& n : p.notes) j.value(n);
  j.end_array().key("records").begin_array();
  for (const kernel::LogRecord& rec : r.log.records)
    j.begin_object()
        .field("seq", rec.seq)
        .field("ts_nsec", rec.ts_nsec)
        .field("level", rec.level)
        .field("facility", rec.facility)
        .field("caller_id", rec.caller_id)
        .field("text", rec.text)
        .end_object();
  j.end_array().end_object();
}

Result<void> run_dmesg(SessionState& s, const stub::MonitorArgs& a, const stub::OutputFn& out) {
  const auto& sc = s.snapshot().space;
  if (!sc) return std::unexpected(s.no_space_error(0));
  // Types are needed for the 5.10+ ring (its layout), not for log_buf: ask, do not require.
  const TypesStatus types = s.context().wait_for_types(s.deadline());
  kernel::AddressSpace as(s.memory(), s.walker_for(*sc), sc->top);
  auto log = kernel::read_kernel_log(as, s.symbols().symbols->table, types.types.get(), a.count);
  if (!log) {
    if (!types.types && types.state != TypesState::done && !types.message.empty())
      log.error().message += " (kernel types: " + types.message + ")";
    return std::unexpected(log.error());
  }
  emit(a, DmesgRow{std::move(*log)}, out);
  return {};
}

}  // namespace

stub::MonitorCommand dmesg_command(SessionState& s) {
  stub::MonitorCommand c{
      "dmesg", "dmesg [-n N]",
      "the kernel log with timestamps, from the printk ring buffer in memory (-n: newest N)",
      [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) { return run_dmesg(s, a, out); },
      0, 0};
  c.takes_count = true;
  c.needs = kNeedsSymbols;
  return c;
}

}  // namespace tlpstub::app::commands
