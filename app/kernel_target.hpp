// The stub::Target for one gdb connection: kernel virtual memory through a software page
// walk (or physical memory in `monitor phys on` mode), threads, registers, monitor commands.
// This is where gdb-facing stub/ meets the x86-64/Linux knowledge in kernel/.
#pragma once

#include <memory>
#include <optional>

#include "app/target_context.hpp"
#include "kernel/page_walker.hpp"
#include "stub/monitor.hpp"
#include "stub/target.hpp"
#include "transport/deadline_memory.hpp"

namespace tlpstub::app {

class KernelTarget final : public stub::Target {
 public:
  explicit KernelTarget(TargetContext& ctx);

  stub::MemoryReadResult read_memory(std::uint64_t addr, std::span<std::uint8_t> out) override;
  std::vector<stub::ThreadInfo> threads() override;
  Result<stub::RegisterSet> registers(std::int64_t thread_id) override;
  Result<void> monitor(std::string_view command, const stub::OutputFn& out) override;
  std::optional<stub::SectionOffsets> offsets() override;
  void begin_request(Deadline deadline) override;
  std::string attach_message() override;

 private:
  void register_commands();
  // The address space this session reads: its own CR3 override, else the shared kernel one.
  std::optional<SpaceConfig> space() const;
  // Why there is no address space yet: discovery running, failed, or never run.
  Error no_space_error(std::uint64_t addr) const;
  stub::MemoryReadResult read_physical(std::uint64_t addr, std::span<std::uint8_t> out);
  stub::MemoryReadResult read_virtual(const SpaceConfig& sc, std::uint64_t addr,
                                      std::span<std::uint8_t> out);
  kernel::PageWalker& walker_for(const SpaceConfig& sc);

  Result<void> cmd_phys(const std::vector<std::string_view>& args, const stub::OutputFn& out);
  Result<void> cmd_v2p(const std::vector<std::string_view>& args, const stub::OutputFn& out);
  Result<void> cmd_cr3(const std::vector<std::string_view>& args, const stub::OutputFn& out);
  Result<void> cmd_info(const std::vector<std::string_view>& args, const stub::OutputFn& out);
  Result<void> cmd_version(const std::vector<std::string_view>& args, const stub::OutputFn& out);
  Result<void> cmd_stats(const std::vector<std::string_view>& args, const stub::OutputFn& out);

  TargetContext& ctx_;
  DeadlineMemory mem_;  // ctx_.memory() with this session's reply deadline
  stub::MonitorRegistry monitor_;
  bool phys_mode_ = false;
  std::optional<SpaceConfig> override_;  // `monitor cr3 VALUE`
  std::unique_ptr<kernel::PageWalker> walker_;
  int walker_levels_ = 0;
  std::uint64_t walker_sme_ = 0;
};

}  // namespace tlpstub::app
