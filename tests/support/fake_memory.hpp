// Test support: a sparse fake PhysicalMemory with error injection and read counters, and a
// builder of synthetic x86-64 page tables in it (4- or 5-level, 4K/2M/1G pages, PTI pairs,
// raw entries for holes and corruption). Header-only; include as "tests/support/fake_memory.hpp".
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <fmt/format.h>
#include <map>
#include <span>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "common/address.hpp"
#include "common/error.hpp"
#include "transport/physical_memory.hpp"

namespace tlpstub::test {

// Physical memory made of 4 KiB pages that exist only once written (or backed). Reading a page
// that does not exist fails with Errc::unbacked; fail_at() makes chosen pages fail with any code.
// Every read() call is counted and logged, so tests can prove caching and batching.
class FakeMemory final : public PhysicalMemory {
 public:
  struct LoggedRange {
    std::uint64_t addr;
    std::size_t length;
  };

  // --- contents ---
  void write(PhysAddr addr, std::span<const std::uint8_t> data) {
    for (std::size_t i = 0; i < data.size(); ++i) byte(addr.value + i) = data[i];
  }
  void write_u64(PhysAddr addr, std::uint64_t v) {
    std::uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(v >> (8 * i));
    write(addr, b);
  }
  std::uint64_t peek_u64(PhysAddr addr) const {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | peek(addr.value + i);
    return v;
  }
  std::uint8_t peek(std::uint64_t addr) const {
    auto it = pages_.find(addr & ~kPageMask);
    return it == pages_.end() ? 0 : it->second[addr & kPageMask];
  }
  // Makes [addr, addr+len) exist (zero-filled where new).
  void back(PhysAddr addr, std::uint64_t len) {
    for (std::uint64_t p = addr.value & ~kPageMask; p < addr.value + len; p += kPageSize)
      pages_.try_emplace(p);
  }
  // Fills [addr, addr+len) with pattern_at(address), a byte that depends on the address.
  void fill_pattern(PhysAddr addr, std::uint64_t len) {
    for (std::uint64_t i = 0; i < len; ++i) byte(addr.value + i) = pattern_at(addr.value + i);
  }
  static std::uint8_t pattern_at(std::uint64_t phys) {
    return static_cast<std::uint8_t>((phys * 131) ^ (phys >> 12) ^ (phys >> 21) ^ (phys >> 30));
  }
  void remove_page(PhysAddr addr) { pages_.erase(addr.value & ~kPageMask); }
  bool has_page(PhysAddr addr) const { return pages_.contains(addr.value & ~kPageMask); }
  std::size_t page_count() const { return pages_.size(); }

  // --- error injection: any read touching the page of `addr` fails with `code` ---
  void fail_at(PhysAddr addr, Errc code = Errc::completer_abort) {
    failures_[addr.value & ~kPageMask] = code;
  }
  void clear_failures() { failures_.clear(); }

  // --- counters ---
  std::size_t batches() const { return log_.size(); }
  std::size_t ranges() const {
    std::size_t n = 0;
    for (auto& b : log_) n += b.size();
    return n;
  }
  std::uint64_t bytes() const {
    std::uint64_t n = 0;
    for (auto& b : log_)
      for (auto& r : b) n += r.length;
    return n;
  }
  const std::vector<std::vector<LoggedRange>>& log() const { return log_; }
  void reset_counters() { log_.clear(); }

  // --- PhysicalMemory ---
 protected:
  void do_read(std::span<const ReadRange> ranges, std::span<ReadStatus> results,
               Deadline) override {
    auto& batch = log_.emplace_back();
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      batch.push_back({ranges[i].addr.value, ranges[i].out.size()});
      results[i] = read_range(ranges[i]);
    }
  }
 public:
  MemoryInfo info() const override {
    MemoryInfo mi;
    mi.name = "fake";
    mi.max_address = pages_.empty() ? 0 : pages_.rbegin()->first + kPageSize;
    return mi;
  }

 private:
  using Page = std::array<std::uint8_t, kPageSize>;

