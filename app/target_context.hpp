// State shared by every gdb session: the memory source, and what is known about the kernel
// (from --cr3, or from discovery running in the background). Sessions take a snapshot at each
// request, so a re-discovery (the target rebooted) is seen by the next request.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/address.hpp"
#include "kernel/discovery.hpp"
#include "kernel/export/symbol_file.hpp"
#include "kernel/kernel_image.hpp"
#include "kernel/linux/iomem.hpp"
#include "kernel/linux/orc.hpp"
#include "kernel/symbols/btf_locate.hpp"
#include "kernel/symbols/type_info.hpp"
#include "kernel/symbols/kallsyms.hpp"
#include "kernel/symbols/offset_inference.hpp"
#include "kernel/symbols/profile.hpp"
#include "transport/counting_memory.hpp"
#include "transport/physical_memory.hpp"
#include "transport/transport_stats.hpp"

namespace tlpstub::app {

struct SpaceConfig {
  PhysAddr top;              // top-level page table (already normalised)
  std::uint64_t raw_cr3 = 0; // as given or found
  int levels = 4;
  std::uint64_t sme_mask = 0;
  std::string source;        // "--cr3", "discovery (vmcoreinfo)", ...
  std::uint64_t image_va = 0;  // where the kernel image is mapped (_text), 0 if unknown
};

enum class DiscoveryState { not_run, running, done, failed };

struct DiscoveryStatus {
  DiscoveryState state = DiscoveryState::not_run;
  std::string message;  // the error when failed, the last progress line while running
  std::shared_ptr<const kernel::KernelImage> image;
};

// Kernel types, recovered in the background once discovery has found the kernel: BTF, or
// without it (or when it does not parse) offsets inferred from memory; then a --profile, if
// given, overrides both for the members it holds.
enum class TypesState { not_run, running, done, failed };

// A --profile: the file and, once types are recovered, what it added.
struct ProfileUse {
  std::string path;
  bool force = false;
  std::size_t members = 0, sizes = 0;  // what it holds (all added to the types)
  std::string note;  // build id not compared, or what differed when forced
};

struct TypesStatus {
  TypesState state = TypesState::not_run;
  std::string message;  // the error when failed
  std::shared_ptr<const kernel::TypeInfo> types;
  // Where the BTF was found and what finding it cost (btf is the parsed blob).
  std::optional<kernel::BtfFound> btf;
  // Without BTF: why not, and what inference found.
  std::string btf_error{};
  std::optional<kernel::InferenceReport> inference{};
  std::optional<ProfileUse> profile{};  // set when a --profile was added
};

// Kernel symbols (kallsyms), recovered after discovery succeeds (kernel/symbols/kallsyms.hpp).
struct SymbolsStatus {
  DiscoveryState state = DiscoveryState::not_run;
  std::string message;  // the error when failed
  std::shared_ptr<const kernel::RecoveredSymbols> symbols;
};

// The symbol file served to gdb for one kernel image (kernel/export/symbol_file.hpp).
struct ServedSymbolFile {
  std::string path;  // the name qXfer:exec-file gives gdb: "/tlpstub/vmlinux-<release>-<slide>"
  std::shared_ptr<const std::vector<std::uint8_t>> bytes;
  std::uint64_t symbols = 0, type_dies = 0, variables = 0;
  bool has_dwarf = false;
  double seconds = 0;  // to write it
};

class TargetContext {
 public:
  explicit TargetContext(PhysicalMemory& mem) : memory_(mem) {}
  ~TargetContext();
  PhysicalMemory& memory() { return memory_; }

  std::optional<SpaceConfig> kernel_space() const;
  void set_kernel_space(SpaceConfig c);
  DiscoveryStatus discovery() const;
  // Waits until no discovery is running (or `until` passes) and returns the status then.
  DiscoveryStatus wait_for_discovery(Deadline until) const;

  // Runs discovery now on the calling thread, streaming progress; on success the kernel
  // address space switches to what was found (for every session).
  Result<std::shared_ptr<const kernel::KernelImage>> discover(const kernel::ProgressFn& progress,
                                                              kernel::DiscoveryOptions opts = {});
  // Starts discovery on a background thread (at start-up: gdb may connect meanwhile).
  void discover_in_background(kernel::DiscoveryOptions opts = {});

