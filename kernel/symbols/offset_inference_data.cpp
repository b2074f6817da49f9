// The data method of offset inference (offset_inference.hpp): what init_task and the tasks on
// its ring must hold (include/linux/sched.h, init/init_task.c, kernel/fork.c; 6.1 and 6.12).
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "common/bytes.hpp"
#include "kernel/symbols/offset_inference_detail.hpp"

namespace tlpstub::kernel::infer {

namespace {

// PF_KTHREAD (include/linux/sched.h, unchanged since 2.6).
constexpr std::uint32_t kPfKthread = 0x00200000;
// PID_MAX_LIMIT on 64-bit (include/linux/threads.h): 4 * 1024 * 1024.
constexpr std::uint32_t kPidMaxLimit = 4u << 20;
// Tasks followed on the ring at most (a pointer chase: one batch per step).
constexpr std::size_t kMaxRing = 8192;
// Tasks whose bytes are compared to find pid, mm and flags.
constexpr std::size_t kSample = 64;
// Fewer tasks than this on the ring give too little evidence for pid, mm and flags.
constexpr std::size_t kMinSample = 3;

bool infer_is_kptr(std::uint64_t v) { return v >= 0xff00000000000000ull && v != ~0ull; }

std::optional<std::uint64_t> infer_u64_at(std::span<const std::uint8_t> b, std::uint64_t off) {
  if (off > b.size() || b.size() - off < 8) return std::nullopt;
  return load_le64(b.data() + off);
}
std::optional<std::uint32_t> infer_u32_at(std::span<const std::uint8_t> b, std::uint64_t off) {
  if (off > b.size() || b.size() - off < 4) return std::nullopt;
  return load_le32(b.data() + off);
}

// A comm: 1 to 15 printable bytes, then NUL, inside 16 bytes.
bool infer_looks_like_comm(std::span<const std::uint8_t> b) {
  if (b.size() < 16) return false;
  std::size_t n = 0;
  while (n < 16 && b[n] >= 0x20 && b[n] < 0x7f) ++n;
  return n >= 1 && n < 16 && b[n] == 0;
}

// Offsets (multiple of 8) whose u64 equals v.
std::vector<std::uint64_t> infer_find_u64(std::span<const std::uint8_t> b, std::uint64_t v) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t o = 0; o + 8 <= b.size(); o += 8)
    if (load_le64(b.data() + o) == v) out.push_back(o);
  return out;
}

Finding infer_none(std::string why) { return Finding{std::nullopt, std::move(why)}; }
Finding infer_at(std::uint64_t off, std::string why) { return Finding{off, std::move(why)}; }

// One unique offset, or why not.
Finding infer_unique(const std::vector<std::uint64_t>& c, std::string_view what, std::string how) {
  if (c.size() == 1) return infer_at(c[0], std::move(how));
  if (c.empty()) return infer_none(fmt::format("no {}", what));
  return infer_none(fmt::format("{} candidates for {} (ambiguous)", c.size(), what));
}

std::string infer_list_offsets(const std::vector<std::uint64_t>& c) {
  std::string s;
  for (std::size_t i = 0; i < c.size() && i < 6; ++i) s += fmt::format("{}{}", i ? "," : "", c[i]);
  return s;
}

struct DataRun {
  const DataInputs& in;
  const VirtualReader& read;
  Findings f;
  std::vector<std::uint64_t> ring;              // tasks on the ring after init_task
  std::vector<std::vector<std::uint8_t>> sample;  // bytes of the first tasks of the ring
  std::vector<std::uint64_t> sample_vas;          // and where they are

  std::span<const std::uint8_t> t0() const { return in.init_task; }
  std::optional<std::uint64_t> off(const char* key) const {
    auto it = f.find(key);
    return it == f.end() ? std::nullopt : it->second.offset;
  }

  void comm() {
    // "swapper/0" at run time (init/main.c, idle threads named "swapper/%u" by
    // init_idle()), "swapper" as initialised (INIT_TASK_COMM).
    for (std::string_view s : {std::string_view("swapper/0\0", 10), std::string_view("swapper\0", 8)}) {
      std::vector<std::uint64_t> c;
      for (std::size_t o = 0; o + 16 <= t0().size(); ++o)
        if (std::memcmp(t0().data() + o, s.data(), s.size()) == 0) c.push_back(o);
      if (!c.empty()) {
        f[kComm] = infer_unique(c, "\"swapper/0\" in init_task",
                          fmt::format("\"{}\" in init_task", s.substr(0, s.size() - 1)));
        return;
      }
    }
    f[kComm] = infer_none("no \"swapper/0\" in init_task");
  }

