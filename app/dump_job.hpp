// A vmcore of the target (kernel/export/vmcore_writer.hpp) from what the context knows: RAM
// ranges from the kernel's iomem_resource, the kernel image's mapping from discovery and
// kallsyms, VMCOREINFO from the target (or synthesized from discovery). Shared by
// `monitor dump` and `tlpstub --dump`.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "app/target_context.hpp"
#include "kernel/export/vmcore_writer.hpp"
#include "kernel/linux/page_classes.hpp"

namespace tlpstub::app {

struct DumpJob {
  std::string path;
  unsigned level = kernel::kDumpLevelZero;
  std::function<void(std::string_view)> say;  // progress and warnings, one line each
  std::function<bool()> cancelled;
};

struct DumpOutcome {
  kernel::DumpReport report;
  std::string ram_source;            // "iomem_resource (N System RAM ranges)" or the fallback
  std::string vmcoreinfo_source;     // "target" or "synthesized"
  std::vector<kernel::VmcoreSegment> ram;
  std::vector<std::string> warnings;
  // --level beyond zero pages: frames excluded per class (kernel/linux/page_classes.hpp).
  unsigned report_level = 0;
  bool classified = false;
  kernel::PageExclusion classes;
  std::string classes_source;  // "struct page at vmemmap 0x... (from ...), layout from ..."
};

// Needs a discovered kernel (and symbols for the RAM list and the image size; types for the
// RAM list). `mem` is read without a deadline: a dump takes as long as it takes.
Result<DumpOutcome> run_dump(TargetContext& ctx, PhysicalMemory& mem, const DumpJob& job);

// "dump: 120.0 MiB of 512.0 MiB (23%), 250.3 MiB/s, ETA 2 s"
std::string dump_progress_line(const kernel::DumpProgress& p);
// "dump level 16: excluding N free, ... pages"
std::string dump_classes_line(const DumpOutcome& o, unsigned level);
// The report as a few lines of text.
std::string dump_summary(const DumpOutcome& o, const std::string& path);

}  // namespace tlpstub::app
