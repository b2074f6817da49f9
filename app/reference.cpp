#include "app/reference.hpp"

#include <fmt/format.h>

#include "app/commands/commands.hpp"
#include "app/options.hpp"
#include "app/session_state.hpp"
#include "app/target_context.hpp"

namespace tlpstub::app {

namespace {

// The registry only needs a target to run commands, not to list them: memory that has nothing.
class ReferenceNoMemory final : public PhysicalMemory {
 public:
  MemoryInfo info() const override { return {"none (help only)", 0, 1, true}; }

 protected:
  void do_read(std::span<const ReadRange> ranges, std::span<ReadStatus> results,
               Deadline) override {
    for (std::size_t i = 0; i < ranges.size(); ++i)
      results[i] = fail(Errc::unbacked, "no memory (help only)", ranges[i].addr.value);
  }
};

// A table cell: `|` would end it, a newline the row.
std::string reference_cell(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

}  // namespace

std::string monitor_reference_markdown(const stub::MonitorRegistry& r) {
  std::string out = "| command | what it does | options | needs |\n| --- | --- | --- | --- |\n";
  for (const stub::MonitorCommand& c : r.commands()) {
    std::string opts;
    auto add = [&opts](const std::string& o) { opts += (opts.empty() ? "" : "; ") + o; };
    if (c.name == "help") add("`CMD`: describes one command");
    if (c.takes_count) add("`-n N`: at most N results");
    for (const stub::MonitorCommand::ValueOption& o : c.value_options)
      add(fmt::format("`{} {}`: {}", o.name, o.value_name, o.help));
    for (const std::string& s : c.switches) add(fmt::format("`{}`", s));
    add("`--json`");
    out += fmt::format("| `monitor {}` | {} | {} | {} |\n", reference_cell(c.usage),
                       reference_cell(c.help), reference_cell(opts),
                       c.needs.empty() ? "" : reference_cell(c.needs));
  }
  return out;
}

std::string reference_markdown() {
  ReferenceNoMemory mem;
  TargetContext ctx(mem);
  SessionState state(ctx);
  stub::MonitorRegistry registry;
  commands::register_all(registry, state);
  return fmt::format(
      "#### `tlpstub --help`\n\n```text\n{}```\n\n#### Monitor commands (`monitor help CMD`)\n\n{}",
      usage_text(), monitor_reference_markdown(registry));
}

}  // namespace tlpstub::app
