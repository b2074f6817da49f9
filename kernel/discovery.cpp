#include "kernel/discovery.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "kernel/discovery_detail.hpp"
#include "kernel/vmcoreinfo.hpp"
#include "transport/counting_memory.hpp"

namespace tlpstub::kernel {

using detail::Ctx;
using detail::from_scan;
using detail::from_vmcoreinfo;
using detail::mib;
using detail::sparse_scan;
using detail::SparseScan;
using detail::vmcoreinfo_order;

Result<KernelImage> discover(PhysicalMemory& memory, const DiscoveryOptions& opts,
                             const ProgressFn& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  Ctx c{CountingMemory(memory), progress, 0, {}};
  c.max_phys = opts.max_phys ? opts.max_phys : memory.info().max_address;
  if (!c.max_phys) {
    c.max_phys = kUnknownRamCeiling;
    c.note(fmt::format("RAM size unknown: scanning up to {}", mib(c.max_phys)));
  }

  c.say(fmt::format("scanning {} for the kernel image (one read per 2 MiB)...", mib(c.max_phys)));
  const SparseScan s = sparse_scan(c);
  // With the RAM size unknown, what answered bounds every later probe.
  if (!opts.max_phys && !memory.info().max_address && s.ram_top) c.max_phys = s.ram_top;
  c.note(fmt::format("sparse scan: {} of {} 2 MiB regions readable, {} init-stack candidate(s)",
                     s.readable, s.regions, s.sdata.size()));
  // A sparse dump (makedumpfile -d 31 keeps ~15 % of the pages) may answer none of the
  // sampled pages; its VMCOREINFO note is then still worth trying, so this fails later.
  const auto none_readable = [&] {
    return fail(Errc::unbacked, fmt::format("no readable memory below {:#x}", c.max_phys));
  };
  if (s.readable == 0 && (!opts.use_vmcoreinfo || opts.vmcoreinfo_text.empty()))
    return none_readable();

  auto finish = [&](KernelImage img) -> Result<KernelImage> {
    const MemoryCounters mc = c.mem.counters();
    img.cost.reads = mc.ranges;
    img.cost.bytes = mc.bytes;
    img.cost.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    c.note(fmt::format("cost: {} reads in {} batches ({} round trips at {} tags in flight), {} "
                       "bytes, {:.3f} s",
                       mc.ranges, mc.batches, mc.round_trips, c.mem.in_flight(), mc.bytes,
                       img.cost.seconds));
    img.notes = std::move(c.notes);
    return img;
  };

  // VMCOREINFO first, but only where its page was seen (a few 64 MiB windows, ~1 MiB of
  // reads); then the structural scan (~2 MiB); the rest of RAM only if both fail. A kernel
  // without VMCOREINFO so pays for the likely windows, not for probing every page of RAM.
  std::string vmcoreinfo_outcome = "not used (use_vmcoreinfo=false)";
  auto probe = [&](bool likely_only) -> std::optional<KernelImage> {
    c.say(likely_only ? std::string("probing page starts for VMCOREINFO where it usually is...")
                      : fmt::format("probing page starts for VMCOREINFO in all RAM (up to {} "
                                    "pages)...",
                                    std::min<std::uint64_t>(kVmcoreinfoMaxPages,
                                                            s.ram_top / kPageSize)));
    const auto order = vmcoreinfo_order(s, likely_only);
    std::optional<KernelImage> found;
    std::vector<std::string> rejected;
    VmcoreinfoScanStats st;
    auto hit = scan_for_vmcoreinfo(
        c.mem, order, kVmcoreinfoMaxPages,
        [&](const VmcoreinfoHit& h) {
          const std::size_t mark = c.notes.size();
          auto img = from_vmcoreinfo(c, h);
          if (img) {
            found = std::move(*img);
            return true;
          }
          c.notes.resize(mark);  // findings about a rejected candidate would mislead
          rejected.push_back(fmt::format("VMCOREINFO candidate at {:#x} rejected: {}", h.pa.value,
                                         img.error().message));
          return false;
        },
        &st);
    for (const std::string& r : rejected) c.note(r);
    if (hit && found) {
      c.note(fmt::format("VMCOREINFO probe: {} page starts read, {} hit(s)", st.pages_probed,
                         st.hits));
      return found;
    }
    vmcoreinfo_outcome = fmt::format("not found ({} page starts probed{}{}, {} rejected)",
                                     st.pages_probed, likely_only ? " where it usually is" : "",
                                     st.budget_exhausted ? ", budget exhausted" : "", st.rejected);
    return std::nullopt;
  };

  if (opts.use_vmcoreinfo && !opts.vmcoreinfo_text.empty()) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(opts.vmcoreinfo_text.data());
    auto vi = parse_vmcoreinfo(std::span<const std::uint8_t>(p, opts.vmcoreinfo_text.size()));
    auto img = vi ? from_vmcoreinfo(c, VmcoreinfoHit{PhysAddr(0), std::move(*vi)})
                  : Result<KernelImage>(std::unexpected(vi.error()));
    if (img) {
      c.note("VMCOREINFO from the dump's note (not from a page in memory)");
      return finish(std::move(*img));
    }
    c.note("the dump's VMCOREINFO note was not used: " + img.error().message);
    if (s.readable == 0) return none_readable();
  }
  if (opts.use_vmcoreinfo) {
    if (auto img = probe(true)) return finish(std::move(*img));
    c.note("VMCOREINFO " + vmcoreinfo_outcome + "; trying the structural scan");
  }
  auto img = from_scan(c, s);
  if (img) return finish(std::move(*img));
  if (opts.use_vmcoreinfo) {
    if (auto found = probe(false)) return finish(std::move(*found));
  }
  return fail(Errc::not_found,
              fmt::format("no Linux kernel found in {} of physical memory: VMCOREINFO {}; {}. "
                          "Is this an x86-64 Linux machine, and is the RAM size right?",
                          mib(s.ram_top), vmcoreinfo_outcome, img.error().message));
}

}  // namespace tlpstub::kernel