  std::uint8_t& byte(std::uint64_t addr) {
    auto [it, inserted] = pages_.try_emplace(addr & ~kPageMask);
    if (inserted) it->second.fill(0);
    return it->second[addr & kPageMask];
  }

  ReadStatus read_range(const ReadRange& r) {
    std::uint64_t addr = r.addr.value;
    std::size_t done = 0;
    while (done < r.out.size()) {
      const std::uint64_t page = addr & ~kPageMask;
      if (auto f = failures_.find(page); f != failures_.end())
        return fail(f->second, fmt::format("injected {} at physical {:#x}", errc_name(f->second),
                                           addr), addr);
      auto it = pages_.find(page);
      if (it == pages_.end())
        return fail(Errc::unbacked, fmt::format("no memory at physical {:#x}", addr), addr);
      const std::size_t n =
          std::min<std::size_t>(r.out.size() - done, kPageSize - (addr & kPageMask));
      std::memcpy(r.out.data() + done, it->second.data() + (addr & kPageMask), n);
      done += n;
      addr += n;
    }
    return {};
  }

  std::map<std::uint64_t, Page> pages_;  // ordered: info().max_address
  std::unordered_map<std::uint64_t, Errc> failures_;
  std::vector<std::vector<LoggedRange>> log_;
};

// Builds x86-64 page tables in a FakeMemory. Table pages come from a bump allocator starting at
// `first_table`; every entry the builder writes carries `sme_mask` (as a target with SME sets
// the C-bit in every entry). Misuse (mapping over a large page, a misaligned frame) throws.
class PageTableBuilder {
 public:
  // Entry bits, spelled out here so the fake does not depend on the code under test.
  static constexpr std::uint64_t P = 1ull << 0, RW = 1ull << 1, US = 1ull << 2, A = 1ull << 5,
                                 D = 1ull << 6, PS = 1ull << 7, G = 1ull << 8,
                                 NX = 1ull << 63;
  static constexpr std::uint64_t kTableFlags = P | RW | US | A | D;  // Linux _PAGE_TABLE
  static constexpr std::uint64_t kKernelData = P | RW | A | D | G | NX;
  static constexpr std::uint64_t kKernelText = P | A | D | G;
  static constexpr std::uint64_t kUserData = P | RW | US | A | D | NX;

  struct Options {
    int levels = 4;
    std::uint64_t first_table = 0x10'0000;
    std::uint64_t sme_mask = 0;
    bool pti = false;  // top-level table as an 8 KiB-aligned pair: kernel half, user half
  };

  explicit PageTableBuilder(FakeMemory& mem) : PageTableBuilder(mem, Options{}) {}
  PageTableBuilder(FakeMemory& mem, Options opt) : mem_(mem), opt_(opt), next_(opt.first_table) {
    if (opt.levels != 4 && opt.levels != 5) throw std::invalid_argument("levels must be 4 or 5");
    if (opt.pti) {
      next_ = (next_ + 0x1fff) & ~0x1fffull;
      top_ = alloc_table();
      alloc_table();  // user half, top_ + 0x1000
    } else {
      top_ = alloc_table();
    }
    root_ = top_;
  }

  int levels() const { return opt_.levels; }
  std::uint64_t sme_mask() const { return opt_.sme_mask; }
  PhysAddr top() const { return top_; }                       // kernel half
  PhysAddr user_top() const { return opt_.pti ? top_ + kPageSize : top_; }
  // Subsequent map/set calls build under the user half (PTI) or the kernel half.
  void use_user_half() { root_ = user_top(); }
  void use_kernel_half() { root_ = top_; }
  std::uint64_t next_free() const { return next_; }

  // A zeroed 4 KiB page from the bump allocator.
  PhysAddr alloc_table() {
    PhysAddr p(next_);
    next_ += kPageSize;
    mem_.back(p, kPageSize);
    return p;
  }

