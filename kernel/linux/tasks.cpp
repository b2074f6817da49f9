#include "kernel/linux/tasks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "common/bytes.hpp"
#include "kernel/linux/read_plan.hpp"
#include "kernel/linux/task_layout.hpp"
#include "kernel/linux/task_state.hpp"

namespace tlpstub::kernel {

namespace {

constexpr std::size_t kMaxWarnings = 24;
// A task_struct is about 10 KiB; fields further out mean corrupt types.
constexpr std::uint64_t kMaxTaskExtent = 64 * 1024;
constexpr int kMaxPidLevel = 32;  // MAX_PID_NS_LEVEL (include/linux/pid_namespace.h)

// xarray entries (include/linux/xarray.h): internal = low bits 10; a node when above 4096
// (smaller internal values are sibling, retry and zero entries).
bool xa_is_internal(std::uint64_t e) { return (e & 3) == 2; }
bool xa_is_node(std::uint64_t e) { return xa_is_internal(e) && e > 4096; }

std::uint64_t get(std::span<const std::uint8_t> buf, std::uint64_t base, const Field& f) {
  if (!f.present || f.offset < base || f.offset - base + f.size > buf.size()) return 0;
  const std::uint8_t* p = buf.data() + (f.offset - base);
  std::uint64_t v = 0;
  const std::size_t n = std::min<std::uint64_t>(f.size, 8);
  for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{p[i]} << (8 * i);
  return v;
}
std::uint64_t get_at(std::span<const std::uint8_t> buf, std::uint64_t off, std::uint64_t size) {
  return get(buf, 0, Field{off, size, true});
}

std::string printable(std::span<const std::uint8_t> b) {
  std::string s;
  for (std::uint8_t c : b) {
    if (c == 0) break;
    s.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  return s;
}

// What one task_struct read gives, beyond Task.
struct RawTask {
  Task t;
  std::uint64_t real_parent = 0, tasks_next = 0, tasks_prev = 0, links_pprev = 0;
  bool has_links = false, has_pprev = false;  // tasks links / pid_links.pprev were read
};

class Walker {
 public:
  Walker(KernelReader& rd, const TaskLayout& l, const TaskLimits& lim)
      : rd_(rd), l_(l), lim_(lim) {
    // What `ps` shows (pid, tgid, ppid via real_parent, state, CPU, comm, mm for the page
    // table, stack for --json): read for every task. thread.sp is not: only `bt` and the
    // thread registers need it, and they read it (read_saved_sps), 2 datagrams per task that
    // sit alone at the end of task_struct (6.12: offset 5400 of 9792).
    const std::vector<Field> shown = {l.state, l.exit_state, l.flags, l.pid, l.tgid,
                                      l.real_parent, l.mm, l.comm, l.cpu, l.stack};
    // The IDR walk checks a task by task.pid == the struct pid's number; pid_links.pprev ==
    // &pid.tasks[0] (a third fact) and the leaders' tasks links (the next->prev cross-check)
    // are read where they come free. The list walk follows the tasks links: it needs them.
    idr_plan_ = ReadPlan(shown, {pprev(), l.tasks});
    std::vector<Field> listed = shown;
    listed.push_back(l.tasks);
    list_plan_ = ReadPlan(listed);
  }

  Field pprev() const {
    return {l_.pid_links.offset + l_.hnode_pprev.offset, 8,
            l_.pid_links.present && l_.hnode_pprev.present};
  }

  bool layout_sane() const {
    for (const ReadPlan* p : {&idr_plan_, &list_plan_})
      if (p->extent == 0 || p->base + p->extent > kMaxTaskExtent) return false;
    return true;
  }

  std::vector<std::string> warnings;
  void warn(std::string w) {
    if (warnings.size() < kMaxWarnings) warnings.push_back(std::move(w));
    else if (warnings.size() == kMaxWarnings) warnings.push_back("(further warnings omitted)");
  }

  // Reads task_structs in one batch (`list`: with the tasks links the list walk follows).
  // nullopt per task that could not be read.
  std::vector<std::optional<RawTask>> read_tasks(const std::vector<std::uint64_t>& addrs,
                                                 bool list = false) {
    ReadPlan& plan_ = list ? list_plan_ : idr_plan_;
    std::vector<std::vector<std::uint8_t>> bufs(addrs.size());
    std::vector<VaRead> reads;
    std::vector<std::size_t> owner;
    for (std::size_t i = 0; i < addrs.size(); ++i) {
      if (addrs[i] % 8 != 0 || !rd_.valid(addrs[i] + plan_.base, plan_.extent, 1)) continue;
      bufs[i].assign(plan_.extent, 0);
      for (auto [off, size] : plan_.spans(addrs[i])) {
        reads.push_back({addrs[i] + off, std::span(bufs[i]).subspan(off - plan_.base, size)});
        owner.push_back(i);
      }
    }
    auto st = rd_.read(reads);
    std::vector<bool> ok(addrs.size(), false);
    for (std::size_t i = 0; i < addrs.size(); ++i) ok[i] = !bufs[i].empty();
    for (std::size_t k = 0; k < st.size(); ++k)
      if (!st[k]) {
        if (ok[owner[k]])
          warn(fmt::format("task {:#x}: unreadable ({})", addrs[owner[k]], st[k].error().message));
        ok[owner[k]] = false;
      }
    std::vector<std::optional<RawTask>> out(addrs.size());
    for (std::size_t i = 0; i < addrs.size(); ++i) {
      if (!ok[i]) {
        if (bufs[i].empty()) warn(fmt::format("task pointer {:#x} is not a kernel address", addrs[i]));
        continue;
      }
      out[i] = decode(addrs[i], bufs[i], plan_);
    }
    return out;
  }

  RawTask decode(std::uint64_t addr, std::span<const std::uint8_t> b, ReadPlan& plan) const {
    RawTask r;
    Task& t = r.t;
    const std::uint64_t base = plan.base;
    t.address = addr;
    t.pid = static_cast<std::int32_t>(get(b, base, l_.pid));
    t.tgid = static_cast<std::int32_t>(get(b, base, l_.tgid));
    t.raw_state = static_cast<std::uint32_t>(get(b, base, l_.state));
    t.exit_state = static_cast<std::uint32_t>(get(b, base, l_.exit_state));
    t.flags = static_cast<std::uint32_t>(get(b, base, l_.flags));
    t.state = task_state_letter(t.raw_state, t.exit_state);
    if (l_.comm.present && l_.comm.offset >= base && l_.comm.end() - base <= b.size())
      t.comm = printable(b.subspan(l_.comm.offset - base, std::min<std::uint64_t>(l_.comm.size, 64)));
    if (l_.cpu.present) t.cpu = static_cast<std::uint32_t>(get(b, base, l_.cpu));
    t.mm = get(b, base, l_.mm);
    t.stack = get(b, base, l_.stack);
    r.real_parent = get(b, base, l_.real_parent);
    if ((r.has_links = plan.reads(addr, l_.tasks))) {
      r.tasks_next = get(b, base, Field{l_.tasks.offset + l_.list_next.offset, 8, true});
      r.tasks_prev = get(b, base, Field{l_.tasks.offset + l_.list_prev.offset, 8, true});
    }
    if ((r.has_pprev = plan.reads(addr, pprev()))) r.links_pprev = get(b, base, pprev());
    return r;
  }

  // --- the pid IDR ------------------------------------------------------------------------

  struct IdrEntry {
    std::uint64_t index = 0, pid = 0;
  };

  // Every non-empty leaf entry, level by level (one batch per level). false: unusable.
  bool walk_idr(std::uint64_t ns, std::vector<IdrEntry>& out, int& transient) {
    std::uint8_t hb[8] = {};
    std::uint8_t bb[4] = {};
    std::vector<VaRead> first = {{ns + l_.ns_xa_head.offset, hb}};
    if (l_.ns_idr_base.present) first.push_back({ns + l_.ns_idr_base.offset, bb});
    auto st = rd_.read(first);
    if (!st[0]) {
      warn("pid IDR: init_pid_ns unreadable: " + st[0].error().message);
      return false;
    }
    idr_base_ = st.size() > 1 && st[1] ? load_le32(bb) : 0;
    const std::uint64_t head = load_le64(hb);
    if (head == 0) {
      warn("pid IDR: empty");
      return false;
    }
    if (!xa_is_internal(head)) {  // a single entry at index 0
      out.push_back({0, head});
      return true;
    }
    if (!xa_is_node(head)) {
      warn(fmt::format("pid IDR: head {:#x} is neither a node nor an entry", head));
      return false;
    }
    struct Pending {
      std::uint64_t node, parent, base;  // node VA, expected parent, first index
      unsigned slot;                     // expected xa_node.offset (0 for the top)
      int shift;                         // expected shift; -1: the top sets it
    };
    std::vector<Pending> level = {{head - 2, 0, 0, 0, -1}};
    const std::uint64_t node_bytes = l_.xa_slots.offset + 8ull * l_.xa_chunk;
    std::unordered_set<std::uint64_t> seen;
    std::size_t nodes = 0;
    bool top = true;
    while (!level.empty()) {
      std::size_t twice = 0;
      std::uint64_t twice_example = 0;
      std::vector<std::vector<std::uint8_t>> bufs(level.size());
      std::vector<VaRead> reads;
      std::vector<std::size_t> idx;
      for (std::size_t i = 0; i < level.size(); ++i) {
        const Pending& p = level[i];
        if (!rd_.valid(p.node, node_bytes)) {
          warn(fmt::format("pid IDR: node pointer {:#x} (index {}+) is not a kernel address",
                           p.node, p.base));
          ++transient;
          continue;
        }
        if (!seen.insert(p.node).second) {
          ++twice;
          twice_example = p.node;
          continue;
        }
        if (++nodes > lim_.max_nodes) {
          warn(fmt::format("pid IDR: more than {} nodes; stopped there", lim_.max_nodes));
          break;
        }
        bufs[i].assign(node_bytes, 0);
        reads.push_back({p.node, bufs[i]});
        idx.push_back(i);
      }
      if (twice)
        warn(fmt::format("pid IDR: {} node pointers reached twice (a cycle or shared "
                         "subtree), e.g. {:#x}", twice, twice_example));
      auto rs = rd_.read(reads);
      std::vector<Pending> next;
      for (std::size_t k = 0; k < rs.size(); ++k) {
        const Pending& p = level[idx[k]];
        if (!rs[k]) {
          warn(fmt::format("pid IDR: node {:#x} unreadable: {}", p.node, rs[k].error().message));
          continue;
        }
        std::span<const std::uint8_t> b = bufs[idx[k]];
        const int shift = static_cast<int>(get_at(b, l_.xa_shift.offset, 1));
        const unsigned offset = static_cast<unsigned>(get_at(b, l_.xa_offset.offset, 1));
        const std::uint64_t parent = get_at(b, l_.xa_parent.offset, 8);
        const int want = p.shift < 0 ? shift : p.shift;
        // The top node's shift bounds the depth: pids are below 2^22 (PID_MAX_LIMIT).
        const bool bad_top = top && (shift % static_cast<int>(l_.xa_chunk_shift) != 0 || shift > 24);
        if (bad_top || shift != want || offset != p.slot || parent != p.parent) {
          warn(fmt::format("pid IDR: node {:#x} (index {}+) inconsistent: shift {} offset {} "
                           "parent {:#x}, expected shift {} offset {} parent {:#x}",
                           p.node, p.base, shift, offset, parent, want, p.slot, p.parent));
          ++transient;
          continue;
        }
        for (unsigned s = 0; s < l_.xa_chunk; ++s) {
          const std::uint64_t e = get_at(b, l_.xa_slots.offset + 8ull * s, 8);
          if (e == 0) continue;
          const std::uint64_t index = p.base + (std::uint64_t{s} << shift);
          if (shift > 0) {
            if (xa_is_node(e)) {
              next.push_back({e - 2, p.node, index, s, shift - static_cast<int>(l_.xa_chunk_shift)});
            } else if (!xa_is_internal(e)) {
              warn(fmt::format("pid IDR: node {:#x} slot {}: an entry where a node belongs",
                               p.node, s));
            }
            continue;
          }
          if (xa_is_internal(e)) continue;  // sibling/retry/zero entries hold no pid
          if (out.size() >= lim_.max_tasks) {
            warn(fmt::format("pid IDR: more than {} entries; stopped there", lim_.max_tasks));
            return true;
          }
          out.push_back({index, e});
        }
      }
      top = false;
      level = std::move(next);
    }
    return true;
  }

  struct PidTask {
    std::int32_t nr = 0;
    std::uint64_t pid = 0, task = 0;
  };

  // struct pid -> its task, one batch.
  std::vector<PidTask> read_pids(const std::vector<IdrEntry>& entries, int& transient) {
    const Field first{l_.pid_tasks.offset, 8, true};  // tasks[PIDTYPE_PID].first
    const Field nr{l_.pid_numbers.offset + l_.upid_nr.offset, 4, true};
    ReadPlan p({l_.pid_level, first, nr});
    std::vector<std::vector<std::uint8_t>> bufs(entries.size());
    std::vector<VaRead> reads;
    std::vector<std::size_t> idx;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].pid % 8 != 0 || !rd_.valid(entries[i].pid + p.base, p.extent, 1)) {
        warn(fmt::format("pid {}: struct pid pointer {:#x} is not a kernel address",
                         entries[i].index + idr_base_, entries[i].pid));
        continue;
      }
      bufs[i].assign(p.extent, 0);
      for (auto [off, size] : p.spans(entries[i].pid)) {
        reads.push_back({entries[i].pid + off, std::span(bufs[i]).subspan(off - p.base, size)});
        idx.push_back(i);
      }
    }
    auto st = rd_.read(reads);
    std::vector<bool> ok(entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i) ok[i] = !bufs[i].empty();
    for (std::size_t k = 0; k < st.size(); ++k)
      if (!st[k] && ok[idx[k]]) {
        ok[idx[k]] = false;
        warn(fmt::format("struct pid {:#x} unreadable: {}", entries[idx[k]].pid,
                         st[k].error().message));
      }
    std::vector<PidTask> out;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (!ok[i]) continue;
      const std::uint64_t want = entries[i].index + idr_base_;
      const auto level = get(bufs[i], p.base, l_.pid_level);
      const auto n = static_cast<std::int32_t>(get(bufs[i], p.base, nr));
      const std::uint64_t f = get(bufs[i], p.base, first);
      if (static_cast<std::uint64_t>(n) != want || level > kMaxPidLevel) {
        warn(fmt::format("struct pid {:#x} at IDR index {}: nr {} level {}: not this pid",
                         entries[i].pid, want, n, level));
        ++transient;
        continue;
      }
      if (f == 0) continue;  // a process group or session id whose task has exited
      out.push_back({n, entries[i].pid, f - l_.pid_links.offset});
    }
    return out;
  }

  std::uint32_t idr_base_ = 0;

 private:
  KernelReader& rd_;
  const TaskLayout& l_;
  const TaskLimits& lim_;
  ReadPlan idr_plan_, list_plan_;
};

