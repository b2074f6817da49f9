// task_struct.on_cpu and the task's CPU (thread_info.cpu, or cpu before 5.16) by data
// consistency over the task each CPU runs (offset_inference.hpp, issue 8).
//
// The running task of CPU c is per-CPU `current_task` (arch/x86/include/asm/current.h up to
// 6.1) or `pcpu_hot.current_task` (6.2+, its first member), at the symbol's value +
// __per_cpu_offset[c] for c < nr_cpu_ids. kernel/sched/core.c (6.1, 6.12):
//  - a running task has on_cpu == 1 (prepare_task() before the switch; init_idle() sets it
//    for each idle task); tasks on the ring that run nowhere have 0;
//  - the running task of CPU c has task_cpu == c; init_task is CPU 0's idle task, which never
//    migrates (0); every task's CPU is below nr_cpu_ids.
// These facts rarely single out one member: on an idle machine on_rq is also 1 in the running
// idle tasks and 0 in sleepers, and wake_cpu follows task_cpu. So the data method lists the
// offsets it allows (`candidates`) and answers alone only when one is left; the code method
// (offset_inference_code.cpp) then must land on one of them. With one CPU every task's CPU is
// 0 and the data says nothing about it: the reason says so.
#include <fmt/format.h>

#include <algorithm>

#include "common/bytes.hpp"
#include "kernel/symbols/offset_inference_detail.hpp"

namespace tlpstub::kernel::infer {

namespace {

constexpr std::uint32_t kCpuMaxCpus = 8192;   // NR_CPUS of Debian's kernels
constexpr std::size_t kCpuMinIdleSample = 3;  // tasks not running needed for on_cpu

std::uint32_t cpu_u32(std::span<const std::uint8_t> b, std::uint64_t off) {
  return off + 4 <= b.size() ? load_le32(b.data() + off) : ~0u;
}

Finding cpu_none(std::string why) { return Finding{std::nullopt, std::move(why), {}}; }

Finding cpu_from(std::vector<std::uint64_t> c, std::string_view what, std::string how) {
  if (c.size() == 1) return Finding{c[0], std::move(how), c};
  std::string list;
  for (std::size_t i = 0; i < c.size() && i < 8; ++i) list += fmt::format("{}{}", i ? "," : "", c[i]);
  return Finding{std::nullopt,
                 c.empty() ? fmt::format("no {}", what)
                           : fmt::format("{} offsets fit {} ({}): not one", c.size(), what, list),
                 std::move(c)};
}

}  // namespace

Findings infer_cpu_from_data(const CpuInputs& in, const VirtualReader& read) {
  Findings f;
  const char* cpu_key = in.cpu_in_thread_info ? kCpu : kCpuOld;
  auto all = [&](const std::string& why) {
    f[kOnCpu] = f[cpu_key] = cpu_none(why);
    return f;
  };
  if (!in.nr_cpu_ids_va || !in.per_cpu_offset_va || !in.current_known)
    return all("needs nr_cpu_ids, __per_cpu_offset and current_task or pcpu_hot");
  const VirtualRead r1[1] = {{in.nr_cpu_ids_va, 4}};
  auto g1 = read(r1);
  const std::uint32_t n = g1[0] ? load_le32(g1[0]->data()) : 0;
  if (n == 0 || n > kCpuMaxCpus) return all(fmt::format("nr_cpu_ids {} is not plausible", n));
  const VirtualRead r2[1] = {{in.per_cpu_offset_va, 8ull * n}};
  auto g2 = read(r2);
  if (!g2[0]) return all("__per_cpu_offset unreadable");
  std::vector<VirtualRead> r3;
  for (std::uint32_t c = 0; c < n; ++c)
    r3.push_back({in.current_off + load_le64(g2[0]->data() + 8 * c), 8});
  auto g3 = read(r3);
  std::vector<std::uint64_t> cur;
  for (std::uint32_t c = 0; c < n; ++c) {
    if (!g3[c]) return all(fmt::format("the running task of CPU {} unreadable", c));
    cur.push_back(load_le64(g3[c]->data()));
  }
  // The running tasks' bytes (init_task's are at hand).
  const std::size_t win = in.init_task.size();
  std::vector<VirtualRead> r4;
  for (std::uint64_t t : cur) r4.push_back({t == in.init_task_va ? in.init_task_va : t, win});
  auto g4 = read(r4);
  std::vector<std::vector<std::uint8_t>> running;
  for (std::uint32_t c = 0; c < n; ++c) {
    if (cur[c] == in.init_task_va) {
      running.emplace_back(in.init_task.begin(), in.init_task.end());
    } else if (g4[c]) {
      running.push_back(std::move(*g4[c]));
    } else {
      return all(fmt::format("the running task of CPU {} ({:#x}) unreadable", c, cur[c]));
    }
  }
  std::vector<std::span<const std::uint8_t>> idle;  // tasks on the ring running nowhere
  for (std::size_t i = 0; i < in.sample_vas.size() && i < in.sample.size(); ++i)
    if (std::find(cur.begin(), cur.end(), in.sample_vas[i]) == cur.end())
      idle.push_back(in.sample[i]);

  // on_cpu: 1 in every running task, 0 in every other sampled one.
  if (idle.size() < kCpuMinIdleSample) {
    f[kOnCpu] = cpu_none("fewer than three tasks that run nowhere");
  } else {
    std::vector<std::uint64_t> c;
    for (std::uint64_t o = 0; o + 4 <= win; o += 4) {
      bool ok = true;
      for (const auto& t : running) ok = ok && cpu_u32(t, o) == 1;
      for (const auto& t : idle) ok = ok && cpu_u32(t, o) == 0;
      if (ok) c.push_back(o);
    }
    f[kOnCpu] = cpu_from(std::move(c), "1 in each CPU's running task, 0 in the others",
                         fmt::format("the one int that is 1 in the {} running tasks and 0 in {} "
                                     "others", n, idle.size()));
  }
  // The task's CPU: c in CPU c's running task, 0 in init_task, below nr_cpu_ids everywhere.
  if (n == 1) {
    f[cpu_key] = cpu_none("one CPU: every task's CPU is 0, the data cannot tell which u32 it is");
    return f;
  }
  std::vector<std::uint64_t> c;
  for (std::uint64_t o = 0; o + 4 <= win; o += 4) {
    bool ok = cpu_u32(in.init_task, o) == 0;
    for (std::uint32_t k = 0; k < n && ok; ++k) ok = cpu_u32(running[k], o) == k;
    for (const auto& t : idle) ok = ok && cpu_u32(t, o) < n;
    if (ok) c.push_back(o);
  }
  f[cpu_key] = cpu_from(std::move(c), "CPU c in CPU c's running task, below nr_cpu_ids in all",
                        fmt::format("the one u32 that is c in CPU c's running task ({} CPUs)", n));
  return f;
}

}  // namespace tlpstub::kernel::infer
