// The printk log from hand-built ring buffers in fake memory (tests/kernel/printk_sample.hpp):
// wrap-around of ids, lpos and data blocks, descriptor states, corrupted descriptors and
// headers, -n, batching, and the pre-5.10 log_buf format.
#include <gtest/gtest.h>

#include "kernel/linux/printk.hpp"
#include "tests/kernel/printk_sample.hpp"

namespace tlpstub::kernel {
namespace {

using test::FakeMemory;
using test::PageTableBuilder;
using test::RingSim;

constexpr std::uint64_t kPrbSym = 0xffffffff82000000;   // `prb`, a pointer
constexpr std::uint64_t kRbVa = 0xffffffff82010100;     // printk_rb_dynamic
constexpr std::uint64_t kDescsVa = 0xffff888001000000;
constexpr std::uint64_t kInfosVa = 0xffff888001100000;
constexpr std::uint64_t kDataVa = 0xffff888001200000;

std::shared_ptr<const btf::Btf> parse(const test::BtfBlob& b) {
  auto p = btf::Btf::parse(b.bytes());
  EXPECT_TRUE(p) << p.error().message;
  return std::make_shared<const btf::Btf>(std::move(*p));
}

// Fake memory holding a RingSim's arrays at the VAs above, behind a 4-level table.
struct Rig {
  FakeMemory mem;
  PageTableBuilder b{mem, {.levels = 4, .first_table = 0x10000}};
  PageWalker walker{mem, 4, 0};
  TypeInfo types;
  SymbolTable syms{{{"prb", kPrbSym, 'D'}, {"_text", 0xffffffff81000000, 'T'}}};
  std::uint64_t next_pa = 0x1000000;

  explicit Rig(std::uint32_t pad = 0) : types(parse(test::printk_btf(pad))) {}

