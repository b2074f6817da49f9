// The one interface of transport/: batched reads of physical memory (design.md, layer rules).
//
// A batch is the unit of performance: callers that need many reads hand over a batch, and
// implementations (the NetTLP client) keep many requests in flight. Every range gets its own
// result: success, or a typed error carrying the first physical address that failed.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "common/bytes.hpp"
#include "common/deadline.hpp"
#include "common/error.hpp"

namespace tlpstub {

struct ReadRange {
  PhysAddr addr;
  std::span<std::uint8_t> out;  // filled on success; contents unspecified on error
};

using ReadStatus = Result<void>;

struct MemoryInfo {
  std::string name;              // "file:/path", "nettlp:192.168.10.1", ...
  std::uint64_t max_address = 0; // one past the highest backed physical address (0 = unknown)
  std::size_t preferred_batch = 64;  // how many ranges a caller should group per batch
  bool read_only = true;         // always true: tlpstub never writes target memory
};

class PhysicalMemory {
 public:
  virtual ~PhysicalMemory() = default;

  // Reads every range. results.size() must equal ranges.size(). Never throws for bad
  // addresses: each failure is reported in its own slot. Ranges not read by `deadline` fail
  // with Errc::deadline (implementations that are fast enough may finish anyway); such a range
  // was read up to error().address, so a caller can use that prefix (a short gdb reply).
  void read(std::span<const ReadRange> ranges, std::span<ReadStatus> results,
            Deadline deadline = kNoDeadline) {
    if (ranges.size() != results.size())
      throw std::invalid_argument("PhysicalMemory::read: ranges and results differ in size");
    do_read(ranges, results, deadline);
  }

  virtual MemoryInfo info() const = 0;

  // Convenience: one range.
  ReadStatus read_one(PhysAddr addr, std::span<std::uint8_t> out) {
    ReadRange r{addr, out};
    ReadStatus st;
    read(std::span<const ReadRange>(&r, 1), std::span<ReadStatus>(&st, 1));
    return st;
  }
  // Reads a little-endian u64.
  Result<std::uint64_t> read_u64(PhysAddr addr) {
    std::uint8_t b[8];
    if (auto st = read_one(addr, b); !st) return std::unexpected(st.error());
    return load_le64(b);
  }

 protected:
  virtual void do_read(std::span<const ReadRange> ranges, std::span<ReadStatus> results,
                       Deadline deadline) = 0;
};

}  // namespace tlpstub
