// State shared by every gdb session: the memory source, and what is known about the kernel
// address space (from --cr3 or from discovery). Sessions take a snapshot at each request, so
// a re-discovery (the target rebooted) is seen by the next request.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "common/address.hpp"
#include "transport/physical_memory.hpp"

namespace tlpstub::app {

struct SpaceConfig {
  PhysAddr top;              // top-level page table (already normalised)
  std::uint64_t raw_cr3 = 0; // as given or found
  int levels = 4;
  std::uint64_t sme_mask = 0;
  std::string source;        // "--cr3", "discovery (vmcoreinfo)", ...
  std::uint64_t image_va = 0;  // where the kernel image is mapped (_text), 0 if unknown
};

class TargetContext {
 public:
  explicit TargetContext(PhysicalMemory& mem) : memory_(mem) {}
  PhysicalMemory& memory() { return memory_; }

  std::optional<SpaceConfig> kernel_space() const {
    std::lock_guard lk(mu_);
    return space_;
  }
  void set_kernel_space(SpaceConfig c) {
    std::lock_guard lk(mu_);
    space_ = std::move(c);
  }

  // Transport statistics text for `monitor stats` (empty when the transport keeps none).
  std::function<std::string()> stats_text;

 private:
  PhysicalMemory& memory_;
  mutable std::mutex mu_;
  std::optional<SpaceConfig> space_;
};

}  // namespace tlpstub::app
