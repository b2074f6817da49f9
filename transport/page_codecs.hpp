// One page of a kdump-compressed dump, decompressed by the codec its descriptor names
// (makedumpfile's DUMP_DH_COMPRESSED_* flags): none (raw), zlib, lzo, snappy, zstd.
#pragma once

#include <cstdint>
#include <span>

#include "common/error.hpp"

namespace tlpstub {

constexpr std::uint32_t kPageZlib = 0x1, kPageLzo = 0x2, kPageSnappy = 0x4, kPageZstd = 0x20;

// Fills `out` (one page) from `in`. An error unless the data decodes to exactly out.size()
// bytes, or if the codec was not built in (the message names the missing library).
Result<void> decompress_page(std::uint32_t flags, std::span<const std::uint8_t> in,
                             std::span<std::uint8_t> out);

}  // namespace tlpstub
