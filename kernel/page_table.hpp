// The one reader of page-table pages: whole 4 KiB tables (a table costs barely more than an
// entry over a slow link, design.md), in one batch, decoded to host-order entries. PageWalker,
// the depth probe and discovery all read tables through here.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "common/address.hpp"
#include "common/error.hpp"
#include "kernel/paging.hpp"
#include "transport/physical_memory.hpp"

namespace tlpstub::kernel {

using PageTable = std::array<std::uint64_t, kEntriesPerTable>;

struct TableRead {
  PhysAddr at;
  PageTable* out;  // contents unspecified if the read fails
};

// Reads every table in one batch; `status` gets one result per table (same size as `reads`).
void read_tables(PhysicalMemory& mem, std::span<const TableRead> reads,
                 std::span<ReadStatus> status);

// One table.
Result<PageTable> read_table(PhysicalMemory& mem, PhysAddr at);

}  // namespace tlpstub::kernel
