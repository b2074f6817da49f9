// The structure members the Linux views use (tasks, threads, address spaces, the printk log),
// looked up in a TypeInfo: what `monitor offsets` reports and what a profile will save.
//
// Where a member moved between versions, alternatives are tried in order:
//  - task_struct.__state (5.14+, unsigned int) or .state (long, before): commit 2f064a59a11f.
//  - task_struct.thread_node (with signal_struct.thread_head, present in 6.1 and 6.12) or
//    .thread_group (gone in 6.7): facts/linux.md section 7.
//  - the CPU a task is on: thread_info.cpu (task_struct.thread_info is the first member on x86
//    with THREAD_INFO_IN_TASK; `cpu` moved back there in 5.16, commit bcf9033e5449 "sched: move
//    CPU field back into thread_info if THREAD_INFO_IN_TASK"), else task_struct.cpu (4.9-5.15).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel/symbols/type_info.hpp"

namespace tlpstub::kernel {

struct WantedMember {
  std::string_view struct_name;
  std::vector<std::string_view> paths;  // alternatives, first found wins
};

struct WantedResult {
  std::string struct_name;
  std::string wanted;                // "__state|state"
  std::string path;                  // the alternative found; empty when missing
  std::optional<FieldInfo> field;    // nullopt: missing
  std::string why_missing;
};

struct WantedSize {
  std::string struct_name;
  std::optional<std::uint64_t> size;
  std::string source;
};

const std::vector<WantedMember>& wanted_members();
const std::vector<std::string_view>& wanted_sizes();

std::vector<WantedResult> resolve_wanted(const TypeInfo& ti);
std::vector<WantedSize> resolve_sizes(const TypeInfo& ti);

}  // namespace tlpstub::kernel