// The first symbol of that name that is an address (not a per-CPU offset).
// Per-CPU idle tasks and what runs on each CPU: (idle, curr) per CPU, three batches.
struct CpuTasks {
  std::vector<std::uint64_t> idle, curr;
  std::optional<std::uint32_t> panic_cpu;
};

CpuTasks cpu_tasks(KernelReader& rd, const TaskLayout& l, const SymbolTable& syms,
                   const TaskLimits& lim, std::vector<std::string>& warnings) {
  CpuTasks c;
  const Symbol* nr = syms.find_address("nr_cpu_ids");
  const Symbol* offs = syms.find_address("__per_cpu_offset");
  // runqueues is per-CPU: its kallsyms value is an offset into each CPU's area (x86-64 up to
  // 6.14) or its link-time address (6.15+); either way rq = value + __per_cpu_offset[cpu].
  const auto rqs = syms.find("runqueues");
  const Symbol* rq = rqs.empty() ? nullptr : rqs.front();
  if (!nr || !offs || !rq || !l.has_runqueues()) {
    warnings.push_back("idle tasks: only init_task (needs nr_cpu_ids, __per_cpu_offset, "
                       "runqueues and struct rq)");
    return c;
  }
  std::uint8_t nb[4] = {}, pb[4] = {};
  std::vector<VaRead> r1 = {{nr->address, nb}};
  const Symbol* pc = syms.find_address("panic_cpu");
  if (pc) r1.push_back({pc->address, pb});
  auto s1 = rd.read(r1);
  const std::uint32_t n = s1[0] ? load_le32(nb) : 0;
  if (n == 0 || n > lim.max_cpus) {
    warnings.push_back(fmt::format("idle tasks: nr_cpu_ids {} is not plausible", n));
    return c;
  }
  // Any value but a CPU number (-1: no panic) says nothing.
  if (pc && s1[1] && load_le32(pb) < n) c.panic_cpu = load_le32(pb);
  std::vector<std::uint8_t> ob(8ull * n);
  std::vector<VaRead> r2 = {{offs->address, ob}};
  if (auto s2 = rd.read(r2); !s2[0]) {
    warnings.push_back("idle tasks: __per_cpu_offset unreadable: " + s2[0].error().message);
    return c;
  }
  std::vector<std::uint8_t> tb(16ull * n);
  std::vector<VaRead> r3;
  for (std::uint32_t cpu = 0; cpu < n; ++cpu) {
    const std::uint64_t base = rq->address + load_le64(ob.data() + 8 * cpu);
    r3.push_back({base + l.rq_idle.offset, std::span(tb).subspan(16 * cpu, 8)});
    r3.push_back({base + l.rq_curr.offset, std::span(tb).subspan(16 * cpu + 8, 8)});
  }
  auto s3 = rd.read(r3);
  for (std::uint32_t cpu = 0; cpu < n; ++cpu) {
    if (!s3[2 * cpu] || !s3[2 * cpu + 1]) {
      warnings.push_back(fmt::format("idle tasks: runqueue of CPU {} unreadable", cpu));
      c.idle.push_back(0);
      c.curr.push_back(0);
      continue;
    }
    c.idle.push_back(load_le64(tb.data() + 16 * cpu));
    c.curr.push_back(load_le64(tb.data() + 16 * cpu + 8));
  }
  return c;
}

