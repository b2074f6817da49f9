#include "app/target_context.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace tlpstub::app {

TargetContext::~TargetContext() {
  if (background_.joinable()) background_.join();
  if (types_thread_.joinable()) types_thread_.join();
  if (file_thread_.joinable()) file_thread_.join();
}

TypesStatus TargetContext::types() const {
  std::lock_guard lk(mu_);
  return types_;
}

TypesStatus TargetContext::wait_for_types(Deadline until) const {
  std::unique_lock lk(mu_);
  auto finished = [this] { return types_.state != TypesState::running; };
  if (until == kNoDeadline)
    types_done_.wait(lk, finished);
  else
    types_done_.wait_until(lk, until, finished);
  return types_;
}

void TargetContext::set_types_status(TypesStatus st) {
  std::lock_guard lk(mu_);
  types_ = std::move(st);
  types_done_.notify_all();
}

void TargetContext::recover_types_in_background(
    std::shared_ptr<const kernel::KernelImage> img, std::optional<kernel::VaRange> range,
    std::shared_ptr<const kernel::RecoveredSymbols> symbols) {
  if (types_thread_.joinable()) types_thread_.join();  // bounded: one BTF scan
  set_types_status({TypesState::running, "recovering BTF", nullptr, std::nullopt, {}, {}});
  types_thread_ = std::thread([this, img, range, symbols] {
    auto found = kernel::recover_btf(memory_, *img, range);
    if (found) {
      spdlog::info("types: BTF at {:#x} (phys {:#x}), {} bytes, {} types, in {:.3f} s, {} "
                   "reads, {} bytes read",
                   found->va, found->pa, found->size, found->btf->type_count(),
                   found->cost.seconds, found->cost.reads, found->cost.bytes);
      auto ti = std::make_shared<kernel::TypeInfo>(found->btf);
      auto applied = apply_profile(*img, *ti);
      if (!applied) {
        spdlog::error("types: {}", applied.error().message);
        set_types_status({TypesState::failed, applied.error().message, nullptr,
                          std::move(*found), {}, {}});
      } else {
        set_types_status({TypesState::done, {}, std::move(ti), std::move(*found), {}, {},
                          std::move(*applied)});
      }
    } else {
      spdlog::warn("types: {}", found.error().message);
      infer_types(*img, symbols, found.error().message);
    }
    // Start writing the symbol file now, so that it is ready when gdb connects.
    if (prebuild_symbol_file) (void)symbol_file(SteadyClock::now());
  });
}

// No BTF: the offsets the views use, inferred from memory (kernel/symbols/offset_inference.hpp),
// and the --profile over them; a profile alone is enough when inference finds nothing.
void TargetContext::infer_types(const kernel::KernelImage& img,
                                const std::shared_ptr<const kernel::RecoveredSymbols>& symbols,
                                const std::string& btf_error) {
  std::optional<kernel::InferenceReport> report;
  std::string why;
  if (!symbols) {
    why = "; no symbols to infer offsets with";
  } else {
    auto inf = kernel::infer_offsets(memory_, img, symbols->table);
    if (!inf || inf->found_count() == 0) {
      why = "; offset inference: " + (inf ? std::string("no offset inferred") : inf.error().message);
    } else {
      spdlog::info("types: no BTF; {} offsets inferred ({} tasks on the ring) in {:.3f} s, {} "
                   "reads, {} bytes read",
                   inf->found_count(), inf->tasks_seen, inf->cost.seconds, inf->cost.reads,
                   inf->cost.bytes);
      report = std::move(*inf);
    }
  }
  bool have_profile;
  {
    std::lock_guard lk(mu_);
    have_profile = profile_ != nullptr;
  }
  if (!report && !have_profile) {
    set_types_status({TypesState::failed, btf_error + why, nullptr, std::nullopt, btf_error, {}});
    return;
  }
  auto ti = std::make_shared<kernel::TypeInfo>();
  if (report) kernel::add_inferred(*report, *ti);
  auto applied = apply_profile(img, *ti);
  if (!applied) {
    spdlog::error("types: {}", applied.error().message);
    set_types_status({TypesState::failed, btf_error + why + "; " + applied.error().message,
                      nullptr, std::nullopt, btf_error, std::move(report)});
    return;
  }
  set_types_status({TypesState::done, {}, std::move(ti), std::nullopt, btf_error,
                    std::move(report), std::move(*applied)});
}

