#include "kernel/page_table.hpp"

#include <vector>

#include "common/bytes.hpp"

namespace tlpstub::kernel {

namespace {

std::span<std::uint8_t> bytes_of(PageTable& t) {
  return {reinterpret_cast<std::uint8_t*>(t.data()), sizeof(PageTable)};
}

// The bytes were read in place: decode each entry where it lies (a no-op on x86 hosts).
void decode_in_place(PageTable& t) {
  for (auto& e : t) e = load_le64(reinterpret_cast<const std::uint8_t*>(&e));
}

}  // namespace

void read_tables(PhysicalMemory& mem, std::span<const TableRead> reads,
                 std::span<ReadStatus> status) {
  std::vector<ReadRange> ranges;
  ranges.reserve(reads.size());
  for (const TableRead& r : reads) ranges.push_back({r.at, bytes_of(*r.out)});
  mem.read(ranges, status);  // checks the sizes
  for (std::size_t i = 0; i < reads.size(); ++i)
    if (status[i]) decode_in_place(*reads[i].out);
}

Result<PageTable> read_table(PhysicalMemory& mem, PhysAddr at) {
  PageTable t{};
  ReadStatus st;
  const TableRead r{at, &t};
  read_tables(mem, std::span<const TableRead>(&r, 1), std::span<ReadStatus>(&st, 1));
  if (!st) return std::unexpected(std::move(st.error()));
  return t;
}

}  // namespace tlpstub::kernel
