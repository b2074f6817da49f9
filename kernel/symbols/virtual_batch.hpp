// Many small virtual reads as one batch: every page of every range is translated together
// (PageWalker::translate_many: at most `levels` batches of table reads, fewer when cached),
// then every physical piece is read in ONE PhysicalMemory batch. Offset inference reads the
// neighbours of init_task this way (one round trip per step of a list, not one per field).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kernel/page_walker.hpp"

namespace tlpstub::kernel {

struct VirtualRead {
  std::uint64_t va = 0;
  std::size_t len = 0;
};

// Largest range accepted (a range of this size is already a bug in the caller).
inline constexpr std::size_t kMaxVirtualRead = 1u << 20;

// One result per range, in order: its bytes, or nullopt when any byte could not be
// translated or read (or the range is empty, too long, or wraps).
std::vector<std::optional<std::vector<std::uint8_t>>> read_virtual_batch(
    PhysicalMemory& mem, PageWalker& walker, PhysAddr top, std::span<const VirtualRead> reads);

}  // namespace tlpstub::kernel
