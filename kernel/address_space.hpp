// A virtual address space: a top-level table, a PageWalker and the PhysicalMemory behind both.
//
// read() answers "read N bytes at VA" the way a debugger wants: as many bytes from the start as
// can be read, and why the first unread byte could not be. It translates every page of the
// range in one translate_many (at most `levels` batches of table reads, fewer when cached),
// then reads all the physical pieces in ONE batch, merging physically adjacent pages.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "common/address.hpp"
#include "common/error.hpp"
#include "kernel/page_walker.hpp"
#include "transport/physical_memory.hpp"

namespace tlpstub::kernel {

// Bytes [0, bytes_read) of the output were read. When fewer than asked, `fault` says why the
// byte at va + bytes_read could not be read; fault->address is always that virtual address
// (the message names the physical address when the failure was a physical read).
struct ReadOutcome {
  std::size_t bytes_read = 0;
  std::optional<Error> fault;

  bool complete() const { return !fault; }
};

class AddressSpace {
 public:
  AddressSpace(PhysicalMemory& mem, PageWalker& walker, PhysAddr top);

  ReadOutcome read(VirtAddr va, std::span<std::uint8_t> out);
  Result<std::uint64_t> read_u64(VirtAddr va);
  Result<PhysAddr> to_phys(VirtAddr va);
  Result<Translation> translate(VirtAddr va) { return walker_.translate(top_, va); }
  Walk walk(VirtAddr va) { return walker_.walk(top_, va); }

  PhysAddr top() const { return top_; }
  void set_top(PhysAddr top) { top_ = top; }
  // From a CR3 value or pgd physical address (see cr3_table()), with the walker's SME mask.
  void set_cr3(std::uint64_t cr3_or_pgd, bool pti_pair = true) {
    top_ = cr3_table(cr3_or_pgd, walker_.sme_mask(), pti_pair);
  }
  int levels() const { return walker_.levels(); }
  // The depth is a property of the machine: this changes it for every user of the walker.
  void set_levels(int levels) { walker_.set_levels(levels); }

  PageWalker& walker() { return walker_; }
  PhysicalMemory& memory() { return mem_; }

 private:
  PhysicalMemory& mem_;
  PageWalker& walker_;
  PhysAddr top_;
};

}  // namespace tlpstub::kernel