void TargetContext::set_profile(kernel::Profile p, std::string path, bool force) {
  std::lock_guard lk(mu_);
  profile_use_ = {std::move(path), force, p.members.size(), p.sizes.size(), {}};
  profile_ = std::make_shared<const kernel::Profile>(std::move(p));
}

Result<std::optional<ProfileUse>> TargetContext::apply_profile(const kernel::KernelImage& img,
                                                               kernel::TypeInfo& ti) const {
  std::shared_ptr<const kernel::Profile> p;
  ProfileUse use;
  {
    std::lock_guard lk(mu_);
    p = profile_;
    use = profile_use_;
  }
  if (!p) return std::optional<ProfileUse>{};
  if (auto ok = kernel::check_profile(*p, img, &use.note); !ok) {
    if (!use.force)
      return fail(Errc::invalid_argument,
                  fmt::format("profile {} refused: {} (--profile-force uses it anyway)", use.path,
                              ok.error().message));
    use.note = "forced (--profile-force) although " + ok.error().message;
    spdlog::warn("types: profile {}: {}", use.path, use.note);
  }
  kernel::add_profile(*p, ti);
  spdlog::info("types: profile {}: {} members, {} struct sizes override BTF and inference{}",
               use.path, use.members, use.sizes, use.note.empty() ? "" : "; " + use.note);
  return std::optional(std::move(use));
}

std::optional<SpaceConfig> TargetContext::kernel_space() const {
  std::lock_guard lk(mu_);
  return space_;
}

void TargetContext::set_kernel_space(SpaceConfig c) {
  std::lock_guard lk(mu_);
  space_ = std::move(c);
}

DiscoveryStatus TargetContext::discovery() const {
  std::lock_guard lk(mu_);
  return status_;
}

DiscoveryStatus TargetContext::wait_for_discovery(Deadline until) const {
  std::unique_lock lk(mu_);
  auto finished = [this] { return status_.state != DiscoveryState::running; };
  if (until == kNoDeadline)
    discovery_done_.wait(lk, finished);
  else
    discovery_done_.wait_until(lk, until, finished);
  return status_;
}

void TargetContext::set_discovery_status(DiscoveryStatus st) {
  std::lock_guard lk(mu_);
  status_ = std::move(st);
  if (status_.state == DiscoveryState::done && status_.image)
    space_ = space_from_image(*status_.image);
  discovery_done_.notify_all();
}

TargetContext::OrcResult TargetContext::orc_table(const std::string& key) const {
  std::lock_guard lock(mu_);
  return key == orc_key_ ? orc_ : nullptr;
}

void TargetContext::set_orc_table(std::string key, OrcResult t) {
  std::lock_guard lock(mu_);
  orc_key_ = std::move(key);
  orc_ = std::move(t);
}

SymbolsStatus TargetContext::symbols() const {
  std::lock_guard lk(mu_);
  return symbols_;
}

SymbolsStatus TargetContext::wait_for_symbols(Deadline until) const {
  std::unique_lock lk(mu_);
  auto finished = [this] { return symbols_.state != DiscoveryState::running; };
  if (until == kNoDeadline)
    discovery_done_.wait(lk, finished);
  else
    discovery_done_.wait_until(lk, until, finished);
  return symbols_;
}

void TargetContext::set_symbols_status(SymbolsStatus st) {
  std::lock_guard lk(mu_);
  symbols_ = std::move(st);
  discovery_done_.notify_all();
}

SpaceConfig space_from_image(const kernel::KernelImage& img) {
  SpaceConfig sc;
  sc.top = img.top;
  sc.raw_cr3 = img.top.value;
  sc.levels = img.levels;
  sc.sme_mask = img.sme_mask;
  sc.source = fmt::format("discovery ({})", img.method);
  sc.image_va = img.text_va;
  return sc;
}