  void self_pointers() {
    // real_parent and parent: the one adjacent pair both pointing to init_task (init_task.c).
    const auto c = infer_find_u64(t0(), in.init_task_va);
    std::vector<std::uint64_t> pairs;
    for (std::uint64_t o : c)
      if (std::find(c.begin(), c.end(), o + 8) != c.end()) pairs.push_back(o);
    f[kRealParent] = infer_unique(pairs, "adjacent pair of pointers to init_task",
                            "first of the one adjacent pair of pointers to init_task");
    f[kParent] = f[kRealParent].offset
                     ? infer_at(*f[kRealParent].offset + 8, "second of the one adjacent pair of "
                                                      "pointers to init_task")
                     : f[kRealParent];
  }

  void symbol_pointer(const char* key, std::uint64_t va, std::string_view name) {
    if (!va) {
      f[key] = infer_none(fmt::format("no {} symbol", name));
      return;
    }
    f[key] = infer_unique(infer_find_u64(t0(), va), fmt::format("pointer to {} in init_task", name),
                    fmt::format("the one pointer to {} in init_task", name));
  }

  void thread_node() {
    // init_signals.thread_head and init_task.thread_node are the two nodes of a 2-ring: the
    // one thread of the idle task (init_task.c: both initialised to each other, 3.14+).
    if (!in.init_signals_va || in.init_signals.empty()) {
      f[kThreadNode] = f[kThreadHead] = infer_none("no init_signals symbol");
      return;
    }
    std::vector<std::pair<std::uint64_t, std::uint64_t>> c;  // (thread_head, thread_node)
    const auto& sig = in.init_signals;
    for (std::uint64_t s = 0; s + 16 <= sig.size(); s += 8) {
      const std::uint64_t n = load_le64(sig.data() + s), p = load_le64(sig.data() + s + 8);
      if (n != p || n < in.init_task_va || n - in.init_task_va + 16 > t0().size()) continue;
      const std::uint64_t tn = n - in.init_task_va;
      if (tn % 8) continue;
      const std::uint64_t back = in.init_signals_va + s;
      if (infer_u64_at(t0(), tn) == back && infer_u64_at(t0(), tn + 8) == back) c.emplace_back(s, tn);
    }
    if (c.size() == 1) {
      f[kThreadHead] = infer_at(c[0].first, "init_signals list_head linked only to init_task");
      f[kThreadNode] = infer_at(c[0].second, "init_task list_head linked only to init_signals");
    } else {
      f[kThreadNode] = f[kThreadHead] =
          infer_none(c.empty() ? "no list_head pair linking init_task and init_signals"
                         : "several list_head pairs link init_task and init_signals");
    }
  }

  void pgd() {
    if (!in.init_mm_va || in.init_mm.empty() || !in.top_pgt_va) {
      f[kPgd] = infer_none("no init_mm or init_top_pgt symbol");
      return;
    }
    f[kPgd] = infer_unique(infer_find_u64(in.init_mm, in.top_pgt_va), "pointer to init_top_pgt in init_mm",
                     "the one pointer to init_top_pgt in init_mm");
  }

  void thread_sp() {
    // The stack pointer saved when the idle task was last switched out points into its
    // stack, [init_stack, __end_init_task); only thread.sp does (stack is its start).
    if (!in.init_stack_va) {
      f[kThreadSp] = infer_none("no init_stack symbol");
      return;
    }
    std::vector<std::uint64_t> c;
    for (std::uint64_t o = 0; o + 8 <= t0().size(); o += 8) {
      const std::uint64_t v = load_le64(t0().data() + o);
      if (v > in.init_stack_va && v < in.init_stack_end && v % 8 == 0) c.push_back(o);
    }
    f[kThreadSp] = infer_unique(c, "pointer into init_stack in init_task",
                          "the one pointer into init_task's stack");
  }

  void state() {
    // The member right before `stack` (sched.h 4.x-6.12: thread_info, then state/__state,
    // [saved_state], stack); 0 (running) in the idle task, small bit sets in the others.
    const char* key = in.state_is_u32 ? kState : kStateOld;
    auto st = off(kStack);
    if (!st || *st < 8) {
      f[key] = infer_none("needs task_struct.stack");
      return;
    }
    const std::uint64_t o = *st - 8;
    bool ok = infer_u32_at(t0(), o) == 0u;
    for (const auto& m : sample) ok = ok && infer_u32_at(m, o).value_or(~0u) < 0x10000;
    f[key] = ok && sample.size() >= kMinSample
                 ? infer_at(o, "the member before stack: 0 in init_task, small in every task")
                 : infer_none("the member before stack does not hold task states");
  }