// The threads of every leader found by the list walk: each signal->thread_head ring
// (task->thread_node, 6.7+ and backported to 6.1) walked for all leaders in parallel, a batch
// of links and a batch of tasks per round; back links checked, rounds and tasks capped.
// Before 6.7 (which removed task_struct.thread_group), where thread_node is absent, the ring
// is task->thread_group (kernel/fork.c copy_process: list_add_tail_rcu to the leader's): every thread's node and no head, so the walk ends
// back at the leader's node.
void walk_threads(KernelReader& rd, Walker& w, const TaskLayout& l, const TaskLimits& lim,
                  std::vector<RawTask>& raws) {
  const bool headed = l.signal.present && l.thread_node.present && l.thread_head.present;
  if (!headed && !l.thread_group.present) {
    w.warn("threads not listed: types lack task_struct.signal/thread_node with "
           "signal_struct.thread_head, and task_struct.thread_group");
    return;
  }
  const Field node = headed ? l.thread_node : l.thread_group;
  struct Ring {
    std::uint64_t head = 0, start = 0, prev = 0, next = 0;  // list nodes (head 0: none)
    std::int32_t tgid = 0;
    bool done = false;
  };
  std::vector<Ring> rings;
  {
    const std::size_t leaders = raws.size();
    std::vector<std::array<std::uint8_t, 24>> b(leaders);
    std::vector<VaRead> reads;
    for (std::size_t i = 0; i < leaders; ++i) {
      // Without a head the signal pointer is not needed: read the node twice instead.
      reads.push_back({raws[i].t.address + (headed ? l.signal.offset : node.offset),
                       std::span(b[i]).subspan(0, 8)});
      reads.push_back({raws[i].t.address + node.offset + l.list_next.offset,
                       std::span(b[i]).subspan(8, 8)});
    }
    auto st = rd.read(reads);
    for (std::size_t i = 0; i < leaders; ++i) {
      if (!st[2 * i] || !st[2 * i + 1]) continue;
      Ring r;
      r.head = headed ? load_le64(b[i].data()) + l.thread_head.offset : 0;
      r.start = r.prev = raws[i].t.address + node.offset;
      r.next = load_le64(b[i].data() + 8);
      r.tgid = raws[i].t.tgid;
      rings.push_back(r);
    }
  }
  std::unordered_set<std::uint64_t> seen;
  for (auto& r : raws) seen.insert(r.t.address);
  for (std::size_t round = 0; round < lim.max_tasks; ++round) {
    // Step over the ring's head (it is in signal_struct, not a task): one link read.
    std::vector<std::array<std::uint8_t, 8>> hb(rings.size());
    std::vector<VaRead> heads;
    std::vector<std::size_t> hidx;
    for (std::size_t i = 0; i < rings.size(); ++i)
      if (!rings[i].done && rings[i].head && rings[i].next == rings[i].head) {
        heads.push_back({rings[i].head + l.list_next.offset, hb[i]});
        hidx.push_back(i);
        rings[i].prev = rings[i].head;
      }
    auto hs = rd.read(heads);
    for (std::size_t k = 0; k < hs.size(); ++k) {
      Ring& r = rings[hidx[k]];
      if (hs[k]) r.next = load_le64(hb[hidx[k]].data());
      else r.done = true;
    }
    std::vector<std::uint64_t> addrs;
    std::vector<std::size_t> who;
    for (std::size_t i = 0; i < rings.size(); ++i) {
      Ring& r = rings[i];
      if (r.done) continue;
      if (r.next == r.start || (r.head && r.next == r.head)) {  // back at the leader: done
        r.done = true;
        continue;
      }
      const std::uint64_t t = r.next - node.offset;
      if (!seen.insert(t).second || seen.size() > lim.max_tasks) {
        w.warn(fmt::format("threads of {}: cycle or cap at task {:#x}", r.tgid, t));
        r.done = true;
        continue;
      }
      addrs.push_back(t);
      who.push_back(i);
    }
    if (addrs.empty()) return;
    auto got = w.read_tasks(addrs);
    std::vector<std::array<std::uint8_t, 16>> nb(addrs.size());
    std::vector<VaRead> nodes;
    for (std::size_t k = 0; k < addrs.size(); ++k)
      nodes.push_back({addrs[k] + node.offset, nb[k]});
    auto ns = rd.read(nodes);
    for (std::size_t k = 0; k < addrs.size(); ++k) {
      Ring& r = rings[who[k]];
      const std::uint64_t next = ns[k] ? load_le64(nb[k].data() + l.list_next.offset) : 0;
      const std::uint64_t prev = ns[k] ? load_le64(nb[k].data() + l.list_prev.offset) : 0;
      if (!got[k] || !ns[k] || prev != r.prev || got[k]->t.tgid != r.tgid) {
        w.warn(fmt::format("threads of {} broken at task {:#x}", r.tgid, addrs[k]));
        r.done = true;
        continue;
      }
      raws.push_back(std::move(*got[k]));
      r.prev = r.next;
      r.next = next;
    }
  }
}

}  // namespace

