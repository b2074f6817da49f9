#include "kernel/linux/task_layout.hpp"

#include <bit>
#include <initializer_list>

namespace tlpstub::kernel {

namespace {

struct Resolver {
  const TypeInfo& ti;
  std::vector<std::string> missing;

  Field get(std::string_view s, std::initializer_list<std::string_view> paths) {
    for (std::string_view p : paths) {
      if (auto f = ti.member(s, p)) return {f->offset, f->size, true};
    }
    std::string name = std::string(s) + ".";
    for (std::string_view p : paths) name += std::string(p) + (p == *(paths.end() - 1) ? "" : "|");
    missing.push_back(name);
    return {};
  }
};

}  // namespace

bool TaskLayout::has_idr() const {
  for (const Field* f : {&pid_links, &hnode_pprev, &pid_tasks, &pid_numbers, &upid_nr,
                         &ns_xa_head, &xa_shift, &xa_offset, &xa_parent, &xa_slots})
    if (!f->present) return false;
  return xa_chunk >= 2;
}

bool TaskLayout::has_frame() const {
  for (const Field* f : {&thread_sp, &frame_r15, &frame_r14, &frame_r13, &frame_r12, &frame_bx,
                         &frame_bp, &frame_ret})
    if (!f->present) return false;
  return true;
}

Result<TaskLayout> task_layout(const TypeInfo& ti) {
  Resolver r{ti, {}};
  TaskLayout l;
  l.state = r.get("task_struct", {"__state", "state"});
  l.pid = r.get("task_struct", {"pid"});
  l.tgid = r.get("task_struct", {"tgid"});
  l.comm = r.get("task_struct", {"comm"});
  l.real_parent = r.get("task_struct", {"real_parent"});
  l.tasks = r.get("task_struct", {"tasks"});
  l.list_next = r.get("list_head", {"next"});
  l.list_prev = r.get("list_head", {"prev"});
  if (!r.missing.empty()) {
    std::string m;
    for (auto& s : r.missing) m += (m.empty() ? "" : ", ") + s;
    return fail(Errc::not_found, "task walk: kernel types lack " + m);
  }
  l.exit_state = r.get("task_struct", {"exit_state"});
  l.flags = r.get("task_struct", {"flags"});
  l.mm = r.get("task_struct", {"mm"});
  l.pid_links = r.get("task_struct", {"pid_links"});
  l.thread_sp = r.get("task_struct", {"thread.sp"});
  l.cpu = r.get("task_struct", {"thread_info.cpu", "cpu"});
  l.on_cpu = r.get("task_struct", {"on_cpu"});
  l.stack = r.get("task_struct", {"stack"});
  l.hnode_pprev = r.get("hlist_node", {"pprev"});
  l.pid_level = r.get("pid", {"level"});
  l.pid_tasks = r.get("pid", {"tasks"});
  l.pid_numbers = r.get("pid", {"numbers"});
  l.upid_nr = r.get("upid", {"nr"});
  l.ns_xa_head = r.get("pid_namespace", {"idr.idr_rt.xa_head"});
  l.ns_idr_base = r.get("pid_namespace", {"idr.idr_base"});
  l.xa_shift = r.get("xa_node", {"shift"});
  l.xa_offset = r.get("xa_node", {"offset"});
  l.xa_count = r.get("xa_node", {"count"});
  l.xa_parent = r.get("xa_node", {"parent"});
  l.xa_slots = r.get("xa_node", {"slots"});
  // XA_CHUNK_SIZE from the array's size: 64 slots, or 16 with CONFIG_BASE_SMALL.
  if (l.xa_slots.present && std::has_single_bit(l.xa_slots.size / 8) && l.xa_slots.size >= 16 &&
      l.xa_slots.size <= 8 * 256) {
    l.xa_chunk = static_cast<unsigned>(l.xa_slots.size / 8);
    l.xa_chunk_shift = static_cast<unsigned>(std::countr_zero(l.xa_chunk));
  }
  l.mm_pgd = r.get("mm_struct", {"pgd"});
  l.signal = r.get("task_struct", {"signal"});
  // A process's threads: the thread_node ring from signal->thread_head (6.7+, backported to
  // Debian's 6.1), else the thread_group ring of older kernels. One of the two is expected, so
  // only the one in use is looked up (and reported when absent).
  if (ti.member("task_struct", "thread_node")) {
    l.thread_node = r.get("task_struct", {"thread_node"});
    l.thread_head = r.get("signal_struct", {"thread_head"});
  } else {
    l.thread_group = r.get("task_struct", {"thread_group"});
  }
  l.rq_idle = r.get("rq", {"idle"});
  l.rq_curr = r.get("rq", {"curr"});
  l.frame_r15 = r.get("inactive_task_frame", {"r15"});
  l.frame_r14 = r.get("inactive_task_frame", {"r14"});
  l.frame_r13 = r.get("inactive_task_frame", {"r13"});
  l.frame_r12 = r.get("inactive_task_frame", {"r12"});
  l.frame_bx = r.get("inactive_task_frame", {"bx"});
  l.frame_bp = r.get("inactive_task_frame", {"bp"});
  l.frame_ret = r.get("inactive_task_frame", {"ret_addr"});
  for (auto& s : r.missing) l.what_is_missing += (l.what_is_missing.empty() ? "" : ", ") + s;
  return l;
}

}  // namespace tlpstub::kernel
