// ReadPlan: which spans of a kernel object to read for a set of its fields, grouped so that
// the reads cost the fewest datagrams on the link (the task walk reads thousands of
// task_structs and struct pids in one batch; kernel/linux/tasks.hpp).
//
// Reading a whole 10 KiB task_struct would cost bandwidth; reading each field alone, a
// request each. What one read costs, as PCIe and the target's root complex answer it
// (shared/facts/nettlp.md): one request per piece that does not cross a 512-byte boundary
// (the Max Read Request Size; 512 divides 4096, so no piece crosses a page either), and one
// completion per at most 256 bytes (Max Payload Size) where every completion but the last
// ends on a 64-byte boundary (the Read Completion Boundary). A request and a completion are a
// datagram each, and datagrams are what the link spends its time on (perf put ~77% of a
// 5,000-task walk through tlpsim in the kernel's UDP code).
//
// The cost depends on where the object sits in its page, and the walk knows each object's
// address before it reads it: the fields are grouped per object by dynamic programming over
// the sorted pieces (a handful: cheap), remembered per offset in the page. On a 6.12 guest
// this read [tasks .. pid_links] and comm apart where together they would cost one more
// completion: 11.4 datagrams per task instead of 12.4 (bench/tasks_bench).
//
// Fields wanted only "if free" (a third consistency check, say) are read where a span that is
// read anyway covers them, or reading them costs nothing more, and left out elsewhere;
// reads() says, per object, whether one was.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernel/linux/task_layout.hpp"

namespace tlpstub::kernel {

// Requests plus completions that one read of [va, va + size) costs.
std::uint64_t read_datagrams(std::uint64_t va, std::uint64_t size);

using ReadSpans = std::vector<std::pair<std::uint64_t, std::uint64_t>>;  // (offset, size)

class ReadPlan {
 public:
  ReadPlan() = default;
  // Absent and empty fields are left out; overlapping or touching ones become one piece.
  explicit ReadPlan(std::vector<Field> fields, std::vector<Field> if_free = {});

  std::uint64_t base = 0, extent = 0;  // a buffer covering [base, base + extent) holds them all

  // The spans to read for the object at `addr`, cheapest first found, in offset order.
  const ReadSpans& spans(std::uint64_t addr);
  // Whether spans(addr) cover all of `f` (a field asked for "if free" may not be).
  bool reads(std::uint64_t addr, const Field& f);

 private:
  ReadSpans group(std::uint64_t addr) const;

  ReadSpans pieces_;          // (offset, size) of merged fields
  std::vector<bool> needed_;  // per piece: false when only "if free" fields make it up
  std::unordered_map<std::uint64_t, ReadSpans> memo_;
};

}  // namespace tlpstub::kernel
