// `tlpstub --help-markdown`: the flags (usage_text) and every monitor command's help, as the
// registry holds them, in Markdown. README's generated reference is this output
// (tools/readme-reference.sh), and a test fails when the two differ, so neither can drift.
#pragma once

#include <string>

#include "stub/monitor.hpp"

namespace tlpstub::app {

// The monitor commands of `r` as a Markdown table: usage, help line, options, needs.
std::string monitor_reference_markdown(const stub::MonitorRegistry& r);

// The whole reference: the flags, then the monitor commands as a gdb session registers them.
std::string reference_markdown();

}  // namespace tlpstub::app
