// The task list over a simulated NetTLP link: `monitor ps`'s walk (kernel/linux/tasks.hpp:
// the pid IDR, a batch per step) against a one-read-at-a-time walk of the tasks list (about
// 7 dependent reads per task, as a simple lister does: next, pid, tgid, state, comm,
// real_parent, real_parent->tgid), on the same link in the same run.
//
//   tasks_bench --memory RAMFILE [--map SPEC] [--latency 12] [--runs N]
//
// Discovery, kallsyms and BTF are read from the file directly (not timed); only the task
// walks go through tlpsim (in-process on 127.A.B.2, the client on 127.A.B.1, A.B from the pid).
// bench/tasks_bench.sh boots a guest (optionally with many extra processes) and runs this.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "common/bytes.hpp"
#include "kernel/discovery.hpp"
#include "kernel/address_space.hpp"
#include "kernel/linux/orc.hpp"
#include "kernel/linux/switch_frame.hpp"
#include "kernel/linux/task_layout.hpp"
#include "kernel/linux/task_stacks.hpp"
#include "kernel/linux/unwind.hpp"
#include "kernel/linux/tasks.hpp"
#include "kernel/symbols/btf_locate.hpp"
#include "kernel/symbols/kallsyms.hpp"
#include "transport/memory_file.hpp"
#include "transport/nettlp_client.hpp"
#include "transport/tlpsim.hpp"

using namespace tlpstub;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// One dependent read at a time: what a lister without batching costs (the reference lister
// issued ~6 per task). Processes from the tasks list, then each one's threads from its
// signal->thread_head ring (6.7+ and 6.1 stable; the thread_group ring before), so it lists
// the same tasks as the IDR walk but for the idle ones.
struct SerialCount {
  std::size_t processes = 0, tasks = 0;
};

SerialCount serial_walk(kernel::KernelReader& rd, const kernel::TaskLayout& l,
                        std::uint64_t init_task, std::size_t cap) {
  auto u64 = [&](std::uint64_t va, std::uint64_t size) -> std::optional<std::uint64_t> {
    std::uint8_t b[16] = {};
    kernel::VaRead r{va, std::span(b, size)};
    auto st = rd.read(std::span(&r, 1));
    if (!st[0]) return std::nullopt;
    return size >= 8 ? load_le64(b) : load_le32(b);
  };
  // The fields of one task, one read each, as `ps` needs them.
  auto fields = [&](std::uint64_t t) {
    auto pid = u64(t + l.pid.offset, 4);
    auto tgid = u64(t + l.tgid.offset, 4);
    auto state = u64(t + l.state.offset, 4);
    std::uint8_t comm[16];
    kernel::VaRead r{t + l.comm.offset, comm};
    (void)rd.read(std::span(&r, 1));
    auto parent = u64(t + l.real_parent.offset, 8);
    if (parent) (void)u64(*parent + l.tgid.offset, 4);
    return pid && tgid && state;
  };
  const bool headed = l.signal.present && l.thread_node.present && l.thread_head.present;
  const kernel::Field node = headed ? l.thread_node : l.thread_group;
  SerialCount n;
  std::uint64_t head = init_task + l.tasks.offset, link = head;
  std::unordered_set<std::uint64_t> seen;
  while (n.tasks < cap) {
    auto next = u64(link + l.list_next.offset, 8);
    if (!next || *next == head || !seen.insert(*next).second) break;
    const std::uint64_t t = *next - l.tasks.offset;
    if (!fields(t)) break;
    link = *next;
    ++n.processes;
    ++n.tasks;
    if (!node.present) continue;
    // Its other threads: the ring through task->thread_node (headed by signal->thread_head).
    const std::uint64_t start = t + node.offset;
    std::uint64_t ring_head = start;
    if (headed) {
      auto sig = u64(t + l.signal.offset, 8);
      if (!sig) continue;
      ring_head = *sig + l.thread_head.offset;
    }
    for (auto at = u64(start + l.list_next.offset, 8); at && n.tasks < cap;
         at = u64(*at + l.list_next.offset, 8)) {
      if (*at == ring_head && headed) at = u64(ring_head + l.list_next.offset, 8);
      if (!at || *at == start || !seen.insert(*at).second) break;
      if (!fields(*at - node.offset)) break;
      ++n.tasks;
    }
  }
  return n;
}

