#include "app/kernel_target.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "common/parse.hpp"
#include "kernel/address_space.hpp"
#include "kernel/paging.hpp"

namespace tlpstub::app {

using stub::MemoryReadResult;
using stub::OutputFn;
using Args = std::vector<std::string_view>;

KernelTarget::KernelTarget(TargetContext& ctx) : ctx_(ctx), mem_(ctx.memory()) {
  register_commands();
}

void KernelTarget::register_commands() {
  auto bind = [this](auto fn) {
    return [this, fn](const Args& a, const OutputFn& out) { return (this->*fn)(a, out); };
  };
  monitor_.add({"phys", "phys [on|off]",
                "gdb memory accesses use physical (on) or kernel virtual (off) addresses",
                bind(&KernelTarget::cmd_phys)});
  monitor_.add({"v2p", "v2p ADDR", "translate a virtual address, showing every level's entry",
                bind(&KernelTarget::cmd_v2p)});
  monitor_.add({"cr3", "cr3 [VALUE|discover]",
                "show the page table in use; use VALUE for this session; or re-run discovery",
                bind(&KernelTarget::cmd_cr3)});
  monitor_.add({"info", "info",
                "what discovery found (kernel, KASLR, page table), where, how, and its cost",
                bind(&KernelTarget::cmd_info)});
  monitor_.add({"version", "version", "the kernel's banner (linux_banner)",
                bind(&KernelTarget::cmd_version)});
  monitor_.add({"stats", "stats", "transport statistics (requests, bytes, round trips)",
                bind(&KernelTarget::cmd_stats)});
}

void KernelTarget::begin_request(Deadline deadline) {
  // The target is live: page tables read for an earlier request may have changed.
  if (walker_) walker_->new_epoch();
  // Every read of this request (page walks included) stops at the reply's deadline.
  mem_.set_deadline(deadline);
}

std::string KernelTarget::attach_message() {
  if (space()) return {};
  return "tlpstub: " + no_space_error(0).message + "\n";
}

Error KernelTarget::no_space_error(std::uint64_t addr) const {
  DiscoveryStatus st = ctx_.discovery();
  switch (st.state) {
    case DiscoveryState::running:
      return {Errc::busy,
              "kernel discovery is still running (" + st.message + "); try again shortly", addr};
    case DiscoveryState::failed:
      return {Errc::not_found,
              "kernel discovery failed: " + st.message +
                  "; physical reads work with 'monitor phys on', or give 'monitor cr3 VALUE'",
              addr};
    default:
      return {Errc::not_found,
              "no kernel page table known: 'monitor cr3 discover', 'monitor cr3 VALUE', or "
              "'monitor phys on' for physical reads",
              addr};
  }
}

// gdb asks for qOffsets once, while connecting, and relocates a vmlinux it already has by
// the answer: so it too waits for a running discovery (see space()).
std::optional<stub::SectionOffsets> KernelTarget::offsets() {
  auto img = ctx_.wait_for_discovery(mem_.deadline()).image;
  if (!img) return std::nullopt;
  return stub::SectionOffsets{img->kaslr_slide, img->kaslr_slide, img->kaslr_slide};
}

// A request that arrives while start-up discovery runs (gdb connects at once) waits for it a
// bounded time, under gdb's 2 s `remotetimeout`: discovery usually takes well under a second,
// and then the first `x` after `target remote` just works.
std::optional<SpaceConfig> KernelTarget::space() const {
  if (override_) return override_;
  if (auto sc = ctx_.kernel_space()) return sc;
  ctx_.wait_for_discovery(mem_.deadline());
  return ctx_.kernel_space();
}

kernel::PageWalker& KernelTarget::walker_for(const SpaceConfig& sc) {
  if (!walker_ || walker_levels_ != sc.levels || walker_sme_ != sc.sme_mask) {
    walker_ = std::make_unique<kernel::PageWalker>(mem_, sc.levels, sc.sme_mask);
    walker_levels_ = sc.levels;
    walker_sme_ = sc.sme_mask;
  }
  return *walker_;
}

MemoryReadResult KernelTarget::read_memory(std::uint64_t addr, std::span<std::uint8_t> out) {
  if (phys_mode_) return read_physical(addr, out);
  auto sc = space();
  if (!sc) return {0, no_space_error(addr)};
  return read_virtual(*sc, addr, out);
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
  mem_.read(ranges, st);
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

MemoryReadResult KernelTarget::read_virtual(const SpaceConfig& sc, std::uint64_t addr,
                                            std::span<std::uint8_t> out) {
  kernel::AddressSpace as(mem_, walker_for(sc), sc.top);
  auto o = as.read(VirtAddr(addr), out);
  return {o.bytes_read, o.fault};
}

std::vector<stub::ThreadInfo> KernelTarget::threads() {
  return {{1, "kernel", phys_mode_ ? "physical memory" : "kernel address space"}};
}

Result<stub::RegisterSet> KernelTarget::registers(std::int64_t thread_id) {
  if (thread_id != 1) return fail(Errc::not_found, fmt::format("no thread {}", thread_id));
  // Nothing is known about CPU state over DMA, but the page table is. gdb 13 refuses to
  // attach to a thread whose PC is unavailable ("PC register is not available"), so the
  // kernel pseudo-thread reports the start of the kernel image (_text) as its PC: a real
  // address gdb can show and disassemble, never presented as a CPU's instruction pointer
  // (`monitor help`, README). With no address space known it is 0.
  stub::RegisterSet regs;
  auto sc = space();
  regs.set(stub::Reg::rip, sc ? sc->image_va : 0);
  if (sc) regs.set(stub::Reg::cr3, sc->raw_cr3);
  return regs;
}

Result<void> KernelTarget::monitor(std::string_view command, const OutputFn& out) {
  return monitor_.run(command, out);
}

Result<void> KernelTarget::cmd_phys(const Args& a, const OutputFn& out) {
  if (a.size() > 1 || (a.size() == 1 && a[0] != "on" && a[0] != "off"))
    return fail(Errc::invalid_argument, "usage: monitor phys [on|off]");
  if (a.size() == 1) phys_mode_ = a[0] == "on";
  out(phys_mode_ ? "memory accesses use physical addresses\n"
                 : "memory accesses use kernel virtual addresses\n");
  return {};
}

Result<void> KernelTarget::cmd_v2p(const Args& a, const OutputFn& out) {
  if (a.size() != 1) return fail(Errc::invalid_argument, "usage: monitor v2p ADDR");
  auto va = parse_u64(a[0], 0);
  if (!va) return fail(Errc::invalid_argument, fmt::format("v2p: '{}' is not an address", a[0]));
  auto sc = space();
  if (!sc) return std::unexpected(no_space_error(*va));
  auto walk = walker_for(*sc).walk(sc->top, VirtAddr(*va));
  out(fmt::format("{:#018x} in the {}-level table at {:#x}\n", *va, sc->levels, sc->top.value));
  out(kernel::format_walk(walk, sc->sme_mask));
  if (!walk.result) return std::unexpected(walk.result.error());
  return {};
}

Result<void> KernelTarget::cmd_cr3(const Args& a, const OutputFn& out) {
  if (a.empty()) {
    auto sc = space();
    if (!sc) {
      out("no page table known (no --cr3 given)\n");
      return {};
    }
    out(fmt::format("cr3 {:#x} -> top-level table {:#x}, {}-level paging, from {}\n", sc->raw_cr3,
                    sc->top.value, sc->levels, sc->source));
    return {};
  }
  if (a.size() != 1) return fail(Errc::invalid_argument, "usage: monitor cr3 [VALUE|discover]");
  if (a[0] == "discover") {
    auto img = ctx_.discover([&](std::string_view s) { out(fmt::format("{}\n", s)); });
    if (!img) return std::unexpected(img.error());
    override_.reset();
    out(fmt::format("found {}: page table {:#x} ({}-level), KASLR slide {:#x}\n",
                    (*img)->release, (*img)->top.value, (*img)->levels, (*img)->kaslr_slide));
    return {};
  }
  auto v = parse_u64(a[0], 0);
  if (!v) return fail(Errc::invalid_argument, fmt::format("cr3: '{}' is not a number", a[0]));
  SpaceConfig sc = space().value_or(SpaceConfig{});
  if (!space()) sc.levels = 4;
  sc.raw_cr3 = *v;
  sc.top = kernel::cr3_table(*v, sc.sme_mask);
  sc.source = "monitor cr3 (this session)";
  override_ = sc;
  out(fmt::format("this session now uses top-level table {:#x} ({}-level)\n", sc.top.value,
                  sc.levels));
  return {};
}

Result<void> KernelTarget::cmd_version(const Args&, const OutputFn& out) {
  auto img = ctx_.wait_for_discovery(mem_.deadline()).image;
  if (!img) return std::unexpected(no_space_error(0));
  out(img->banner + "\n");
  return {};
}

Result<void> KernelTarget::cmd_info(const Args&, const OutputFn& out) {
  out(fmt::format("memory: {}\n", ctx_.memory().info().name));
  if (auto sc = space())
    out(fmt::format("page table: {:#x} ({}-level) from {}{}\n", sc->top.value, sc->levels,
                    sc->source, override_ ? " (this session)" : ""));
  DiscoveryStatus st = ctx_.discovery();
  switch (st.state) {
    case DiscoveryState::not_run: out("discovery: not run (--cr3 given)\n"); return {};
    case DiscoveryState::running: out("discovery: running: " + st.message + "\n"); return {};
    case DiscoveryState::failed: out("discovery: failed: " + st.message + "\n"); return {};
    case DiscoveryState::done: break;
  }
  const kernel::KernelImage& k = *st.image;
  out(fmt::format("kernel: {}\n", k.release));
  out(fmt::format("  banner: {}\n", k.banner));
  if (!k.build_id.empty()) out(fmt::format("  build id: {}\n", k.build_id));
  out(fmt::format("  found by: {} in {:.3f} s, {} reads, {} bytes\n", k.method, k.cost.seconds,
                  k.cost.reads, k.cost.bytes));
  out(fmt::format("  _text {:#x}, KASLR slide {:#x}, phys_base {:#x}\n", k.text_va,
                  k.kaslr_slide, k.phys_base));
  out(fmt::format("  linux_banner {:#x} (physical {:#x})\n", k.banner_va, k.banner_pa));
  out(fmt::format("  init_top_pgt {:#x} (physical {:#x}), {}-level paging{}\n", k.top_va,
                  k.top.value, k.levels,
                  k.sme_mask ? fmt::format(", SME mask {:#x}", k.sme_mask) : std::string()));
  auto opt = [](std::uint64_t v) { return v ? fmt::format("{:#x}", v) : std::string("unknown"); };
  out(fmt::format("  page_offset_base {}, vmalloc_base {}, vmemmap_base {}\n",
                  opt(k.page_offset_base), opt(k.vmalloc_base), opt(k.vmemmap_base)));
  if (k.vmcoreinfo_pa)
    out(fmt::format("  VMCOREINFO at physical {:#x} ({} entries)\n", k.vmcoreinfo_pa,
                    k.vmcoreinfo.size()));
  for (const std::string& n : k.notes) out(fmt::format("  - {}\n", n));
  out(fmt::format("symbols: qOffsets relocates only .text/.data/.bss of a vmlinux loaded "
                  "before connecting;\n  load it instead with (after 'symbol-file' with no "
                  "argument if gdb already has one):\n  {}\n",
                  symbol_file_command(k)));
  return {};
}

Result<void> KernelTarget::cmd_stats(const Args&, const OutputFn& out) {
  std::string s = ctx_.stats_text ? ctx_.stats_text() : std::string();
  out(s.empty() ? "no transport statistics\n" : s);
  return {};
}

}  // namespace tlpstub::app
