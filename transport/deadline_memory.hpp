// A PhysicalMemory decorator that gives every read a deadline set from outside: one gdb
// session sets it at each request (the reply is due before gdb's remotetimeout), and every
// layer below (page walks, structure reads) then stops in time without carrying it by hand.
// Not thread-safe for set_deadline(): one owner (a session) sets it between its requests.
#pragma once

#include <algorithm>

#include "transport/physical_memory.hpp"

namespace tlpstub {

class DeadlineMemory final : public PhysicalMemory {
 public:
  explicit DeadlineMemory(PhysicalMemory& inner) : inner_(inner) {}
  void set_deadline(Deadline d) { deadline_ = d; }
  Deadline deadline() const { return deadline_; }
  MemoryInfo info() const override { return inner_.info(); }

 protected:
  void do_read(std::span<const ReadRange> ranges, std::span<ReadStatus> results,
               Deadline deadline) override {
    inner_.read(ranges, results, std::min(deadline, deadline_));
  }

 private:
  PhysicalMemory& inner_;
  Deadline deadline_ = kNoDeadline;
};

}  // namespace tlpstub
