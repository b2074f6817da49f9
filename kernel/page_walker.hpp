// Software walk of x86-64 page tables (4- and 5-level; 4 KiB, 2 MiB and 1 GiB pages) over any
// PhysicalMemory.
//
// Performance model (design.md): a table entry costs one network round trip, a whole 4 KiB
// table barely more, so the walker reads table pages whole and keeps them until new_epoch().
// The target is live, so the session calls new_epoch() at the start of every gdb request: no
// table is ever served from a previous request. translate_many() walks many addresses level by
// level and fetches all the table pages missing at one level in a single batch, so translating
// N addresses costs at most `levels` batches, whatever N is.
//
// Failures are values: a hole is Errc::not_present naming the level, a non-canonical address is
// Errc::non_canonical, an entry that cannot be sound is Errc::malformed (all with the virtual
// address in Error::address); a table page that cannot be read propagates the transport error
// (its code and the physical address the transport reported).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/address.hpp"
#include "common/error.hpp"
#include "kernel/page_table.hpp"
#include "kernel/paging.hpp"
#include "transport/physical_memory.hpp"

namespace tlpstub::kernel {

// One level of a walk: which entry of which table was used, and its raw value (SME bits kept).
struct WalkStep {
  int level = 0;
  PhysAddr table;
  unsigned index = 0;
  std::uint64_t entry = 0;
};

// The steps of one walk, top level first; at most kMaxLevels, no allocation.
class WalkSteps {
 public:
  void push(const WalkStep& s) { items_[count_++] = s; }
  std::size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  const WalkStep& operator[](std::size_t i) const { return items_[i]; }
  const WalkStep& back() const { return items_[count_ - 1]; }
  const WalkStep* begin() const { return items_.data(); }
  const WalkStep* end() const { return items_.data() + count_; }

 private:
  std::array<WalkStep, kMaxLevels> items_{};
  std::size_t count_ = 0;
};

struct Translation {
  VirtAddr va;
  PhysAddr phys;                       // of va itself (page frame + offset)
  std::uint64_t page_size = kPageSize4K;
  // Effective rights: writable/user need RW/US at every level; nx is set if any level has NX.
  // Note: in the kernel half of a PTI pair the kernel forces NX on the top-level entries of
  // user addresses (arch/x86/mm/pti.c, __pti_set_user_pgtbl), so nx on a user address walked
  // through the kernel copy says nothing about the process. It is reported, never enforced.
  bool writable = false;
  bool user = false;
  bool nx = false;
  WalkSteps steps;

  PhysAddr page_base() const { return PhysAddr(phys.value & ~(page_size - 1)); }
  // Bytes from phys to the end of its page.
  std::uint64_t bytes_to_page_end() const { return page_size - (phys.value & (page_size - 1)); }
};

// A walk with the steps taken even when it failed: what `monitor v2p` prints.
struct Walk {
  WalkSteps steps;
  Result<Translation> result;
};

struct WalkerStats {
  std::uint64_t walks = 0;         // addresses translated
  std::uint64_t batches = 0;       // PhysicalMemory::read calls
  std::uint64_t table_reads = 0;   // table pages requested from memory
  std::uint64_t cache_hits = 0;    // table lookups served from the epoch cache
  std::uint64_t epochs = 0;        // new_epoch() calls
};

class PageWalker {
 public:
  // levels must be 4 or 5 (std::invalid_argument otherwise: a programming error).
  explicit PageWalker(PhysicalMemory& mem, int levels = 4, std::uint64_t sme_mask = 0);

  int levels() const { return levels_; }
  void set_levels(int levels);
  std::uint64_t sme_mask() const { return sme_mask_; }
  void set_sme_mask(std::uint64_t mask) { sme_mask_ = mask; }

  // `top` is the top-level table itself (see cr3_table() to get it from a CR3 value).
  Result<Translation> translate(PhysAddr top, VirtAddr va);
  // One result per address, in order. Costs at most levels() batches.
  std::vector<Result<Translation>> translate_many(PhysAddr top, std::span<const VirtAddr> vas);
  // Like translate, keeping the steps of a failed walk.
  Walk walk(PhysAddr top, VirtAddr va);
  std::vector<Walk> walk_many(PhysAddr top, std::span<const VirtAddr> vas);

  // Forgets every cached table page (and cached read failure). Call at the start of each
  // request: the target keeps running.
  void new_epoch();

  const WalkerStats& stats() const { return stats_; }
  std::size_t cached_tables() const { return cache_.size(); }

  // Safety valve for one very long epoch (a scan): past this many pages the cache restarts.
  static constexpr std::size_t kMaxCachedTables = 16384;  // 64 MiB

 private:
  struct CachedTable {
    PageTable entries{};
    std::optional<Error> error;  // the read failed; retried only in a later epoch
  };
  struct State;

  void fetch_missing(std::span<State> states);
  void step(State& s, int level, const CachedTable& table);

  PhysicalMemory& mem_;
  int levels_;
  std::uint64_t sme_mask_;
  std::unordered_map<std::uint64_t, CachedTable> cache_;
  WalkerStats stats_;
};

}  // namespace tlpstub::kernel
