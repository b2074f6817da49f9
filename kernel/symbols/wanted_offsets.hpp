// The structure members the Linux views use (tasks, threads, address spaces, the printk log,
// modules, ORC, the page cache), looked up in a TypeInfo: what `monitor offsets` reports and
// what a profile saves. The one list: every member a view asks TypeInfo for is here, with
// the view's exact path ("printk_ringbuffer.desc_ring.head_id", not the inner struct's), so
// that a profile holding this list is enough for every view without BTF
// (tests/kernel/symbols/wanted_offsets_test.cpp fails when a view asks for anything else).
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
  std::string_view user;                // the view that reads it: "tasks", "printk", ...
  std::string_view when = {};           // kernels that have it, when not all: "before 6.4"
};

struct WantedResult {
  std::string struct_name;
  std::string wanted;                // "__state|state"
  std::string path;                  // the alternative found; empty when missing
  std::optional<FieldInfo> field;    // nullopt: missing
  std::string why_missing;
  std::string user, when;            // as in WantedMember
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