// gdb's qOffsets relocation moves only .text, .data and .bss of the symbol file (gdb
// remote.c, get_offsets), so .rodata (linux_banner) and .init.* would stay unrelocated.
// add-symbol-file -o moves every section, and -s pins the per-CPU section, which is linked
// at 0 and holds offsets, not addresses: it must not move (checked in qemu-test).
std::string symbol_file_command(const kernel::KernelImage& img) {
  return fmt::format("add-symbol-file vmlinux -o {:#x} -s .data..percpu 0", img.kaslr_slide);
}

Result<std::shared_ptr<const kernel::KernelImage>> TargetContext::discover(
    const kernel::ProgressFn& progress, kernel::DiscoveryOptions opts) {
  std::lock_guard one(discovery_mu_);
  {
    std::lock_guard lk(mu_);
    status_.state = DiscoveryState::running;
    status_.message = "starting";
  }
  auto found = kernel::discover(memory_, opts, [&](std::string_view s) {
    {
      std::lock_guard lk(mu_);
      status_.message = std::string(s);
    }
    if (progress) progress(s);
  });
  std::unique_lock lk(mu_);
  if (!found) {
    status_.state = DiscoveryState::failed;
    status_.message = found.error().message;
    symbols_ = {};  // symbols of an earlier kernel no longer apply
    discovery_done_.notify_all();
    return std::unexpected(found.error());
  }
  auto img = std::make_shared<const kernel::KernelImage>(std::move(*found));
  status_ = {DiscoveryState::done, {}, img};
  space_ = space_from_image(*img);
  symbols_ = {DiscoveryState::running, "recovering kallsyms", nullptr};
  // Types count as running from here, not only once their thread starts after kallsyms: a
  // command that waits for types in between would otherwise see "not run" and fail at once.
  types_ = {};
  types_.state = TypesState::running;
  types_.message = "waiting for kernel symbols (kallsyms)";
  discovery_done_.notify_all();
  lk.unlock();
  // The address space is published first: gdb's reads need no symbols and do not wait.
  recover_symbols(*img, progress);
  // Then types, in the background; kallsyms' [__start_BTF, __stop_BTF) saves the image scan.
  const SymbolsStatus syms = symbols();
  recover_types_in_background(
      img, syms.symbols ? kernel::btf_range(syms.symbols->table) : std::nullopt,
      syms.symbols);  // under `one`
  return img;
}

void TargetContext::recover_symbols(const kernel::KernelImage& img,
                                    const kernel::ProgressFn& progress) {
  if (progress) progress("recovering kernel symbols (kallsyms)...");
  auto syms = kernel::recover_symbols(memory_, img);
  SymbolsStatus st;
  if (syms) {
    st.state = DiscoveryState::done;
    st.symbols = std::make_shared<const kernel::RecoveredSymbols>(std::move(*syms));
    const kernel::KallsymsReport& r = st.symbols->report;
    if (progress)
      progress(fmt::format("{} symbols from kallsyms ({}) in {:.3f} s, {} reads, {} bytes",
                           r.count, r.method, r.seconds, r.reads, r.bytes));
  } else {
    st.state = DiscoveryState::failed;
    st.message = syms.error().message;
    if (progress) progress("kernel symbols not recovered: " + st.message);
  }
  set_symbols_status(std::move(st));
}

void TargetContext::discover_in_background(kernel::DiscoveryOptions opts) {
  {
    std::lock_guard lk(mu_);
    status_.state = DiscoveryState::running;
    status_.message = "starting";
  }
  background_ = std::thread([this, opts] {
    auto r = discover([](std::string_view s) { spdlog::info("discovery: {}", s); }, opts);
    if (!r) {
      spdlog::error("discovery failed: {}", r.error().message);
      spdlog::error("physical reads still work ('monitor phys on'); --cr3 gives a page table");
      return;
    }
    const auto& img = **r;
    spdlog::info("found {} ({}), _text {:#x} (KASLR slide {:#x}), page table {:#x} "
                 "({}-level), in {:.3f} s, {} reads, {} bytes",
                 img.release, img.method, img.text_va, img.kaslr_slide, img.top.value,
                 img.levels, img.cost.seconds, img.cost.reads, img.cost.bytes);
    spdlog::info("gdb: {}", symbol_file_command(img));
  });
}

}  // namespace tlpstub::app
