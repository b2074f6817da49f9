// TargetContext::symbol_file(): the symbol file served to gdb (design.md, "What gdb sees"),
// written once per kernel image on a thread of its own, so that no gdb request waits longer
// than its deadline for it.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cctype>

#include "app/target_context.hpp"

namespace tlpstub::app {

namespace {

// The release goes into a path gdb shows and opens: keep it to harmless characters.
std::string served_path(const kernel::KernelImage& img) {
  std::string rel;
  for (char c : img.release.substr(0, 64))
    rel += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
            c == '+')
               ? c
               : '_';
  if (rel.empty()) rel = "unknown";
  return fmt::format("/tlpstub/vmlinux-{}-{:x}", rel, img.kaslr_slide);
}

std::shared_ptr<const ServedSymbolFile> write_served(const kernel::KernelImage& img,
                                                     const SymbolsStatus& syms,
                                                     const TypesStatus& types) {
  const auto t0 = SteadyClock::now();
  const kernel::btf::Btf* btf = types.types ? types.types->btf() : nullptr;
  kernel::SymbolFile f = kernel::write_symbol_file(syms.symbols->table, btf, img.kaslr_slide);
  auto out = std::make_shared<ServedSymbolFile>();
  out->path = served_path(img);
  out->symbols = f.symbols;
  out->type_dies = f.type_dies;
  out->variables = f.variables;
  out->has_dwarf = btf != nullptr;
  out->bytes = std::make_shared<const std::vector<std::uint8_t>>(std::move(f.bytes));
  out->seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  spdlog::info("symbol file {}: {} bytes, {} symbols, {} type DIEs, {} variables, in {:.3f} s",
               out->path, out->bytes->size(), out->symbols, out->type_dies, out->variables,
               out->seconds);
  return out;
}

}  // namespace

Result<std::shared_ptr<const ServedSymbolFile>> TargetContext::symbol_file(Deadline until) {
  const DiscoveryStatus d = wait_for_discovery(until);
  if (d.state == DiscoveryState::running)
    return fail(Errc::busy, "kernel discovery is still running");
  if (d.state != DiscoveryState::done || !d.image)
    return fail(Errc::not_found, "no kernel discovered" + (d.message.empty() ? "" : ": " + d.message));
  const SymbolsStatus s = wait_for_symbols(until);
  if (s.state == DiscoveryState::running)
    return fail(Errc::busy, "kernel symbols are still being recovered");
  if (!s.symbols) return fail(Errc::not_found, "no kernel symbols: " + s.message);
  const TypesStatus t = wait_for_types(until);
  // not_run too: discovery publishes the symbols before it starts the types thread, and a
  // file written in between would have no DWARF for the life of this kernel image.
  if (t.state == TypesState::running || t.state == TypesState::not_run)
    return fail(Errc::busy, "kernel types (BTF) are still being recovered");

  std::unique_lock lk(file_mu_);
  if (file_ && file_image_ == d.image) return file_;
  if (!file_running_) {
    if (file_thread_.joinable()) file_thread_.join();  // finished: it cleared file_running_
    file_running_ = true;
    file_thread_ = std::thread([this, img = d.image, s, t] {
      auto f = write_served(*img, s, t);
      std::lock_guard done(file_mu_);
      file_ = std::move(f);
      file_image_ = img;
      file_running_ = false;
      file_done_.notify_all();
    });
  }
  auto ready = [&] { return !file_running_; };
  if (until == kNoDeadline)
    file_done_.wait(lk, ready);
  else
    file_done_.wait_until(lk, until, ready);
  if (file_ && file_image_ == d.image) return file_;
  return fail(Errc::busy, "the symbol file is still being written");
}

}  // namespace tlpstub::app
