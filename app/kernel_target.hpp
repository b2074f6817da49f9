// The stub::Target for one gdb connection: a thin adapter from gdb's requests to the session's
// state (app/session_state.hpp) and the monitor commands (app/commands/). Memory is kernel
// virtual memory through a software page walk, or physical memory in `monitor phys on` mode.
#pragma once

#include "app/session_state.hpp"
#include "app/target_context.hpp"
#include "stub/monitor.hpp"
#include "stub/target.hpp"

namespace tlpstub::app {

class KernelTarget final : public stub::Target {
 public:
  explicit KernelTarget(TargetContext& ctx);

  stub::MemoryReadResult read_memory(std::uint64_t addr, std::span<std::uint8_t> out) override;
  std::vector<stub::ThreadInfo> threads() override;
  Result<stub::RegisterSet> registers(std::int64_t thread_id) override;
  Result<void> monitor(std::string_view command, const stub::OutputFn& out) override;
  bool monitor_is_long(std::string_view command) override;
  Result<void> monitor_long(std::string_view command, const stub::OutputFn& out,
                            const stub::StopFn& stop) override;
  std::optional<stub::SectionOffsets> offsets() override;
  void begin_request(Deadline deadline) override;
  std::string attach_message() override;
  // The symbol file written from kallsyms and BTF (TargetContext::symbol_file), as gdb's
  // exec-file; reading it never touches target memory.
  bool serves_files() const override { return true; }
  Result<std::string> exec_file() override;
  Result<FileBytes> open_file(std::string_view path) override;

  SessionState& state() { return state_; }

 private:
  stub::MemoryReadResult read_physical(std::uint64_t addr, std::span<std::uint8_t> out);

  SessionState state_;
  stub::MonitorRegistry monitor_;
};

}  // namespace tlpstub::app
