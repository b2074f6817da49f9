#include "kernel/page_walker.hpp"

#include <fmt/format.h>
#include <stdexcept>

namespace tlpstub::kernel {

namespace {

void check_levels(int levels) {
  if (levels != 4 && levels != 5)
    throw std::invalid_argument(fmt::format("paging depth must be 4 or 5, not {}", levels));
}

}  // namespace

// The walk of one address in progress.
struct PageWalker::State {
  Translation t;
  PhysAddr table;                // table to use at the current level
  std::optional<Error> error;
  bool done = false;
};

PageWalker::PageWalker(PhysicalMemory& mem, int levels, std::uint64_t sme_mask)
    : mem_(mem), levels_(levels), sme_mask_(sme_mask) {
  check_levels(levels);
}

void PageWalker::set_levels(int levels) {
  check_levels(levels);
  levels_ = levels;
}

void PageWalker::new_epoch() {
  cache_.clear();
  ++stats_.epochs;
}

Result<Translation> PageWalker::translate(PhysAddr top, VirtAddr va) {
  return std::move(walk(top, va).result);
}

Walk PageWalker::walk(PhysAddr top, VirtAddr va) {
  return std::move(walk_many(top, std::span<const VirtAddr>(&va, 1)).front());
}

std::vector<Result<Translation>> PageWalker::translate_many(PhysAddr top,
                                                            std::span<const VirtAddr> vas) {
  std::vector<Walk> walks = walk_many(top, vas);
  std::vector<Result<Translation>> out;
  out.reserve(walks.size());
  for (Walk& w : walks) out.push_back(std::move(w.result));
  return out;
}

std::vector<Walk> PageWalker::walk_many(PhysAddr top, std::span<const VirtAddr> vas) {
  std::vector<State> states(vas.size());
  for (std::size_t i = 0; i < vas.size(); ++i) {
    State& s = states[i];
    s.t.va = vas[i];
    s.t.writable = s.t.user = true;  // narrowed at every level
    s.table = top;
    if (!is_canonical(vas[i], levels_)) {
      s.error = Error::make(Errc::non_canonical,
                            fmt::format("{:#x} is not canonical with {}-level paging",
                                        vas[i].value, levels_),
                            vas[i].value);
      s.done = true;
    }
  }
  stats_.walks += vas.size();

  // All walks start at the top, so they stay in lockstep: one batch per level at most.
  for (int level = levels_; level >= 1; --level) {
    fetch_missing(states);
    for (State& s : states) {
      if (s.done) continue;
      step(s, level, cache_.at(s.table.value));
    }
  }

  std::vector<Walk> out;
  out.reserve(states.size());
  for (State& s : states) {
    Walk w{s.t.steps, Result<Translation>()};
    if (s.error) w.result = std::unexpected(std::move(*s.error));
    else w.result = std::move(s.t);
    out.push_back(std::move(w));
  }
  return out;
}

void PageWalker::fetch_missing(std::span<State> states) {
  if (cache_.size() >= kMaxCachedTables) cache_.clear();
  std::vector<TableRead> reads;
  std::vector<CachedTable*> slots;
  for (const State& s : states) {
    if (s.done) continue;
    auto [it, inserted] = cache_.try_emplace(s.table.value);
    if (!inserted) {
      ++stats_.cache_hits;
      continue;
    }
    // Until the read succeeds the slot says so, should read() throw half-way.
    it->second.error = Error::make(Errc::io, "table read did not complete", s.table.value);
    reads.push_back({s.table, &it->second.entries});
    slots.push_back(&it->second);
  }
  if (reads.empty()) return;

  std::vector<ReadStatus> results(reads.size());
  ++stats_.batches;
  stats_.table_reads += reads.size();
  read_tables(mem_, reads, results);
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (!results[i])
      slots[i]->error = std::move(results[i].error());
    else
      slots[i]->error.reset();
  }
}

void PageWalker::step(State& s, int level, const CachedTable& table) {
  const std::uint64_t va = s.t.va.value;
  if (table.error) {
    Error e = *table.error;
    e.message = fmt::format("reading {} table at {:#x} for {:#x}: {}", table_name(level),
                            s.table.value, va, e.message);
    s.error = std::move(e);
    s.done = true;
    return;
  }
  const unsigned index = level_index(s.t.va, level);
  const std::uint64_t raw = table.entries[index];
  s.t.steps.push({level, s.table, index, raw});
  const std::uint64_t e = raw & ~sme_mask_;
  auto where = [&] {
    return fmt::format("level {}, entry {:#x}, index {:#x} in table {:#x}", level, raw, index,
                       s.table.value);
  };
  if (!(e & bits::P)) {
    s.error = Error::make(
        Errc::not_present,
        fmt::format("{} not present for {:#x} ({})", entry_name(level), va, where()), va);
    s.done = true;
    return;
  }
  if (auto problem = entry_problem(e, level)) {
    s.error = Error::make(Errc::malformed,
                          fmt::format("{} for {:#x} is corrupt: {} ({})", entry_name(level), va,
                                      *problem, where()),
                          va);
    s.done = true;
    return;
  }
  s.t.writable = s.t.writable && (e & bits::RW);
  s.t.user = s.t.user && (e & bits::US);
  s.t.nx = s.t.nx || (e & bits::NX);
  if (is_leaf(e, level)) {
    const std::uint64_t size = level_span(level);
    s.t.page_size = size;
    s.t.phys = PhysAddr((e & frame_mask(size)) | (va & (size - 1)));
    s.done = true;
    return;
  }
  s.table = PhysAddr(e & kFrameMask4K);
}

}  // namespace tlpstub::kernel