  // Candidate list_heads for tasks, and the first task of each.
  void tasks() {
    auto comm_off = off(kComm);
    if (!comm_off) {
      f[kTasks] = infer_none("needs task_struct.comm");
      return;
    }
    const auto rp = off(kRealParent);
    std::vector<std::uint64_t> cand;
    std::vector<VirtualRead> reads;
    for (std::uint64_t L = 0; L + 16 <= t0().size(); L += 8) {
      const std::uint64_t n = load_le64(t0().data() + L), p = load_le64(t0().data() + L + 8);
      const std::uint64_t self = in.init_task_va + L;
      if (!infer_is_kptr(n) || !infer_is_kptr(p) || n == self || p == self || n % 8 ||
          n < L)
        continue;
      cand.push_back(L);
      reads.push_back({n, 16});
      reads.push_back({n - L + *comm_off, 16});
      reads.push_back({n - L + rp.value_or(0), 8});
    }
    const auto got = read(reads);
    std::vector<std::uint64_t> closed;
    std::vector<std::vector<std::uint64_t>> rings;
    for (std::size_t i = 0; i < cand.size(); ++i) {
      const std::uint64_t L = cand[i], self = in.init_task_va + L;
      const auto& node = got[3 * i];
      const auto& comm = got[3 * i + 1];
      const auto& parent = got[3 * i + 2];
      if (!node || !comm || !infer_looks_like_comm(*comm) || infer_u64_at(*node, 8) != self) continue;
      // The first task after init_task is pid 1, child of init_task (kernel/fork.c appends).
      if (rp && (!parent || infer_u64_at(*parent, 0) != in.init_task_va)) continue;
      auto ring_nodes = follow(L, load_le64(t0().data() + L));
      if (!ring_nodes) continue;
      closed.push_back(L);
      rings.push_back(std::move(*ring_nodes));
    }
    f[kTasks] = infer_unique(closed, "list_head whose ring closes through tasks",
                       "the one list_head whose ring closes through tasks with a comm, the "
                       "first a child of init_task");
    if (closed.size() == 1) {
      for (std::uint64_t node : rings[0]) ring.push_back(node - closed[0]);
    } else if (closed.size() > 1) {
      f[kTasks].why += " at " + infer_list_offsets(closed);
    }
  }

  // Follows a ring from init_task's node through `first`; the tasks' nodes, or nullopt when
  // it does not close, a link does not point back, or a task has no comm.
  std::optional<std::vector<std::uint64_t>> follow(std::uint64_t L, std::uint64_t first) {
    const std::uint64_t head = in.init_task_va + L;
    std::vector<std::uint64_t> nodes;
    std::uint64_t prev = head, cur = first;
    const std::uint64_t comm_off = *off(kComm);
    for (std::size_t step = 0; step < kMaxRing; ++step) {
      if (cur == head) return nodes;
      if (!infer_is_kptr(cur) || cur < L) return std::nullopt;
      const VirtualRead r[2] = {{cur, 16}, {cur - L + comm_off, 16}};
      const auto got = read(r);
      if (!got[0] || !got[1] || infer_u64_at(*got[0], 8) != prev || !infer_looks_like_comm(*got[1]))
        return std::nullopt;
      nodes.push_back(cur);
      prev = cur;
      cur = load_le64(got[0]->data());
    }
    return std::nullopt;  // longer than kMaxRing: not trusted
  }

  void read_sample() {
    std::vector<VirtualRead> reads;
    for (std::size_t i = 0; i < ring.size() && i < kSample; ++i)
      reads.push_back({ring[i], t0().size()});
    auto got = read(reads);
    for (std::size_t i = 0; i < got.size(); ++i)
      if (got[i]) {
        sample.push_back(std::move(*got[i]));
        sample_vas.push_back(reads[i].va);
      }
  }

  void pid() {
    // pid, tgid: adjacent u32; 0 in init_task; equal in leaders (the ring holds leaders
    // only), distinct, pid 1 first (kernel_init is the first task forked).
    auto L = off(kTasks);
    auto rp = off(kRealParent);
    if (!L || sample.size() < kMinSample) {
      f[kPid] = f[kTgid] = infer_none("needs task_struct.tasks and three tasks");
      return;
    }
    const std::uint64_t end = rp ? *rp : t0().size();
    std::vector<std::uint64_t> c;
    for (std::uint64_t P = *L + 16; P + 8 <= end; P += 4) {
      if (infer_u32_at(t0(), P) != 0u || infer_u32_at(t0(), P + 4) != 0u) continue;
      std::set<std::uint32_t> seen;
      bool ok = infer_u32_at(sample[0], P) == 1u;
      for (const auto& m : sample) {
        const auto a = infer_u32_at(m, P), b = infer_u32_at(m, P + 4);
        ok = ok && a && a == b && *a > 0 && *a < kPidMaxLimit && seen.insert(*a).second;
        if (!ok) break;
      }
      if (ok) c.push_back(P);
    }
    f[kPid] = infer_unique(c, "pid/tgid pair", "u32 pair: 0/0 in init_task, equal and distinct in "
                                         "leaders, 1 in the first");
    f[kTgid] = f[kPid].offset ? infer_at(*f[kPid].offset + 4, "second of the pid/tgid pair") : f[kPid];
    if (c.size() > 1) f[kPid].why += " at " + infer_list_offsets(c);
  }