  void map_4k(VirtAddr va, PhysAddr frame, std::uint64_t flags = kKernelData) {
    map(va, frame, flags, 1);
  }
  void map_2m(VirtAddr va, PhysAddr frame, std::uint64_t flags = kKernelData) {
    map(va, frame, flags | PS, 2);
  }
  void map_1g(VirtAddr va, PhysAddr frame, std::uint64_t flags = kKernelData) {
    map(va, frame, flags | PS, 3);
  }
  // Maps [va, va+len) to [phys, phys+len) with 4 KiB pages.
  void map_range_4k(VirtAddr va, PhysAddr phys, std::uint64_t len,
                    std::uint64_t flags = kKernelData) {
    for (std::uint64_t off = 0; off < len; off += kPageSize) map_4k(va + off, phys + off, flags);
  }

  // Physical address of the table used at `level` on the path of va (creating the tables
  // above it as needed).
  PhysAddr table_at(int level, VirtAddr va) {
    PhysAddr table = root_;
    for (int l = opt_.levels; l > level; --l) table = child(table, l, va, true);
    return table;
  }
  PhysAddr entry_addr(int level, VirtAddr va) {
    return table_at(level, va) + 8 * index(va, level);
  }
  // Writes a raw entry (no SME bits added) at `level` on the path of va.
  void set_raw(int level, VirtAddr va, std::uint64_t entry) {
    mem_.write_u64(entry_addr(level, va), entry);
  }
  std::uint64_t get_raw(int level, VirtAddr va) { return mem_.peek_u64(entry_addr(level, va)); }
  void add_bits(int level, VirtAddr va, std::uint64_t b) { set_raw(level, va, get_raw(level, va) | b); }
  void clear_bits(int level, VirtAddr va, std::uint64_t b) {
    set_raw(level, va, get_raw(level, va) & ~b);
  }

  // A CR3 value for this table: PCID in bits 0..11, the user half when asked, bit 63 (no flush).
  std::uint64_t cr3(std::uint16_t pcid = 0, bool user_half = false, bool noflush = false) const {
    std::uint64_t v = (user_half ? user_top() : top_).value | opt_.sme_mask | (pcid & 0xfffu);
    if (noflush) v |= 1ull << 63;
    return v;
  }

  static constexpr int shift(int level) { return 12 + 9 * (level - 1); }
  static constexpr unsigned index(VirtAddr va, int level) {
    return static_cast<unsigned>((va.value >> shift(level)) & 511);
  }

 private:
  static constexpr std::uint64_t kFrame = 0x000F'FFFF'FFFF'F000ull;

  // The table below `table`'s entry for va at `level`, created when absent.
  PhysAddr child(PhysAddr table, int level, VirtAddr va, bool create) {
    const PhysAddr ea = table + 8 * index(va, level);
    const std::uint64_t e = mem_.peek_u64(ea) & ~opt_.sme_mask;
    if (e & P) {
      if (level <= 3 && (e & PS))
        throw std::logic_error(fmt::format("{:#x}: a large page is mapped at level {}", va.value,
                                           level));
      return PhysAddr(e & kFrame);
    }
    if (!create) throw std::logic_error("missing table");
    const PhysAddr t = alloc_table();
    mem_.write_u64(ea, t.value | kTableFlags | opt_.sme_mask);
    return t;
  }

  void map(VirtAddr va, PhysAddr frame, std::uint64_t flags, int level) {
    const std::uint64_t size = 1ull << shift(level);
    if (frame.value & (size - 1) || va.value & (size - 1))
      throw std::logic_error(fmt::format("{:#x} -> {:#x}: not aligned to {:#x}", va.value,
                                         frame.value, size));
    if (level > 1) {
      const std::uint64_t old = get_raw(level, va) & ~opt_.sme_mask;
      if ((old & P) && !(old & PS))
        throw std::logic_error(fmt::format("{:#x}: a table is already mapped at level {}",
                                           va.value, level));
    }
    set_raw(level, va, frame.value | flags | opt_.sme_mask);
  }

  FakeMemory& mem_;
  Options opt_;
  std::uint64_t next_;
  PhysAddr top_, root_;
};

}  // namespace tlpstub::test