// `monitor bt all`'s reads of every task's stack and their ORC unwinds; `batched`: every
// task's thread.sp in one batch (the walk leaves it out: kernel::read_saved_sps), then one
// read_task_stacks (kernel/linux/task_stacks.hpp); else per task a switch-frame read and then
// the whole stack, one task after the other (what bt did before; thread.sp as the batched run
// read it). Counts clean traces.
std::size_t trace_all(PhysicalMemory& mem, const kernel::KernelImage& img,
                      const kernel::TaskLayout& l, const kernel::TaskSource& src,
                      const kernel::OrcTable& orc, std::vector<kernel::Task>& tasks,
                      bool batched) {
  constexpr std::uint64_t kThreadSize = 16 << 10;
  const kernel::KernelRegions& r = src.regions;
  kernel::PageWalker walker(mem, img.levels, img.sme_mask);
  kernel::AddressSpace as(mem, walker, img.top);
  std::vector<const kernel::Task*> ptrs;
  for (const kernel::Task& t : tasks) ptrs.push_back(&t);
  std::vector<kernel::TaskStack> stacks;
  if (batched) {
    std::vector<kernel::Task*> all;
    for (kernel::Task& t : tasks) all.push_back(&t);
    kernel::read_saved_sps(mem, src, all);
    stacks = kernel::read_task_stacks(as, ptrs, kThreadSize, true);
  } else {
    for (const kernel::Task* t : ptrs) {
      kernel::TaskStack st;
      st.base = t->stack;
      if (t->stack && !t->running_on &&
          !kernel::read_switch_frame(as, l, t->saved_sp, r.image_start, r.image_end)) {
        stacks.push_back(st);
        continue;
      }
      std::vector<std::uint8_t> b(kThreadSize);
      if (t->stack && as.read(VirtAddr(t->stack), b).complete()) st.bytes = std::move(b);
      stacks.push_back(std::move(st));
    }
  }
  std::size_t clean = 0;
  for (std::size_t i = 0; i < ptrs.size(); ++i) {
    const kernel::Task& t = *ptrs[i];
    const kernel::TaskStack& st = stacks[i];
    if (!st.bytes) continue;
    const kernel::StackImage img_{st.base, *st.bytes};
    kernel::StackTrace tr;
    if (t.running_on) {
      tr = kernel::scan_stack(img_, orc, r.image_start, r.image_end);
    } else {
      const std::uint64_t off = t.saved_sp - st.base;
      if (t.saved_sp < st.base || off > st.bytes->size()) continue;
      auto fr = kernel::decode_switch_frame(l, t.saved_sp,
                                            std::span(*st.bytes).subspan(off), r.image_start,
                                            r.image_end);
      if (!fr) continue;
      tr = kernel::unwind_stack(img_, &orc, {fr->rip, fr->rsp, fr->rbp, false}, r.image_start,
                                r.image_end);
    }
    clean += tr.complete;
  }
  return clean;
}

}  // namespace

