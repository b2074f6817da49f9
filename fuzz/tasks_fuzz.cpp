// Fuzzes the task walker (kernel/linux/tasks: the pid IDR, struct pids, task_structs, the tasks
// ring fallback, thread lists, runqueues) over hostile memory. A small made-up kernel is built
// in fake memory (tests/kernel/linux/fake_tasks.hpp, its own offsets), then the input
// overwrites words of it: records of 13 bytes [u8 area][u32 offset][u64 value], the area one of
// the direct-map objects (tasks, xa_nodes, pids, runqueues, mms), the kernel image's objects
// (init_task, init_pid_ns, nr_cpu_ids, __per_cpu_offset) or the signal_structs.
// Invariants: no crash, sanitizer report or hang (libFuzzer's -timeout); never more tasks than
// the limit; a complete walk only when nothing was damaged or the damage did not matter.
#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>

#include "kernel/linux/tasks.hpp"
#include "tests/kernel/linux/fake_tasks.hpp"

using namespace tlpstub;

namespace {

std::uint64_t take_le(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= std::uint64_t{p[i]} << (8 * i);
  return v;
}

// The two made-up kernels are built once (16 MiB of fake image each); every input's writes
// are undone after its walk, so runs stay independent and fast.
test::FakeTasks& kernel_for(bool thread_group) {
  auto build = [](bool tg) {
    auto* k = new test::FakeTasks(2, tg);
    k->add(1, 1, 0, "init", 1);
    k->add(2, 2, 0, "kthreadd", 1, false);
    k->add(100, 100, 1, "server", 1);
    k->add(101, 100, 1, "worker", 2);
    k->add(130, 130, 100, "child", 4);
    k->build_idr();
    return k;
  };
  static test::FakeTasks* kernels[2] = {build(false), build(true)};
  return *kernels[thread_group ? 1 : 0];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Bit 0 of the first byte: a kernel before 6.7 (task_struct.thread_group, no thread_node).
  test::FakeTasks& k = kernel_for(size > 0 && (data[0] & 1));
  struct Area {
    std::uint64_t pa, len;
  };
  const std::uint64_t image = test::FakeTasks::kText + 0x800000;
  const Area areas[] = {
      {0x100000, k.next_pa - 0x100000},
      {k.pa(image), k.next_image - image},
      {0x2400000, k.next_signal_pa - 0x2400000},
  };
  constexpr std::size_t kRecord = 13;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> undo;  // (address, old value)
  for (std::size_t at = 1; at + kRecord <= size; at += kRecord) {
    const Area& a = areas[data[at] % 3];
    if (a.len < 8) continue;
    const std::uint64_t pa = a.pa + ((take_le(data + at + 1, 4) % (a.len - 7)) & ~3ull);
    undo.emplace_back(pa, k.mem.peek_u64(PhysAddr(pa)));
    k.mem.write_u64(PhysAddr(pa), take_le(data + at + 5, 8));
  }
  const kernel::SymbolTable st = k.table();
  kernel::TaskLimits lim;
  lim.max_tasks = 512;
  lim.max_nodes = 256;
  lim.max_cpus = 64;
  k.mem.reset_counters();
  auto list = kernel::list_tasks(k.mem, kernel::TaskSource{k.types, st, k.regions()}, lim);
  for (auto it = undo.rbegin(); it != undo.rend(); ++it)
    k.mem.write_u64(PhysAddr(it->first), it->second);
  if (list && list->tasks.size() > lim.max_tasks + lim.max_cpus) std::abort();  // + idle tasks
  // Undamaged: the whole list (5 tasks and 2 idle ones), so the harness itself is sound.
  if (undo.empty() && size < 1 + kRecord && (!list || !list->complete || list->tasks.size() != 7))
    std::abort();
  return 0;
}