  // What `monitor stats` reports: every read asked of the transport (main wraps it in a
  // CountingMemory) and, with NetTLP, the link's own counters. Null when absent.
  const CountingMemory* read_counts = nullptr;
  const TransportStats* link_stats = nullptr;
  // What the memory source knows to be backed (a file's extent, an ELF core's segments, a
  // NetTLP --ram-size): the RAM list of a dump when the kernel's own cannot be read.
  std::vector<kernel::RamRange> source_ranges;
  // Whether types recovery goes on to write the symbol file (so that it is ready when gdb
  // connects). `--run` turns it off: no gdb will fetch it, and `symbol-file` builds it on demand.
  bool prebuild_symbol_file = true;

  // Publishes a discovery status (as discover() does); for tests of what sessions see while
  // discovery runs or after it failed.
  void set_discovery_status(DiscoveryStatus st);

  // Kernel types: state, and a wait bounded like wait_for_discovery.
  TypesStatus types() const;
  TypesStatus wait_for_types(Deadline until) const;
  // Recovers BTF for `img` on a background thread (discover() calls it on success). `range`:
  // [__start_BTF, __stop_BTF) when symbols know it; otherwise the image is scanned. Without
  // BTF, offsets are inferred when `symbols` are there.
  void recover_types_in_background(
      std::shared_ptr<const kernel::KernelImage> img,
      std::optional<kernel::VaRange> range = std::nullopt,
      std::shared_ptr<const kernel::RecoveredSymbols> symbols = nullptr);
  // A profile (--profile) to add to the types of every kernel discovered from now on: refused
  // (types fail, saying what differs) when it belongs to another kernel, unless `force`.
  void set_profile(kernel::Profile p, std::string path, bool force);
  // Publishes a types status (tests).
  void set_types_status(TypesStatus st);
  SymbolsStatus symbols() const;
  // Waits until symbol recovery is not running (or `until` passes).
  SymbolsStatus wait_for_symbols(Deadline until) const;
  // Publishes a symbols status (as discover() does after recovering them); also for tests.
  void set_symbols_status(SymbolsStatus st);

  // The kernel's ORC tables (kernel/linux/orc.hpp), or why there are none: static image data,
  // read once per kernel image (`key` names it) and shared by every session. Null: not read.
  // The symbol file of the discovered kernel: written once per kernel image, on a background
  // thread as soon as its symbols and types are known (or asked for), and kept in memory.
  // Waits for discovery, symbols, types and the writing until `until`; busy while one of
  // them still runs, not_found when there is no kernel or no symbols.
  Result<std::shared_ptr<const ServedSymbolFile>> symbol_file(Deadline until);

  using OrcResult = std::shared_ptr<const Result<kernel::OrcTable>>;
  OrcResult orc_table(const std::string& key) const;
  void set_orc_table(std::string key, OrcResult t);

 private:
  // Without BTF: infers offsets and publishes them as the types (or the failure).
  void infer_types(const kernel::KernelImage& img,
                   const std::shared_ptr<const kernel::RecoveredSymbols>& symbols,
                   const std::string& btf_error);
  // Adds the profile, if any, to `ti` when it belongs to `img` (or is forced); the error says
  // why it was refused.
  Result<std::optional<ProfileUse>> apply_profile(const kernel::KernelImage& img,
                                                  kernel::TypeInfo& ti) const;
  // Recovers kallsyms for `img` and publishes the outcome (symbols()).
  void recover_symbols(const kernel::KernelImage& img, const kernel::ProgressFn& progress);

  PhysicalMemory& memory_;
  mutable std::mutex mu_;
  std::optional<SpaceConfig> space_;
  DiscoveryStatus status_;
  SymbolsStatus symbols_;
  mutable std::condition_variable discovery_done_;
  std::mutex discovery_mu_;  // one discovery at a time
  std::thread background_;
  TypesStatus types_;
  std::shared_ptr<const kernel::Profile> profile_;
  ProfileUse profile_use_;
  mutable std::condition_variable types_done_;
  std::thread types_thread_;
  std::string orc_key_;
  OrcResult orc_;
  // symbol_file(): the file, the image it was written for, the writer thread.
  std::mutex file_mu_;
  std::condition_variable file_done_;
  std::thread file_thread_;
  bool file_running_ = false;
  std::shared_ptr<const kernel::KernelImage> file_image_;
  std::shared_ptr<const ServedSymbolFile> file_;
};

// The address space discovery found.
SpaceConfig space_from_image(const kernel::KernelImage& img);
// The gdb command that loads a vmlinux at the right addresses for this kernel.
std::string symbol_file_command(const kernel::KernelImage& img);

}  // namespace tlpstub::app
