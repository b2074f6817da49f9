#include "app/dump_job.hpp"

#include <fmt/format.h>

#include "kernel/address_space.hpp"
#include "kernel/linux/iomem.hpp"
#include "kernel/page_walker.hpp"

namespace tlpstub::app {

namespace {

constexpr double kDumpMiB = 1024.0 * 1024.0;
// The default direct-map base (4-level, 4.20+), used only when discovery did not find the
// randomized one (shared/facts/linux.md, section 1).
constexpr std::uint64_t kDefaultPageOffset = 0xffff888000000000ull;

// VMCOREINFO for the note: the target's own lines (OSRELEASE first: parsers key on it), or the
// few lines drgn and crash need, synthesized from what discovery and kallsyms found.
std::string vmcoreinfo_text(const kernel::KernelImage& img, const kernel::SymbolTable* syms,
                            std::string& source) {
  std::string s;
  auto out = std::back_inserter(s);
  if (!img.vmcoreinfo.empty()) {
    source = "the target's VMCOREINFO";
    if (auto it = img.vmcoreinfo.find("OSRELEASE"); it != img.vmcoreinfo.end())
      fmt::format_to(out, "OSRELEASE={}\n", it->second);
    for (const auto& [k, v] : img.vmcoreinfo)
      if (k != "OSRELEASE") fmt::format_to(out, "{}={}\n", k, v);
    return s;
  }
  source = "synthesized from discovery (the target has no VMCOREINFO)";
  fmt::format_to(out, "OSRELEASE={}\nPAGESIZE=4096\n", img.release);
  fmt::format_to(out, "SYMBOL(swapper_pg_dir)={:x}\nSYMBOL(init_top_pgt)={:x}\n", img.top_va,
                 img.top_va);
  if (syms)
    for (const char* name : {"init_uts_ns", "_stext", "mem_section", "node_data", "init_task"})
      if (const kernel::Symbol* sym = syms->find_address(name))
        fmt::format_to(out, "SYMBOL({})={:x}\n", name, sym->address);
  fmt::format_to(out, "NUMBER(phys_base)={}\n", static_cast<std::int64_t>(img.phys_base));
  fmt::format_to(out, "NUMBER(pgtable_l5_enabled)={}\n", img.levels == 5 ? 1 : 0);
  if (img.sme_mask) fmt::format_to(out, "NUMBER(sme_mask)={}\n", img.sme_mask);
  fmt::format_to(out, "KERNELOFFSET={:x}\n", img.kaslr_slide);
  return s;
}

// vmemmap: from discovery (VMCOREINFO SYMBOL(vmemmap), 6.12), else the vmemmap_base variable
// (CONFIG_RANDOMIZE_MEMORY, arch/x86/mm/kaslr.c). No default: a wrong base would read some
// other memory as struct pages and exclude pages in use.
Result<kernel::PageExclusion> classify_for_level(const kernel::KernelImage& img,
                                                 const kernel::SymbolTable* table,
                                                 const kernel::TypeInfo* types,
                                                 kernel::AddressSpace& as,
                                                 const std::vector<kernel::RamRange>& ram,
                                                 unsigned level, DumpOutcome& o) {
  if (img.vmcoreinfo.empty())
    return fail(Errc::not_found, "the target has no VMCOREINFO (the page flag numbers come "
                                 "from it)");
  kernel::Vmcoreinfo vi;
  vi.entries = img.vmcoreinfo;
  auto L = kernel::page_layout(vi, types, level);
  if (!L) return std::unexpected(L.error());
  std::uint64_t vmemmap = img.vmemmap_base;
  std::string from = "discovery";
  if (!vmemmap && table)
    if (const kernel::Symbol* s = table->find_address("vmemmap_base"))
      if (auto v = as.read_u64(VirtAddr(s->address))) {
        vmemmap = *v;
        from = "the vmemmap_base variable";
      }
  if (!vmemmap) return fail(Errc::not_found, "vmemmap base unknown (no SYMBOL(vmemmap), no "
                                             "vmemmap_base variable)");
  o.classes_source = fmt::format("struct page ({} bytes) at vmemmap {:#x} (from {}), offsets "
                                 "from {}",
                                 L->size, vmemmap, from, L->source);
  return kernel::classify_pages(as, *L, vmemmap, ram, level);
}

}  // namespace

std::string dump_classes_line(const DumpOutcome& o, unsigned level) {
  const kernel::PageExclusion& x = o.classes;
  std::string s = fmt::format("dump level {}: excluding {} free, {} cache, {} cache with "
                              "private, {} user pages",
                              level, x.free, x.cache, x.cache_private, x.user);
  if (x.unknown) s += fmt::format(" ({} frames' struct page unreadable: kept)", x.unknown);
  return s;
}

Result<DumpOutcome> run_dump(TargetContext& ctx, PhysicalMemory& mem, const DumpJob& job) {
  const DiscoveryStatus d = ctx.discovery();
  const auto sc = ctx.kernel_space();
  if (!d.image || !sc) return fail(Errc::not_found, "dump: no kernel discovered (yet)");
  const kernel::KernelImage& img = *d.image;
  const SymbolsStatus syms = ctx.symbols();
  // Types (BTF) come in the background after discovery; the RAM list needs struct resource.
  const TypesStatus types = ctx.wait_for_types(SteadyClock::now() + std::chrono::seconds(60));
  const kernel::SymbolTable* table = syms.symbols ? &syms.symbols->table : nullptr;
  DumpOutcome o;
  auto warn = [&](std::string w) {
    if (job.say) job.say("warning: " + w);
    o.warnings.push_back(std::move(w));
  };

  kernel::PageWalker walker(mem, sc->levels, sc->sme_mask);
  kernel::AddressSpace as(mem, walker, sc->top);
  std::vector<kernel::RamRange> ram;
  if (table && types.types) {
    auto r = kernel::read_system_ram(as, *table, *types.types);
    if (r) {
      ram = std::move(*r);
      o.ram_source = fmt::format("iomem_resource ({} System RAM ranges)", ram.size());
    } else {
      warn("RAM ranges from the memory source, not the kernel: " + r.error().message);
    }
  } else {
    warn("RAM ranges from the memory source, not the kernel: no kernel symbols or types");
  }
  if (ram.empty()) {
    ram = ctx.source_ranges;
    o.ram_source = fmt::format("the memory source's extent ({} ranges)", ram.size());
    if (ram.empty()) return fail(Errc::not_found, "dump: RAM size unknown and no kernel RAM list");
  }

  std::uint64_t pob = img.page_offset_base;
  if (!pob && table)
    if (const kernel::Symbol* s = table->find_address("page_offset_base"))
      if (auto v = as.read_u64(VirtAddr(s->address))) pob = *v;
  if (!pob) {
    pob = kDefaultPageOffset;
    warn(fmt::format("page_offset_base unknown: p_vaddr of RAM uses the default {:#x}", pob));
  }
  kernel::VmcorePlan plan;
  for (const kernel::RamRange& r : ram) plan.ram.push_back({r.begin, pob + r.begin, r.end - r.begin});
  o.ram = plan.ram;
  const kernel::Symbol* end = table ? table->find_address("_end") : nullptr;
  if (end && img.text_va && end->address > img.text_va)
    plan.image = kernel::VmcoreSegment{img.image_pa(img.text_va), img.text_va,
                                       end->address - img.text_va};
  else
    warn("no kernel-image segment (_end unknown): drgn needs it to read swapper_pg_dir");
  if (plan.image) {
    bool inside = false;
    for (const auto& s : plan.ram)
      inside |= plan.image->paddr >= s.paddr && plan.image->paddr + plan.image->size <= s.paddr + s.size;
    if (!inside) {
      warn(fmt::format("the kernel image at physical {:#x} is in no RAM range: left out",
                       plan.image->paddr));
      plan.image.reset();
    }
  }
  plan.vmcoreinfo = vmcoreinfo_text(img, table, o.vmcoreinfo_source);

  kernel::DumpOptions opts;
  opts.level = job.level;
  opts.cancelled = job.cancelled;
  if (job.level & kernel::kPageLevelClassBits) {
    auto x = classify_for_level(img, table, types.types.get(), as, ram, job.level, o);
    if (!x) {
      warn(fmt::format("dump level {}: every page kept: {}", job.level, x.error().message));
    } else {
      o.classified = true;
      o.classes = std::move(*x);
      opts.excluded = [&o](std::uint64_t pfn) { return o.classes.excluded(pfn); };
      if (job.say) job.say(dump_classes_line(o, job.level));
    }
  }
  opts.progress = [&](const kernel::DumpProgress& p) {
    if (job.say) job.say(dump_progress_line(p));
  };
  if (job.say)
    job.say(fmt::format("dump: {} RAM ranges from {}, {:.1f} MiB, to {}", plan.ram.size(),
                        o.ram_source, static_cast<double>([&] {
                          std::uint64_t t = 0;
                          for (auto& s : plan.ram) t += s.size;
                          return t;
                        }()) / kDumpMiB,
                        job.path));
  auto rep = kernel::write_vmcore(mem, plan, job.path, opts);
  if (!rep) return std::unexpected(rep.error());
  o.report = *rep;
  o.report_level = job.level;
  if (rep->unreadable_pages)
    warn(fmt::format("{} pages could not be read (first at physical {:#x}); they read as zeros",
                     rep->unreadable_pages, rep->first_unreadable));
  return o;
}

std::string dump_progress_line(const kernel::DumpProgress& p) {
  const double rate = p.seconds > 0 ? static_cast<double>(p.done) / p.seconds : 0;
  const double pct = p.total ? 100.0 * static_cast<double>(p.done) / static_cast<double>(p.total) : 100;
  std::string eta = rate > 0 ? fmt::format("{:.0f} s", static_cast<double>(p.total - p.done) / rate)
                             : std::string("?");
  return fmt::format("dump: {:.1f} MiB of {:.1f} MiB ({:.0f}%), {:.1f} MiB/s, ETA {}",
                     static_cast<double>(p.done) / kDumpMiB, static_cast<double>(p.total) / kDumpMiB,
                     pct, rate / kDumpMiB, eta);
}

std::string dump_summary(const DumpOutcome& o, const std::string& path) {
  const kernel::DumpReport& r = o.report;
  std::string s = fmt::format(
      "wrote {}: {} RAM ranges ({}), {:.1f} MiB of RAM in {:.2f} s ({:.1f} MiB/s)\n", path,
      o.ram.size(), o.ram_source, static_cast<double>(r.ram_bytes) / kDumpMiB, r.seconds,
      r.seconds > 0 ? static_cast<double>(r.ram_bytes) / kDumpMiB / r.seconds : 0);
  s += fmt::format("  pages: {} stored, {} zero (holes), {} excluded, {} unreadable (holes)\n",
                   r.data_pages, r.zero_pages, r.excluded_pages, r.unreadable_pages);
  s += fmt::format("  file: {:.1f} MiB apparent, {:.1f} MiB of data; VMCOREINFO: {}\n",
                   static_cast<double>(r.file_size) / kDumpMiB,
                   static_cast<double>(r.bytes_written) / kDumpMiB, o.vmcoreinfo_source);
  if (o.classified)
    s += fmt::format("  {}; {}\n", dump_classes_line(o, o.report_level), o.classes_source);
  for (const std::string& w : o.warnings) s += "  warning: " + w + "\n";
  return s;
}

}  // namespace tlpstub::app