  void mm() {
    // mm, active_mm: adjacent pointers; mm NULL in init_task (a kernel thread) with active_mm
    // set; in user processes both the same; in kernel threads mm NULL (kernel/fork.c).
    auto L = off(kTasks);
    auto P = off(kPid);
    if (!L || sample.size() < kMinSample) {
      f[kMm] = f[kActiveMm] = infer_none("needs task_struct.tasks and three tasks");
      return;
    }
    const std::uint64_t end = P ? *P : t0().size();
    std::vector<std::uint64_t> c;
    for (std::uint64_t M = *L + 16; M + 16 <= end; M += 8) {
      if (infer_u64_at(t0(), M) != 0u || !infer_is_kptr(infer_u64_at(t0(), M + 8).value_or(0))) continue;
      std::size_t users = 0, kthreads = 0;
      bool ok = true;
      for (const auto& m : sample) {
        const std::uint64_t a = infer_u64_at(m, M).value_or(1), b = infer_u64_at(m, M + 8).value_or(2);
        if (a == 0) {
          ++kthreads;
        } else if (a == b && infer_is_kptr(a)) {
          ++users;
        } else {
          ok = false;
          break;
        }
      }
      if (ok && users && kthreads) c.push_back(M);
    }
    f[kMm] = infer_unique(c, "mm/active_mm pair", "pointer pair: NULL/set in init_task, NULL or "
                                            "equal in every task, some of each");
    f[kActiveMm] =
        f[kMm].offset ? infer_at(*f[kMm].offset + 8, "second of the mm/active_mm pair") : f[kMm];
    if (c.size() > 1) f[kMm].why += " at " + infer_list_offsets(c);
  }

  void flags() {
    // flags: the u32 with PF_KTHREAD set in init_task and in the tasks without mm, clear in
    // those with one (a zombie has no mm and no PF_KTHREAD: allowed, but rare).
    auto L = off(kTasks);
    auto M = off(kMm);
    if (!L || !M || sample.size() < kMinSample) {
      f[kFlags] = infer_none("needs task_struct.tasks, task_struct.mm and three tasks");
      return;
    }
    std::vector<std::uint64_t> c;
    for (std::uint64_t F = 0; F + 4 <= *L; F += 4) {
      if (!(infer_u32_at(t0(), F).value_or(0) & kPfKthread)) continue;
      std::size_t kthreads = 0, users = 0, other = 0;
      for (const auto& m : sample) {
        const bool k = infer_u32_at(m, F).value_or(0) & kPfKthread;
        const bool has_mm = infer_u64_at(m, *M).value_or(0) != 0;
        if (k && has_mm) {
          other = sample.size();
          break;
        }
        (k ? kthreads : has_mm ? users : other) += 1;
      }
      if (kthreads >= 2 && users >= 1 && other * 10 <= sample.size()) c.push_back(F);
    }
    f[kFlags] = infer_unique(c, "flags word", "the u32 whose PF_KTHREAD bit is set exactly in the "
                                        "tasks without mm");
    if (c.size() > 1) f[kFlags].why += " at " + infer_list_offsets(c);
  }
};

}  // namespace

DataOutcome infer_from_data(const DataInputs& in, const VirtualReader& read) {
  DataRun r{in, read, {}, {}, {}, {}};
  r.comm();
  r.self_pointers();
  r.symbol_pointer(kStack, in.init_stack_va, "init_stack");
  r.symbol_pointer(kSignal, in.init_signals_va, "init_signals");
  r.thread_node();
  r.pgd();
  r.thread_sp();
  r.tasks();
  r.read_sample();
  r.pid();
  r.mm();
  r.flags();
  r.state();
  return {std::move(r.f), r.ring.empty() ? 0 : r.ring.size() + 1, std::move(r.sample_vas),
          std::move(r.sample)};
}

}  // namespace tlpstub::kernel::infer