int main(int argc, char** argv) {
  std::string memory, map_spec;
  double latency_us = 12;
  int runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--memory") memory = argv[i + 1];
    else if (k == "--map") map_spec = argv[i + 1];
    else if (k == "--latency") latency_us = std::stod(argv[i + 1]);
    else if (k == "--runs") runs = std::stoi(argv[i + 1]);
    else return std::fprintf(stderr, "unknown option %s\n", k.c_str()), 2;
  }
  if (memory.empty()) return std::fprintf(stderr, "usage: tasks_bench --memory RAMFILE ...\n"), 2;
  spdlog::set_level(spdlog::level::warn);
  std::vector<MapEntry> map;
  if (!map_spec.empty()) {
    auto m = parse_memory_map(map_spec);
    if (!m) return std::fprintf(stderr, "%s\n", m.error().message.c_str()), 2;
    map = *m;
  }
  auto file = MemoryFile::open(memory, map);
  if (!file) return std::fprintf(stderr, "%s\n", file.error().message.c_str()), 1;
  PhysicalMemory& local = **file;  // the file itself, for the untimed steps
  std::shared_ptr<const MemoryFile> shared(std::move(*file));

  auto img = kernel::discover(local, {}, [](std::string_view) {});
  if (!img) return std::fprintf(stderr, "discovery: %s\n", img.error().message.c_str()), 1;
  auto syms = kernel::recover_symbols(local, *img);
  if (!syms) return std::fprintf(stderr, "kallsyms: %s\n", syms.error().message.c_str()), 1;
  auto btf = kernel::recover_btf(local, *img, kernel::btf_range(syms->table));
  if (!btf) return std::fprintf(stderr, "BTF: %s\n", btf.error().message.c_str()), 1;
  const kernel::TypeInfo types(btf->btf);
  auto layout = kernel::task_layout(types);
  if (!layout) return std::fprintf(stderr, "%s\n", layout.error().message.c_str()), 1;
  const kernel::KernelRegions regions =
      kernel::kernel_regions(*img, syms->table, local.info().max_address);

  const unsigned pid = static_cast<unsigned>(getpid());
  const std::string net = fmt::format("127.{}.{}.", 1 + pid % 250, 1 + pid / 250 % 250);
  TlpSimOptions so;
  so.listen_ip = net + "2";
  so.latency = std::chrono::nanoseconds(static_cast<long>(latency_us * 1000));
  auto sim = TlpSim::open(shared, so);
  if (!sim) return std::fprintf(stderr, "tlpsim: %s\n", sim.error().message.c_str()), 1;
  (*sim)->start();
  NetTlpOptions no;
  no.adapter_ip = net + "2";
  no.local_ip = net + "1";

  auto orc_fmt = kernel::orc_format(&types, img->release);
  if (!orc_fmt) return std::fprintf(stderr, "ORC: %s\n", orc_fmt.error().message.c_str()), 1;
  kernel::KernelReader local_rd(local, regions);
  auto orc = kernel::read_orc_table(local_rd, syms->table, *orc_fmt);
  if (!orc) return std::fprintf(stderr, "ORC: %s\n", orc.error().message.c_str()), 1;

  fmt::print("{}, link latency {} us\n", img->release, latency_us);
  for (int run = 0; run < runs; ++run) {
    auto c = NetTlpClient::open(no);
    if (!c) return std::fprintf(stderr, "client: %s\n", c.error().message.c_str()), 1;
    auto t0 = Clock::now();
    auto l = kernel::list_tasks(**c, {types, syms->table, regions});
    const double t = since(t0);
    if (!l) return std::fprintf(stderr, "tasks: %s\n", l.error().message.c_str()), 1;
    const TransportStats& st = (*c)->stats();
    std::size_t leaders = 0;
    for (auto& x : l->tasks) leaders += !x.idle && x.leader();
    const std::uint64_t batches = st.batches.load(), requests = st.requests.load(),
                        completions = st.completions.load();
    fmt::print("  pid IDR walk     {:8.1f} ms  {:5} tasks ({} processes)  {:3} batches  {:6} "
               "requests  {:6} completions  {:.1f} datagrams/task  {:.4f} batches/task{}\n",
               t * 1e3, l->tasks.size(), leaders, batches, requests, completions,
               double(requests + completions) / double(l->tasks.size()),
               double(batches) / double(l->tasks.size()), l->complete ? "" : "  (partial)");
    c->reset();  // one client at a time on the link's address
    auto c2 = NetTlpClient::open(no);
    if (!c2) return std::fprintf(stderr, "client: %s\n", c2.error().message.c_str()), 1;
    kernel::KernelReader rd(**c2, regions);
    const kernel::Symbol* init = syms->table.find("init_task").front();
    t0 = Clock::now();
    const SerialCount n = serial_walk(rd, *layout, init->address, 1u << 20);
    const double t2 = since(t0);
    const TransportStats& st2 = (*c2)->stats();
    fmt::print("  one-at-a-time    {:8.1f} ms  {:5} tasks ({} processes)  {:6} batches  {:6} "
               "requests  {:.1f} batches/task  ({:.1f}x the IDR walk's time)\n",
               t2 * 1e3, n.tasks, n.processes, st2.batches.load(), st2.requests.load(),
               double(st2.batches.load()) / double(std::max<std::size_t>(n.tasks, 1)), t2 / t);
    c2->reset();
    // bt all: the stacks of the tasks the IDR walk found, read and unwound.
    double bt_batched = 0;
    std::vector<kernel::Task> bt_tasks = l->tasks;
    for (bool batched : {true, false}) {
      auto c3 = NetTlpClient::open(no);
      if (!c3) return std::fprintf(stderr, "client: %s\n", c3.error().message.c_str()), 1;
      t0 = Clock::now();
      const std::size_t clean =
          trace_all(**c3, *img, *layout, {types, syms->table, regions}, *orc, bt_tasks, batched);
      const double t3 = since(t0);
      if (batched) bt_batched = t3;
      const TransportStats& st3 = (*c3)->stats();
      fmt::print("  bt all {:9} {:8.1f} ms  {:5} tasks ({} traced to the end)  {:6} batches  "
                 "{:6} requests  {:6} completions  {:.1f} MiB{}\n",
                 batched ? "batched" : "per task", t3 * 1e3, l->tasks.size(), clean,
                 st3.batches.load(), st3.requests.load(), st3.completions.load(),
                 double(st3.bytes.load()) / 1048576.0,
                 batched ? std::string() : fmt::format("  ({:.1f}x the batched time)",
                                                       t3 / bt_batched));
      c3->reset();
    }
  }
  (*sim)->stop();
  return 0;
}
