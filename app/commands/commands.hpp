// The monitor commands, one file each (design.md, app/). Each file defines the one row type
// its command produces, renders it as text for a person or as JSON (`--json`) for scripts,
// and declares what it needs; the registry (registry.cpp) checks that and prints the shared
// message when it is missing.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "app/session_state.hpp"
#include "common/json.hpp"
#include "kernel/linux/unwind.hpp"
#include "kernel/paging.hpp"
#include "stub/monitor.hpp"

namespace tlpstub::app::commands {

// Requirements (MonitorCommand::needs) and who provides them: registry.cpp.
inline constexpr std::string_view kNeedsSpace = "a kernel address space";
inline constexpr std::string_view kNeedsKernel = "a discovered kernel";
inline constexpr std::string_view kNeedsTypes = "kernel types (BTF)";
inline constexpr std::string_view kNeedsSymbols = "kernel symbols";

// Prints `row` as text (to_text) or as one line of JSON (to_json), as the user asked.
template <class Row>
void emit(const stub::MonitorArgs& args, const Row& row, const stub::OutputFn& out) {
  if (args.json) {
    JsonWriter j;
    to_json(j, row);
    out(j.str() + "\n");
  } else {
    out(to_text(row));
  }
}

stub::MonitorCommand phys_command(SessionState& s);
stub::MonitorCommand v2p_command(SessionState& s);
stub::MonitorCommand cr3_command(SessionState& s);
stub::MonitorCommand info_command(SessionState& s);
stub::MonitorCommand version_command(SessionState& s);
stub::MonitorCommand stats_command(SessionState& s);
stub::MonitorCommand type_command(SessionState& s);
stub::MonitorCommand offsets_command(SessionState& s);
stub::MonitorCommand profile_command(SessionState& s);
stub::MonitorCommand sym_command(SessionState& s);
stub::MonitorCommand modules_command(SessionState& s);
stub::MonitorCommand dmesg_command(SessionState& s);
stub::MonitorCommand kconfig_command(SessionState& s);
stub::MonitorCommand ps_command(SessionState& s);
stub::MonitorCommand task_command(SessionState& s);
stub::MonitorCommand bt_command(SessionState& s);
// For a task on a CPU (rq->curr, or the one that panicked): the innermost frame that the stack
// scan of `monitor bt` finds (ip, and sp just above its return address); nullopt without ORC
// or when no word starts a clean walk. The thread registers of such a task show it.
std::optional<kernel::StackFrame> scanned_start(SessionState& s, const kernel::Task& t);
stub::MonitorCommand symbol_file_monitor_command(SessionState& s);
stub::MonitorCommand dump_command(SessionState& s);

// Registers every command above and provides their requirements from `s`.
void register_all(stub::MonitorRegistry& r, SessionState& s);

// One page-table entry as v2p prints it: "0x80000000012340e3  P RW A D G NX frame 0x1234000".
std::string entry_text(const kernel::EntryView& e);

}  // namespace tlpstub::app::commands
