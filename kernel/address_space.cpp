#include "kernel/address_space.hpp"

#include "common/bytes.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <vector>

namespace tlpstub::kernel {

namespace {

// The part of the output that one virtual page maps.
struct Segment {
  PhysAddr phys;
  std::size_t out_offset = 0;
  std::size_t length = 0;
};

// Physically adjacent segments merged into one read: segments [first, last).
struct Piece {
  std::size_t first = 0, last = 0;
  PhysAddr phys;
  std::size_t out_offset = 0;
  std::size_t length = 0;
};

std::vector<ReadStatus> read_batch(PhysicalMemory& mem, const std::vector<ReadRange>& ranges) {
  std::vector<ReadStatus> results(ranges.size());
  mem.read(ranges, results);
  return results;
}

Error physical_fault(const Error& e, VirtAddr va, PhysAddr phys) {
  return Error::make(e.code,
                     fmt::format("cannot read virtual {:#x} (physical {:#x}): {}", va.value,
                                 phys.value, e.message),
                     va.value);
}

}  // namespace

AddressSpace::AddressSpace(PhysicalMemory& mem, PageWalker& walker, PhysAddr top)
    : mem_(mem), walker_(walker), top_(top) {}

ReadOutcome AddressSpace::read(VirtAddr va, std::span<std::uint8_t> out) {
  ReadOutcome outcome;
  if (out.empty()) return outcome;

  // Every page of the range; the first entry is va itself so that an error names the exact
  // first byte, the others are page starts (va + their offset in `out`).
  const std::uint64_t in_page = va.value & kPageMask;
  const std::size_t pages = static_cast<std::size_t>((in_page + (out.size() - 1)) / kPageSize) + 1;
  std::vector<VirtAddr> vas(pages);
  vas[0] = va;
  for (std::size_t k = 1; k < pages; ++k) vas[k] = VirtAddr(va.value - in_page + k * kPageSize);
  std::vector<Result<Translation>> tr = walker_.translate_many(top_, vas);

  std::vector<Segment> segments;
  std::optional<Error> translation_fault;
  std::size_t offset = 0;
  for (std::size_t k = 0; k < pages; ++k) {
    if (!tr[k]) {
      translation_fault = std::move(tr[k].error());
      break;
    }
    const std::size_t len = std::min<std::size_t>(kPageSize - (vas[k].value & kPageMask),
                                                  out.size() - offset);
    segments.push_back({tr[k]->phys, offset, len});
    offset += len;
  }

  std::vector<Piece> pieces;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const Segment& s = segments[i];
    if (!pieces.empty() && pieces.back().phys.value + pieces.back().length == s.phys.value) {
      pieces.back().last = i + 1;
      pieces.back().length += s.length;
    } else {
      pieces.push_back({i, i + 1, s.phys, s.out_offset, s.length});
    }
  }

  std::vector<ReadRange> ranges;
  for (const Piece& p : pieces)
    ranges.push_back({p.phys, out.subspan(p.out_offset, p.length)});
  std::vector<ReadStatus> results = ranges.empty() ? std::vector<ReadStatus>{}
                                                   : read_batch(mem_, ranges);

  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (results[i]) {
      outcome.bytes_read += pieces[i].length;
      continue;
    }
    const Piece& p = pieces[i];
    // Cut short by the request's deadline: the piece was read up to the error's address
    // (PhysicalMemory::read), and there is no time for another batch.
    if (results[i].error().code == Errc::deadline) {
      const std::uint64_t at = results[i].error().address;
      outcome.bytes_read += static_cast<std::size_t>(
          std::clamp<std::uint64_t>(at, p.phys.value, p.phys.value + p.length) - p.phys.value);
      outcome.fault = physical_fault(results[i].error(), va + outcome.bytes_read,
                                     PhysAddr(std::max(at, p.phys.value)));
      return outcome;
    }
    // A merged read failed: its contents are unspecified, so find the first bad page by
    // reading the piece's pages separately (rare path: one more batch).
    if (p.last - p.first == 1) {
      outcome.fault = physical_fault(results[i].error(), va + outcome.bytes_read, p.phys);
      return outcome;
    }
    std::vector<ReadRange> sub;
    for (std::size_t k = p.first; k < p.last; ++k)
      sub.push_back({segments[k].phys, out.subspan(segments[k].out_offset, segments[k].length)});
    std::vector<ReadStatus> sub_results = read_batch(mem_, sub);
    for (std::size_t k = 0; k < sub.size(); ++k) {
      if (!sub_results[k]) {
        outcome.fault = physical_fault(sub_results[k].error(), va + outcome.bytes_read,
                                       sub[k].addr);
        return outcome;
      }
      outcome.bytes_read += sub[k].out.size();
    }
    // Every page read on its own: the merged failure was transient. Carry on.
  }

  if (translation_fault) {
    translation_fault->address = (va + outcome.bytes_read).value;
    outcome.fault = std::move(translation_fault);
  }
  return outcome;
}

Result<std::uint64_t> AddressSpace::read_u64(VirtAddr va) {
  std::uint8_t b[8];
  ReadOutcome r = read(va, b);
  if (r.fault) return std::unexpected(std::move(*r.fault));
  return load_le64(b);
}

Result<PhysAddr> AddressSpace::to_phys(VirtAddr va) {
  auto t = walker_.translate(top_, va);
  if (!t) return std::unexpected(std::move(t.error()));
  return t->phys;
}

}  // namespace tlpstub::kernel