KernelRegions kernel_regions(const KernelImage& img, const SymbolTable& syms,
                             std::uint64_t max_phys) {
  KernelRegions r;
  r.page_offset_base = img.page_offset_base;
  r.direct_map_bytes = max_phys ? max_phys : (64ull << 40);
  r.image_start = img.text_va;
  r.image_end = img.text_va + (1ull << 30);
  if (const Symbol* e = syms.find_address("_end"); e && e->address > img.text_va &&
                                              e->address - img.text_va < (1ull << 30))
    r.image_end = e->address;
  r.phys_base = img.phys_base;
  return r;
}

Result<TaskList> list_tasks(PhysicalMemory& mem, const TaskSource& src, const TaskLimits& lim,
                            Deadline deadline) {
  auto layout = task_layout(src.types);
  if (!layout) return std::unexpected(layout.error());
  const TaskLayout& l = *layout;
  const Symbol* init_task = src.symbols.find_address("init_task");
  if (!init_task) return fail(Errc::not_found, "task walk: no init_task symbol");
  KernelReader rd(mem, src.regions, deadline);
  Walker w(rd, l, lim);
  if (!w.layout_sane())
    return fail(Errc::malformed, "task walk: task_struct fields beyond 64 KiB: types corrupt");

  TaskList out;
  CpuTasks cpus = cpu_tasks(rd, l, src.symbols, lim, out.warnings);
  std::vector<std::uint64_t> idle = cpus.idle;
  if (idle.empty()) idle.push_back(init_task->address);

  std::vector<RawTask> raws;       // every task read, IDR or list
  std::vector<std::uint32_t> idle_cpu;
  bool idr_done = false;
  const Symbol* ns = src.symbols.find_address("init_pid_ns");
  if (!l.has_idr() || !ns) {
    out.warnings.push_back("pid IDR unusable (" +
                           std::string(!ns ? "no init_pid_ns symbol" : "types lack its members") +
                           "): walked the tasks list");
  } else {
    // A live target changes while it is read: walk again (bounded) when a check failed.
    for (int attempt = 1; attempt <= std::max(1, lim.attempts); ++attempt) {
      out.stats.attempts = attempt;
      w.warnings.clear();
      int transient = 0;
      std::vector<Walker::IdrEntry> entries;
      if (!w.walk_idr(ns->address, entries, transient)) break;
      std::vector<Walker::PidTask> pt = w.read_pids(entries, transient);
      std::vector<std::uint64_t> addrs;
      for (auto& p : pt) addrs.push_back(p.task);
      addrs.insert(addrs.end(), idle.begin(), idle.end());
      auto got = w.read_tasks(addrs);
      raws.clear();
      idle_cpu.clear();
      std::unordered_set<std::uint64_t> dup;
      for (std::size_t i = 0; i < got.size(); ++i) {
        if (!got[i]) {
          if (i < pt.size()) ++transient;
          continue;
        }
        RawTask& r = *got[i];
        if (i < pt.size()) {
          const std::uint64_t head = pt[i].pid + l.pid_tasks.offset;
          if (r.t.pid != pt[i].nr || (r.has_pprev && r.links_pprev != head)) {
            w.warn(fmt::format("task {:#x}: pid {} / pid_links.pprev {:#x}, expected pid {} and "
                               "{:#x}", r.t.address, r.t.pid, r.links_pprev, pt[i].nr, head));
            ++transient;
            continue;
          }
        } else {
          r.t.idle = true;
          if (r.t.pid != 0) {
            w.warn(fmt::format("idle task {:#x} of CPU {} has pid {}", r.t.address,
                               i - pt.size(), r.t.pid));
            continue;
          }
          idle_cpu.push_back(static_cast<std::uint32_t>(i - pt.size()));
        }
        if (!dup.insert(r.t.address).second) continue;
        raws.push_back(std::move(r));
      }
      idr_done = true;
      if (transient == 0) break;
    }
    if (idr_done) out.method = "pid idr";
    if (!idr_done) out.warnings.push_back("pid IDR unusable: walked the tasks list");
  }

  if (!idr_done) {
    out.method = "tasks list";
    out.complete = false;
    // init_task first, then one link at a time: each step needs the previous one.
    const std::uint64_t head = init_task->address + l.tasks.offset;
    auto got = w.read_tasks({init_task->address}, true);
    std::unordered_set<std::uint64_t> seen = {init_task->address};
    std::optional<RawTask> cur = got[0];
    if (!cur) w.warn("tasks list: init_task unreadable");
    while (cur) {
      const std::uint64_t next = cur->tasks_next;
      if (next == head) break;  // the ring closed
      const std::uint64_t t = next - l.tasks.offset;
      const std::string where = fmt::format("after pid {} (task {:#x})", cur->t.pid, cur->t.address);
      if (!rd.valid(t + l.tasks.offset, 16)) {
        w.warn(fmt::format("tasks list broken {}: next {:#x} is not a kernel address", where, next));
        break;
      }
      if (!seen.insert(t).second) {
        w.warn(fmt::format("tasks list broken {}: cycle back to task {:#x}", where, t));
        break;
      }
      if (seen.size() > lim.max_tasks) {
        w.warn(fmt::format("tasks list: more than {} tasks; stopped there", lim.max_tasks));
        break;
      }
      auto n = w.read_tasks({t}, true);
      if (!n[0]) {
        w.warn(fmt::format("tasks list broken {}: task {:#x} unreadable", where, t));
        break;
      }
      if (n[0]->tasks_prev != cur->t.address + l.tasks.offset) {
        w.warn(fmt::format("tasks list broken {}: task {:#x} prev {:#x} does not point back",
                           where, t, n[0]->tasks_prev));
        break;
      }
      if (cur->t.address != init_task->address) raws.push_back(*cur);
      cur = std::move(n[0]);
    }
    if (cur && cur->t.address != init_task->address) raws.push_back(*cur);
    walk_threads(rd, w, l, lim, raws);
    // Idle tasks in one batch.
    auto it = w.read_tasks(idle);
    for (std::size_t i = 0; i < it.size(); ++i) {
      if (!it[i] || it[i]->t.pid != 0) continue;
      it[i]->t.idle = true;
      idle_cpu.push_back(static_cast<std::uint32_t>(i));
      raws.push_back(std::move(*it[i]));
    }
  }

  // One more batch for what the task reads point at: the tgid of each real_parent not among
  // the tasks read, mm->pgd of each distinct mm, and (IDR walk) the tasks links of the group
  // leaders whose links did not come free with their task (for the cross-check below).
  std::unordered_map<std::uint64_t, std::int32_t> tgid_of;
  for (auto& r : raws) tgid_of[r.t.address] = r.t.tgid;
  tgid_of.emplace(init_task->address, 0);
  std::vector<std::uint64_t> missing, mms;
  for (auto& r : raws) {
    if (!tgid_of.contains(r.real_parent)) missing.push_back(r.real_parent);
    if (r.t.mm) mms.push_back(r.t.mm);
  }
  for (auto* v : {&missing, &mms}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  if (!l.mm_pgd.present) mms.clear();
  std::vector<RawTask*> unlinked;
  if (idr_done)
    for (auto& r : raws)
      if (!r.t.idle && r.t.leader() && !r.t.exit_state && !r.has_links) unlinked.push_back(&r);
  std::vector<std::array<std::uint8_t, 16>> fb(missing.size() + mms.size() + unlinked.size());
  std::vector<VaRead> reads;
  std::vector<std::size_t> idx;
  auto want = [&](std::size_t i, std::uint64_t at, std::uint64_t size) {
    reads.push_back({at, std::span(fb[i]).subspan(0, size)});
    idx.push_back(i);
  };
  for (std::size_t i = 0; i < missing.size(); ++i)
    if (rd.valid(missing[i], l.tgid.end())) want(i, missing[i] + l.tgid.offset, 4);
  for (std::size_t i = 0; i < mms.size(); ++i)
    if (rd.valid(mms[i] + l.mm_pgd.offset, 8)) want(missing.size() + i, mms[i] + l.mm_pgd.offset, 8);
  for (std::size_t i = 0; i < unlinked.size(); ++i)
    want(missing.size() + mms.size() + i, unlinked[i]->t.address + l.tasks.offset, 16);
  std::vector<bool> got(fb.size(), false);
  if (!reads.empty()) {
    auto st = rd.read(reads);
    for (std::size_t k = 0; k < st.size(); ++k) got[idx[k]] = st[k].has_value();
  }
  for (std::size_t i = 0; i < missing.size(); ++i)
    if (got[i]) tgid_of[missing[i]] = static_cast<std::int32_t>(load_le32(fb[i].data()));
  std::size_t orphans = 0;
  for (auto& r : raws) {
    auto it = tgid_of.find(r.real_parent);
    if (it != tgid_of.end()) r.t.ppid = it->second;
    else ++orphans;
  }
  if (orphans) w.warn(fmt::format("{} tasks with an unreadable real_parent (ppid -1)", orphans));

  // Page tables: mm->pgd is a direct-map address of a page-aligned table (pgd_alloc()).
  if (l.mm_pgd.present) {
    std::unordered_map<std::uint64_t, std::uint64_t> pgd;
    for (std::size_t i = 0; i < mms.size(); ++i) {
      if (!got[missing.size() + i]) continue;
      const std::uint64_t va = load_le64(fb[missing.size() + i].data());
      if (va % kPageSize == 0 && rd.in_direct_map(va)) pgd[mms[i]] = rd.phys(va, 8)->value;
    }
    std::size_t bad = 0;
    for (auto& r : raws) {
      if (!r.t.mm) continue;
      if (auto it = pgd.find(r.t.mm); it != pgd.end()) r.t.pgd = it->second;
      else ++bad;
    }
    if (bad) w.warn(fmt::format("{} tasks whose mm->pgd could not be read", bad));
  }
  for (std::size_t i = 0; i < unlinked.size(); ++i) {
    const std::size_t at = missing.size() + mms.size() + i;
    if (!got[at]) continue;
    unlinked[i]->tasks_next = load_le64(fb[at].data() + l.list_next.offset);
    unlinked[i]->tasks_prev = load_le64(fb[at].data() + l.list_prev.offset);
    unlinked[i]->has_links = true;
  }

  // Cross-check: the leaders' tasks list links point back.
  if (idr_done) {
    std::unordered_map<std::uint64_t, const RawTask*> by_addr;
    for (auto& r : raws) by_addr[r.t.address] = &r;
    std::size_t broken = 0;
    for (auto& r : raws) {
      if (r.t.idle || !r.t.leader() || r.t.exit_state || !r.has_links) continue;
      auto it = by_addr.find(r.tasks_next - l.tasks.offset);
      if (it == by_addr.end() || !it->second->has_links) continue;  // init_task or not read
      if (it->second->tasks_prev != r.t.address + l.tasks.offset) ++broken;
    }
    if (broken)
      w.warn(fmt::format("tasks list: {} leaders whose next->prev does not point back", broken));
  }

  // Who runs where, and who panicked: the task on panic_cpu (rq->curr stays it, since
  // panic() disables preemption and interrupts and stops the other CPUs).
  out.panic_cpu = cpus.panic_cpu;
  for (auto& r : raws) {
    for (std::size_t c = 0; c < cpus.curr.size(); ++c)
      if (cpus.curr[c] == r.t.address) r.t.running_on = static_cast<std::uint32_t>(c);
    r.t.panicking = r.t.running_on && r.t.running_on == cpus.panic_cpu;
  }
  std::size_t k = 0;
  for (auto& r : raws)
    if (r.t.idle && k < idle_cpu.size() && !r.t.cpu) r.t.cpu = idle_cpu[k++];

  for (auto& s : w.warnings) out.warnings.push_back(std::move(s));
  // Every warning of the last attempt names something missing or doubtful.
  out.complete = out.warnings.empty();
  out.tasks.reserve(raws.size());
  for (auto& r : raws) out.tasks.push_back(std::move(r.t));
  std::stable_sort(out.tasks.begin(), out.tasks.end(), [](const Task& a, const Task& b) {
    if (a.idle != b.idle) return a.idle;
    if (a.idle) return a.cpu < b.cpu;
    return a.pid < b.pid;
  });
  out.stats.batches = rd.stats().batches;
  out.stats.ranges = rd.stats().ranges;
  out.stats.bytes = rd.stats().bytes;
  return out;
}

std::size_t read_saved_sps(PhysicalMemory& mem, const TaskSource& src, std::span<Task* const> tasks,
                           Deadline deadline) {
  std::vector<Task*> todo;
  for (Task* t : tasks)
    if (!t->has_saved_sp) todo.push_back(t);
  if (todo.empty()) return 0;
  auto layout = task_layout(src.types);
  if (!layout || !layout->thread_sp.present) return todo.size();
  KernelReader rd(mem, src.regions, deadline);
  std::vector<std::array<std::uint8_t, 8>> b(todo.size());
  std::vector<VaRead> reads;
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < todo.size(); ++i)
    if (todo[i]->address % 8 == 0 && rd.valid(todo[i]->address + layout->thread_sp.offset, 8)) {
      reads.push_back({todo[i]->address + layout->thread_sp.offset, b[i]});
      idx.push_back(i);
    }
  std::size_t failed = todo.size() - reads.size();
  auto st = rd.read(reads);
  for (std::size_t k = 0; k < st.size(); ++k) {
    if (!st[k]) {
      ++failed;
      continue;
    }
    todo[idx[k]]->saved_sp = load_le64(b[idx[k]].data());
    todo[idx[k]]->has_saved_sp = true;
  }
  return failed;
}

}  // namespace tlpstub::kernel
