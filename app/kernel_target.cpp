#include "app/kernel_target.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "app/commands/commands.hpp"
#include "app/task_threads.hpp"
#include "kernel/address_space.hpp"

namespace tlpstub::app {

using stub::MemoryReadResult;

KernelTarget::KernelTarget(TargetContext& ctx) : state_(ctx) {
  commands::register_all(monitor_, state_);
  // A long command (dump, bt, ps) reads with no deadline once its requirements were met
  // within the request's budget: gdb is kept waiting meanwhile (stub/long_request.hpp).
  monitor_.on_long_start([this] { state_.lift_deadline(); });
}

void KernelTarget::begin_request(Deadline deadline) { state_.begin_request(deadline); }

std::string KernelTarget::attach_message() {
  if (state_.snapshot().space) return {};
  return "tlpstub: " + state_.no_space_error(0).message + "\n";
}

// gdb asks for qOffsets once, while connecting, and relocates a vmlinux it already has by
// the answer: so it too waits for a running discovery (bounded by the request's deadline).
std::optional<stub::SectionOffsets> KernelTarget::offsets() {
  const auto& img = state_.snapshot().discovery.image;
  if (!img) return std::nullopt;
  return stub::SectionOffsets{img->kaslr_slide, img->kaslr_slide, img->kaslr_slide};
}

MemoryReadResult KernelTarget::read_memory(std::uint64_t addr, std::span<std::uint8_t> out) {
  if (state_.phys_mode()) return read_physical(addr, out);
  const auto& sc = state_.snapshot().space;
  if (!sc) return {0, state_.no_space_error(addr)};
  kernel::AddressSpace as(state_.memory(), state_.walker_for(*sc), sc->top);
  auto o = as.read(VirtAddr(addr), out);
  return {o.bytes_read, o.fault};
}

// Physical reads go page by page in one batch, so a read that runs into a hole returns the
// readable prefix.
MemoryReadResult KernelTarget::read_physical(std::uint64_t addr, std::span<std::uint8_t> out) {
  std::vector<ReadRange> ranges;
  std::size_t done = 0;
  while (done < out.size()) {
    std::uint64_t a = addr + done;
    if (a < addr) break;  // wrapped past 2^64
    std::size_t n = std::min<std::uint64_t>(out.size() - done, kPageSize - (a & kPageMask));
    ranges.push_back({PhysAddr(a), out.subspan(done, n)});
    done += n;
  }
  std::vector<ReadStatus> st(ranges.size());
  state_.memory().read(ranges, st);
  MemoryReadResult r;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    if (!st[i]) {
      r.fault = st[i].error();
      return r;
    }
    r.bytes_read += ranges[i].out.size();
  }
  if (r.bytes_read < out.size())
    r.fault = Error{Errc::unbacked, "address space ends at 2^64", 0};
  return r;
}

// gdb asks right after qAttached, while connecting: a kernel still being discovered gets a
// busy error within the deadline, and gdb goes on with no file (README: how to load it later).
Result<std::string> KernelTarget::exec_file() {
  auto f = state_.context().symbol_file(state_.deadline());
  if (!f) {
    spdlog::info("gdb asked for the symbol file: {}", f.error().message);
    return std::unexpected(f.error());
  }
  return (*f)->path;
}

Result<stub::Target::FileBytes> KernelTarget::open_file(std::string_view path) {
  auto f = state_.context().symbol_file(state_.deadline());
  if (!f) return std::unexpected(f.error());
  if (path != (*f)->path) return fail(Errc::not_found, fmt::format("no file {}", path));
  return (*f)->bytes;
}

// Served from the request's snapshot: qfThreadInfo, T, H and qThreadExtraInfo in one request
// share one list.
std::vector<stub::ThreadInfo> KernelTarget::threads() { return state_.threads(); }

Result<stub::RegisterSet> KernelTarget::registers(std::int64_t thread_id) {
  const auto& list = state_.threads();
  if (std::none_of(list.begin(), list.end(), [&](const auto& t) { return t.id == thread_id; }))
    return fail(Errc::not_found, fmt::format("no thread {}", thread_id));
  if (auto regs = task_registers(state_, thread_id)) return *regs;
  // The kernel pseudo-thread. Nothing is known about CPU state over DMA, but the page table
  // is. gdb 13 refuses to attach to a thread whose PC is unavailable ("PC register is not
  // available"), so it reports the start of the kernel image (_text) as its PC: a real
  // address gdb can show and disassemble, never presented as a CPU's instruction pointer
  // (README, "What gdb sees"). Where no image is known, rip would best be unavailable, but
  // then gdb 13 drops the connection at `target remote` ("PC register is not available"),
  // and the user could not even reach `monitor phys on` or `monitor cr3`: so rip is 0 there,
  // a placeholder that `monitor info` and the attach message explain
  // (tests/app/no_kernel_gdb_test.sh attaches stock gdb to memory with no kernel in it).
  return placeholder_registers(state_);
}

Result<void> KernelTarget::monitor(std::string_view command, const stub::OutputFn& out) {
  return monitor_.run(command, out);
}

bool KernelTarget::monitor_is_long(std::string_view command) {
  return monitor_.is_long(command);
}

Result<void> KernelTarget::monitor_long(std::string_view command, const stub::OutputFn& out,
                                        const stub::StopFn& stop) {
  return monitor_.run(command, out, stop);
}

}  // namespace tlpstub::app
