// TaskLayout: every structure member the task walk reads, resolved once from TypeInfo (BTF,
// or entries added by inference/profiles), never hard-coded for one kernel.
//
// Alternatives tried in order, where members moved (see kernel/symbols/wanted_offsets.hpp):
// task_struct.__state|state, thread_info.cpu|cpu. The pid IDR walk needs struct pid, upid,
// xa_node and pid_namespace.idr; without them the walk falls back to the tasks list.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "kernel/symbols/type_info.hpp"

namespace tlpstub::kernel {

struct Field {
  std::uint64_t offset = 0, size = 0;
  bool present = false;
  std::uint64_t end() const { return offset + size; }
};

struct TaskLayout {
  // task_struct
  Field state, exit_state, flags, tasks, pid, tgid, real_parent, mm, comm, pid_links,
      thread_sp, cpu, on_cpu, stack;
  // struct list_head / hlist_node
  Field list_next, list_prev, hnode_pprev;
  // struct pid, struct upid
  Field pid_level, pid_tasks, pid_numbers, upid_nr;
  // pid_namespace.idr (an xarray since 4.20) and its nodes (include/linux/xarray.h)
  Field ns_xa_head, ns_idr_base;
  Field xa_shift, xa_offset, xa_count, xa_parent, xa_slots;
  unsigned xa_chunk = 0;        // slots per node: 64 (CONFIG_BASE_SMALL=0) from BTF
  unsigned xa_chunk_shift = 0;  // log2(xa_chunk)
  // mm_struct, rq (per-CPU runqueues)
  Field mm_pgd, rq_idle, rq_curr;
  // threads for the list-walk fallback: signal->thread_head ring through task->thread_node
  // (6.7+, backported to 6.1 stable), else the older ring of task->thread_group (no head:
  // the threads' nodes alone, removed in 6.7)
  Field signal, thread_node, thread_head, thread_group;
  // struct inactive_task_frame (arch/x86/include/asm/switch_to.h)
  Field frame_r15, frame_r14, frame_r13, frame_r12, frame_bx, frame_bp, frame_ret;

  bool has_idr() const;
  bool has_runqueues() const { return rq_idle.present && rq_curr.present; }
  bool has_frame() const;
  std::string what_is_missing;  // optional members not found, for warnings
};

// Fails only when the task_struct members every walk needs are missing.
Result<TaskLayout> task_layout(const TypeInfo& ti);

}  // namespace tlpstub::kernel