  // Maps the pages of [va, va + size) to fresh physical pages and writes the bytes there.
  void place(std::uint64_t va, const std::vector<std::uint8_t>& bytes) {
    const std::uint64_t start = va & ~0xfffull, end = (va + bytes.size() + 0xfff) & ~0xfffull;
    b.map_range_4k(VirtAddr(start), PhysAddr(next_pa), end - start);
    mem.write(PhysAddr(next_pa + (va - start)), bytes);
    next_pa += end - start;
  }
  PhysAddr phys(std::uint64_t va) { return walker.translate(b.top(), VirtAddr(va))->phys; }
  void load(const RingSim& r) {
    std::vector<std::uint8_t> ptr(8);
    RingSim::put64(ptr, 0, kRbVa);
    place(kPrbSym, ptr);
    place(kRbVa, r.header(kDescsVa, kInfosVa, kDataVa));
    place(kDescsVa, r.descs);
    place(kInfosVa, r.infos);
    place(kDataVa, r.data);
  }
  Result<KernelLog> read(std::optional<std::uint64_t> n = std::nullopt) {
    AddressSpace as(mem, walker, b.top());
    return read_kernel_log(as, syms, &types, n);
  }
};

std::vector<std::string> texts(const std::vector<LogRecord>& v) {
  std::vector<std::string> t;
  for (const LogRecord& r : v) t.push_back(r.text);
  return t;
}
std::vector<std::string> texts(const std::deque<RingSim::Rec>& v) {
  std::vector<std::string> t;
  for (const RingSim::Rec& r : v) t.push_back(r.text);
  return t;
}

TEST(Printk, LayoutFromBtf) {
  TypeInfo t(parse(test::printk_btf(16)));
  auto L = prb_layout(t);
  ASSERT_TRUE(L) << L.error().message;
  EXPECT_EQ(L->rb_size, 88u);
  EXPECT_EQ(L->head_id, 24u);
  EXPECT_EQ(L->size_bits, 48u);
  EXPECT_EQ(L->tail_lpos, 72u);
  EXPECT_EQ(L->blk_next, 16u);
  EXPECT_EQ(L->info_size, 104u);
  EXPECT_EQ(L->seq, 16u);
  EXPECT_EQ(L->text_len, 32u);
  EXPECT_EQ(L->level_bit, 16u * 8 + 157);
  EXPECT_EQ(L->level_bits, 3u);
  EXPECT_EQ(L->caller_id, 36u);
  EXPECT_FALSE(prb_layout(TypeInfo{}));
}

TEST(Printk, FewRecordsWithTimestampsAndLevels) {
  RingSim sim(4, 12);
  sim.push("Linux version 6.12.0 (test)", 0);
  sim.push("a line", 1500000000, 4);
  sim.push("two\nlines", 12345678901, 3);
  Rig rig;
  rig.load(sim);
  auto log = rig.read();
  ASSERT_TRUE(log) << log.error().message;
  EXPECT_EQ(texts(log->records), (std::vector<std::string>{"Linux version 6.12.0 (test)",
                                                           "a line", "two\nlines"}));
  EXPECT_EQ(log->records[1].level, 4);
  EXPECT_EQ(log->records[1].seq, 1u);
  EXPECT_EQ(log->records[2].caller_id, 0x80000007u);
  EXPECT_EQ(format_record(log->records[0]), "[    0.000000] Linux version 6.12.0 (test)\n");
  EXPECT_EQ(format_record(log->records[1]), "[    1.500000] a line\n");
  EXPECT_EQ(format_record(log->records[2]), "[   12.345678] two\n[   12.345678] lines\n");
  EXPECT_EQ(log->report.format, "printk_ringbuffer (5.10+)");
  EXPECT_EQ(log->report.skipped_state, 1u);  // the initial DESC0_ID slot, reusable
  EXPECT_EQ(log->report.first_seq, 0u);
  EXPECT_EQ(log->report.last_seq, 2u);
}

TEST(Printk, WrapAroundOfIdsLposAndBlocks) {
  RingSim sim(3, 8);  // 8 descriptors, 256 bytes of text
  bool wrapped_live = false;
  for (int i = 0; i < 40; ++i) {
    sim.push(fmt::format("record {} {}", i, std::string(static_cast<std::size_t>(i % 7) * 5, 'x')),
             static_cast<std::uint64_t>(i) * 1000);
  }
  for (const auto& r : sim.live) wrapped_live |= r.wrapped;
  // Push until a wrapped block is among the live ones (the builder says where it wrapped).
  for (int i = 40; !wrapped_live && i < 200; ++i) {
    sim.push(fmt::format("more {}", i), static_cast<std::uint64_t>(i) * 1000);
    wrapped_live = false;
    for (const auto& r : sim.live) wrapped_live |= r.wrapped;
  }
  ASSERT_TRUE(wrapped_live);
  Rig rig;
  rig.load(sim);
  auto log = rig.read();
  ASSERT_TRUE(log) << log.error().message;
  EXPECT_EQ(texts(log->records), texts(sim.live));
  EXPECT_EQ(log->report.skipped_invalid, 0u);
  for (std::size_t i = 1; i < log->records.size(); ++i)
    EXPECT_EQ(log->records[i].seq, log->records[i - 1].seq + 1);
}

TEST(Printk, SkipsRecordsBeingWrittenOrRecycled) {
  RingSim sim(4, 12);
  sim.push("one", 1);
  auto& two = sim.push("two", 2);
  sim.push("three", 3, 6, RingSim::committed);  // kept: complete, may still be extended
  auto& four = sim.push("four", 4);
  sim.push("five", 5);
  sim.set_state(two, RingSim::reserved);
  sim.set_state(four, RingSim::reusable);
  Rig rig;
  rig.load(sim);
  auto log = rig.read();
  ASSERT_TRUE(log);
  EXPECT_EQ(texts(log->records), (std::vector<std::string>{"one", "three", "five"}));
  EXPECT_EQ(log->report.skipped_state, 3u);  // two, four and DESC0
}

TEST(Printk, CorruptedDescriptorsAreSkippedNotPrinted) {
  RingSim sim(4, 12);
  for (int i = 0; i < 8; ++i) sim.push(fmt::format("good {}", i), static_cast<std::uint64_t>(i));
  auto put = [&](int k, std::uint64_t off, std::uint64_t v) {
    RingSim::put64(sim.descs, sim.slot(sim.live[static_cast<std::size_t>(k)].id) * 24 + off, v);
  };
  put(1, 8, sim.live[1].next + 64);         // begin after next, same wrap: illegal
  put(2, 8, sim.live[2].begin + 4);         // unaligned begin
  put(3, 16, sim.live[3].begin + (1ull << 40));  // next many wraps ahead
  // Text length beyond the block; a block whose id is not the descriptor's (overwritten).
  sim.infos[sim.slot(sim.live[4].id) * 88 + 16] = 0xff;
  sim.infos[sim.slot(sim.live[4].id) * 88 + 17] = 0xff;
  sim.data[sim.live[5].begin & 0xfff] ^= 0x55;
  Rig rig;
  rig.load(sim);
  auto log = rig.read();
  ASSERT_TRUE(log);
  EXPECT_EQ(texts(log->records), (std::vector<std::string>{"good 0", "good 6", "good 7"}));
  EXPECT_EQ(log->report.skipped_invalid, 5u);
}

TEST(Printk, HostileHeaders) {
  RingSim sim(4, 12);
  sim.push("x", 1);
  {
    Rig rig;
    RingSim bad = sim;
    rig.load(bad);
    // count_bits 40: far beyond any kernel's ring.
    std::vector<std::uint8_t> h = bad.header(kDescsVa, kInfosVa, kDataVa);
    RingSim::put64(h, 0, 40);
    rig.mem.write(rig.phys(kRbVa), h);
    auto log = rig.read();
    ASSERT_FALSE(log);
    EXPECT_NE(log.error().message.find("implausible"), std::string::npos);
  }
  {
    Rig rig;
    rig.load(sim);
    std::vector<std::uint8_t> h = sim.header(0x1234, kInfosVa, kDataVa);  // user pointer
    rig.mem.write(rig.phys(kRbVa), h);
    auto log = rig.read();
    ASSERT_FALSE(log);
    EXPECT_NE(log.error().message.find("not a kernel address"), std::string::npos);
  }
  {
    // tail far behind head: capped at the ring's slots, with a note.
    Rig rig;
    RingSim s2 = sim;
    s2.tail_id = (s2.head_id - 1000) & RingSim::kIdMask;
    rig.load(s2);
    auto log = rig.read();
    ASSERT_TRUE(log);
    EXPECT_EQ(texts(log->records), (std::vector<std::string>{"x"}));
    ASSERT_FALSE(log->report.notes.empty());
  }
  {
    // The data ring is not mapped: an error naming what could not be read.
    Rig rig;
    rig.load(sim);
    rig.mem.remove_page(rig.phys(kDataVa + 0x800));
    auto log = rig.read();
    ASSERT_FALSE(log);
    EXPECT_NE(log.error().message.find("text ring"), std::string::npos);
  }
}

TEST(Printk, LastNReadsOnlyTheNewestSlotsInFewBatches) {
  RingSim sim(8, 14);  // 256 descriptors
  for (int i = 0; i < 300; ++i) sim.push(fmt::format("line {}", i), static_cast<std::uint64_t>(i));
  Rig rig;
  rig.load(sim);
  rig.mem.reset_counters();
  auto all = rig.read();
  ASSERT_TRUE(all);
  EXPECT_EQ(texts(all->records), texts(sim.live));
  const auto all_bytes = rig.mem.bytes(), all_batches = rig.mem.batches();
  // Pointer, header, data, and descs, infos, descs again in two pieces each when the slots wrap
  // past the end of the arrays: 9 reads, whatever the count (each AddressSpace read is at most
  // 4 table batches + 1 data batch; tables are cached).
  EXPECT_LE(all->report.reads, 9u);
  EXPECT_LE(all_batches, 40u);
  rig.mem.reset_counters();
  auto last = rig.read(3);
  ASSERT_TRUE(last);
  EXPECT_EQ(texts(last->records), (std::vector<std::string>{"line 297", "line 298", "line 299"}));
  EXPECT_LT(rig.mem.bytes(), all_bytes);
}

TEST(Printk, OffsetsComeFromBtf) {
  RingSim sim(4, 12, 16);
  sim.push("padded info", 7);
  Rig rig(16);
  rig.load(sim);
  auto log = rig.read();
  ASSERT_TRUE(log) << log.error().message;
  EXPECT_EQ(texts(log->records), (std::vector<std::string>{"padded info"}));
  EXPECT_EQ(log->records[0].ts_nsec, 7u);
}

TEST(Printk, RecordsChangedDuringTheReadAreDropped) {
  RingSim sim(4, 12);
  sim.push("stable", 1);
  sim.push("recycled", 2);
  TypeInfo t(parse(test::printk_btf()));
  auto L = prb_layout(t);
  ASSERT_TRUE(L);
  auto h = parse_prb_header(*L, sim.header(kDescsVa, kInfosVa, kDataVa));
  ASSERT_TRUE(h);
  // Slots in id order from the first live record.
  const std::uint64_t first = sim.live[0].id, s0 = sim.slot(first);
  std::vector<std::uint8_t> d(sim.descs.begin() + static_cast<std::ptrdiff_t>(s0 * 24),
                              sim.descs.begin() + static_cast<std::ptrdiff_t>((s0 + 2) * 24));
  std::vector<std::uint8_t> in(sim.infos.begin() + static_cast<std::ptrdiff_t>(s0 * 88),
                               sim.infos.begin() + static_cast<std::ptrdiff_t>((s0 + 2) * 88));
  auto after = d;
  RingSim::put64(after, 24, (sim.live[1].id + 16) | 0ull << 62);  // reused, being written
  LogReport rep;
  auto recs = decode_prb(*L, *h, first, d, in, sim.data, rep, after);
  EXPECT_EQ(texts(recs), (std::vector<std::string>{"stable"}));
  EXPECT_EQ(rep.changed_during_read, 1u);
}

TEST(Printk, NeedsSymbolsAndTypes) {
  RingSim sim(4, 12);
  sim.push("x", 1);
  Rig rig;
  rig.load(sim);
  AddressSpace as(rig.mem, rig.walker, rig.b.top());
  auto no_types = read_kernel_log(as, rig.syms, nullptr, std::nullopt);
  ASSERT_FALSE(no_types);
  EXPECT_NE(no_types.error().message.find("BTF"), std::string::npos);
  auto no_syms = read_kernel_log(as, SymbolTable{}, &rig.types, std::nullopt);
  ASSERT_FALSE(no_syms);
  EXPECT_NE(no_syms.error().message.find("prb"), std::string::npos);
}

// ---- before 5.10: struct printk_log records in log_buf --------------------------------------

// One record: u64 ts, u16 len, u16 text_len, u16 dict_len, u8 facility, u8 flags:5|level:3,
// [u32 caller_id], text, dict, padded to 4 (LOG_ALIGN on x86-64).
void put_log(std::vector<std::uint8_t>& buf, std::size_t at, std::uint64_t ts,
             const std::string& text, unsigned level, bool caller) {
  const std::size_t hdr = caller ? 20 : 16;
  const std::size_t len = (hdr + text.size() + 3) & ~3ull;
  for (int k = 0; k < 8; ++k) buf.at(at + k) = static_cast<std::uint8_t>(ts >> (8 * k));
  buf[at + 8] = static_cast<std::uint8_t>(len);
  buf[at + 9] = static_cast<std::uint8_t>(len >> 8);
  buf[at + 10] = static_cast<std::uint8_t>(text.size());
  buf[at + 11] = 0;
  buf[at + 12] = buf[at + 13] = 0;
  buf[at + 14] = 0;
  buf[at + 15] = static_cast<std::uint8_t>(level << 5);
  std::copy(text.begin(), text.end(), buf.begin() + static_cast<std::ptrdiff_t>(at + hdr));
}

TEST(PrintkLogBuf, WalksRecordsAcrossTheWrapMarker) {
  for (bool caller : {false, true}) {
    std::vector<std::uint8_t> buf(256);
    // Oldest at 160 ("c", "d"), wrap marker (len 0) after them, newest at 0 ("e").
    const std::size_t h = caller ? 20 : 16;
    put_log(buf, 160, 3000, "c", 6, caller);
    put_log(buf, 160 + ((h + 1 + 3) & ~3ull), 4000, "d", 5, caller);
    put_log(buf, 0, 5000000000, "e", 0, caller);
    LogBufLayout L;
    if (caller) {
      L.header = 20;
      L.caller_id = 16;
    }
    LogReport rep;
    auto recs = decode_log_buf(L, buf, 160, 40, 3, rep);
    ASSERT_EQ(recs.size(), 3u) << caller;
    EXPECT_EQ(texts(recs), (std::vector<std::string>{"c", "d", "e"}));
    EXPECT_EQ(recs[2].seq, 42u);
    EXPECT_EQ(recs[1].level, 5);
    EXPECT_EQ(format_record(recs[2]), "[    5.000000] e\n");
  }
}

TEST(PrintkLogBuf, HostileLengthsStop) {
  std::vector<std::uint8_t> buf(64);
  put_log(buf, 0, 1, "ok", 6, false);
  buf[20 + 8] = 0xff;  // second record: len 255, beyond the buffer
  buf[20 + 9] = 0;
  LogReport rep;
  auto recs = decode_log_buf(LogBufLayout{}, buf, 0, 0, 1000000, rep);
  EXPECT_EQ(texts(recs), (std::vector<std::string>{"ok"}));
  EXPECT_EQ(rep.skipped_invalid, 1u);
  // A buffer of wrap markers only: stops, no loop.
  std::vector<std::uint8_t> zeros(64);
  LogReport rep2;
  EXPECT_TRUE(decode_log_buf(LogBufLayout{}, zeros, 8, 0, 1000000, rep2).empty());
}

}  // namespace
}  // namespace tlpstub::kernel
