// ORC tables and the stack unwinder on hand-built data: entries written as bytes from the
// struct orc_entry layouts of 6.1 and 6.12 (arch/x86/include/asm/orc_types.h), a made-up text
// and a made-up stack; then hostile stacks (a frame-pointer cycle, a stack pointer leaving
// the stack, garbage) that must end with a note, never a hang.
#include <gtest/gtest.h>

#include <random>

#include "kernel/linux/orc.hpp"
#include "kernel/linux/unwind.hpp"
#include "tests/support/fake_memory.hpp"

namespace tlpstub::kernel {
namespace {

constexpr std::uint64_t kUwText = 0xffffffff81000000ull;  // text
constexpr std::uint64_t kUwStack = 0xffffc90000010000ull;  // a vmalloc'd 16 KiB stack
constexpr std::uint64_t kUwStackTop = kUwStack + 0x4000;

OrcFormat uw_f612() { return *orc_format(nullptr, "6.12.9-amd64"); }
OrcFormat uw_f61() { return *orc_format(nullptr, "6.1.0-27-cloud-amd64"); }

// One 6.4+ entry as bytes: sp_offset, bp_offset, flags = sp_reg | bp_reg << 4 | type << 8.
std::array<std::uint8_t, 6> uw_e612(std::int16_t sp, std::int16_t bp, unsigned sp_reg,
                                 unsigned bp_reg, unsigned type, bool signal = false) {
  const unsigned fl = sp_reg | bp_reg << 4 | type << 8 | (signal ? 1u << 11 : 0);
  return {static_cast<std::uint8_t>(sp), static_cast<std::uint8_t>(sp >> 8),
          static_cast<std::uint8_t>(bp), static_cast<std::uint8_t>(bp >> 8),
          static_cast<std::uint8_t>(fl), static_cast<std::uint8_t>(fl >> 8)};
}
// ORC_TYPE_* and ORC_REG_* of 6.4+ (ORC_REG_BP, 4, is not used here).
constexpr unsigned kUwUndef = 0, kUwEnd = 1, kUwCall = 2, kUwRegs = 3;
constexpr unsigned kUwRegSp = 5, kUwRegPrevSp = 1, kUwRegNone = 0;

// A table as the kernel lays it out: s32 slots relative to their own address.
struct UwFakeOrc {
  std::uint64_t ip_va = kUwText + 0x800000;
  std::vector<std::uint8_t> uw_ips, entries;
  void add(std::uint64_t start, std::array<std::uint8_t, 6> e) {
    const std::uint64_t slot = ip_va + uw_ips.size();
    const auto rel = static_cast<std::int32_t>(static_cast<std::int64_t>(start - slot));
    for (int i = 0; i < 4; ++i) uw_ips.push_back(static_cast<std::uint8_t>(rel >> (8 * i)));
    entries.insert(entries.end(), e.begin(), e.end());
  }
  OrcTable table(const OrcFormat& f = uw_f612()) { return *OrcTable::from_bytes(ip_va, uw_ips, entries, f); }
};

struct UwFakeStack {
  std::vector<std::uint8_t> b = std::vector<std::uint8_t>(0x4000, 0);
  void put(std::uint64_t va, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) b[va - kUwStack + i] = static_cast<std::uint8_t>(v >> (8 * i));
  }
  StackImage image() const { return {kUwStack, b}; }
};

// Functions of the made-up text: A at +0x100 pushes bp (CFA = sp + 16, bp saved at CFA - 16),
// B at +0x200 has no frame (CFA = sp + 8), C at +0x300 is an entry point (end of stack),
// U at +0x400 has no unwind data, R at +0x500 is a syscall entry (pt_regs at sp), and
// nothing is known from +0x600.
UwFakeOrc uw_standard_orc() {
  UwFakeOrc o;
  o.add(kUwText + 0x100, uw_e612(16, -16, kUwRegSp, kUwRegPrevSp, kUwCall));
  o.add(kUwText + 0x200, uw_e612(8, 0, kUwRegSp, kUwRegNone, kUwCall));
  o.add(kUwText + 0x300, uw_e612(0, 0, kUwRegNone, kUwRegNone, kUwEnd));
  o.add(kUwText + 0x400, uw_e612(0, 0, kUwRegNone, kUwRegNone, kUwUndef));
  o.add(kUwText + 0x500, uw_e612(0, 0, kUwRegSp, kUwRegNone, kUwRegs));
  o.add(kUwText + 0x600, uw_e612(0, 0, kUwRegNone, kUwRegNone, kUwUndef));
  return o;
}

StackTrace uw_unwind(const UwFakeStack& s, const OrcTable* t, UnwindStart st, UnwindLimits lim = {}) {
  return unwind_stack(s.image(), t, st, kUwText, kUwText + 0x1000000, lim);
}

std::vector<std::uint64_t> uw_frame_ips(const StackTrace& t) {
  std::vector<std::uint64_t> v;
  for (auto& f : t.frames) v.push_back(f.ip);
  return v;
}

TEST(OrcFormat, FromRelease) {
  OrcFormat a = uw_f61();  // 4.18-6.2: type:2 end:1
  EXPECT_EQ(a.type_bits, 2u);
  EXPECT_EQ(a.end_bit, 10);
  EXPECT_EQ(a.signal_bit, -1);
  OrcFormat b = uw_f612();  // 6.4+: type:3 signal:1
  EXPECT_EQ(b.type_bits, 3u);
  EXPECT_EQ(b.signal_bit, 11);
  EXPECT_EQ(b.end_bit, -1);
  OrcFormat c = *orc_format(nullptr, "6.3.0");
  EXPECT_EQ(c.signal_bit, 10);
  EXPECT_EQ(c.end_bit, 11);
  EXPECT_EQ(orc_format(nullptr, "4.9.0").error().code, Errc::unsupported);
  EXPECT_EQ(orc_format(nullptr, "linux").error().code, Errc::not_found);
}

TEST(OrcFormat, FromBtfWinsOverRelease) {
  TypeInfo ti;  // a 6.1-like struct orc_entry, while the release claims 6.12
  ti.add_member("orc_entry", "sp_reg", FieldInfo{4, 4, 32, 4, "unsigned int", "test"});
  ti.add_member("orc_entry", "bp_reg", FieldInfo{4, 4, 36, 4, "unsigned int", "test"});
  ti.add_member("orc_entry", "type", FieldInfo{5, 4, 40, 2, "unsigned int", "test"});
  ti.add_member("orc_entry", "end", FieldInfo{5, 4, 42, 1, "unsigned int", "test"});
  OrcFormat f = *orc_format(&ti, "6.12.0");
  EXPECT_EQ(f.source, "test");  // the members' source (BTF, or a profile)
  EXPECT_EQ(f.type_bits, 2u);
  EXPECT_EQ(f.end_bit, 10);
  EXPECT_EQ(f.signal_bit, -1);
}

TEST(OrcDecode, GoldenBytes612) {
  // sp_offset 16, bp_offset -16, sp_reg SP(5) bp_reg PREV_SP(1), type CALL(2), signal 1
  const std::uint8_t raw[6] = {0x10, 0x00, 0xf0, 0xff, 0x15, 0x0a};
  OrcEntry e = orc_decode(std::span<const std::uint8_t, 6>(raw), uw_f612());
  EXPECT_EQ(e.sp_offset, 16);
  EXPECT_EQ(e.bp_offset, -16);
  EXPECT_EQ(e.sp_reg, 5);
  EXPECT_EQ(e.bp_reg, 1);
  EXPECT_EQ(e.type, OrcType::call);
  EXPECT_TRUE(e.signal);
}

TEST(OrcDecode, GoldenBytes61) {
  const std::uint8_t call[6] = {0x08, 0x00, 0x00, 0x00, 0x05, 0x00};  // CALL 0, SP+8
  const std::uint8_t regs[6] = {0x00, 0x00, 0x00, 0x00, 0x05, 0x01};  // REGS 1
  const std::uint8_t end[6] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x04};   // sp_reg UNDEF, end 1
  const std::uint8_t undef[6] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  auto d = [](const std::uint8_t (&r)[6]) { return orc_decode(std::span<const std::uint8_t, 6>(r), uw_f61()); };
  EXPECT_EQ(d(call).type, OrcType::call);
  EXPECT_FALSE(d(call).signal);
  EXPECT_EQ(d(regs).type, OrcType::regs);
  EXPECT_TRUE(d(regs).signal);  // before 6.3: every non-CALL frame
  EXPECT_EQ(d(end).type, OrcType::end_of_stack);
  EXPECT_EQ(d(undef).type, OrcType::undefined);
}

TEST(OrcTable, SelfRelativeLookupTakesRightmostOfEqualStarts) {
  UwFakeOrc o;
  o.add(kUwText + 0x100, uw_e612(8, 0, kUwRegSp, 0, kUwUndef));  // a terminator sorts first
  o.add(kUwText + 0x100, uw_e612(8, 0, kUwRegSp, 0, kUwCall));
  o.add(kUwText + 0x180, uw_e612(24, 0, kUwRegSp, 0, kUwCall));
  OrcTable t = o.table();
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t.start(0), kUwText + 0x100);
  EXPECT_EQ(t.find(kUwText + 0xff), nullptr);
  EXPECT_EQ(t.find(kUwText + 0x100)->type, OrcType::call);
  EXPECT_EQ(t.find(kUwText + 0x17f)->sp_offset, 8);
  EXPECT_EQ(t.find(kUwText + 0x180)->sp_offset, 24);
  t.limit = kUwText + 0x200;
  EXPECT_EQ(t.find(kUwText + 0x200), nullptr);
  EXPECT_TRUE(t.warnings.empty());
}

TEST(OrcTable, UnsortedIsSortedWithAWarningAndMismatchedSizesFail) {
  UwFakeOrc o;
  o.add(kUwText + 0x200, uw_e612(16, 0, kUwRegSp, 0, kUwCall));
  o.add(kUwText + 0x100, uw_e612(8, 0, kUwRegSp, 0, kUwCall));
  OrcTable t = o.table();
  EXPECT_EQ(t.find(kUwText + 0x150)->sp_offset, 8);
  EXPECT_EQ(t.warnings.size(), 1u);
  o.entries.pop_back();
  EXPECT_EQ(OrcTable::from_bytes(o.ip_va, o.uw_ips, o.entries, uw_f612()).error().code, Errc::malformed);
}

TEST(Unwind, OrcCallFramesToEndOfStack) {
  UwFakeOrc o = uw_standard_orc();
  OrcTable t = o.table();
  UwFakeStack s;
  const std::uint64_t sp = kUwStack + 0x3000;
  s.put(sp, 0x1111);             // A's saved bp (CFA - 16)
  s.put(sp + 8, kUwText + 0x220);     // A returns into B
  s.put(sp + 16, kUwText + 0x308);    // B returns into C
  StackTrace tr = uw_unwind(s, &t, {kUwText + 0x110, sp, 0x9999});
  EXPECT_EQ(uw_frame_ips(tr), (std::vector<std::uint64_t>{kUwText + 0x110, kUwText + 0x220, kUwText + 0x308}));
  EXPECT_TRUE(tr.complete) << tr.end;
  EXPECT_EQ(tr.end, "end of stack");
  EXPECT_EQ(tr.frames[1].sp, sp + 16);
  EXPECT_EQ(tr.frames[2].sp, sp + 24);
  EXPECT_FALSE(tr.used_frame_pointers);
}

TEST(Unwind, ReturnAddressIsLookedUpAtIpMinusOne) {
  // A return address just past A's last byte is still A's call: ip - 1 is looked up.
  UwFakeOrc o = uw_standard_orc();
  OrcTable t = o.table();
  UwFakeStack s;
  const std::uint64_t sp = kUwStack + 0x3000;
  s.put(sp, kUwText + 0x308);
  // ip = B's first byte: the call was the last instruction of A (CFA = sp + 16 there).
  StackTrace tr = uw_unwind(s, &t, {kUwText + 0x200, sp - 8, 0});
  ASSERT_EQ(tr.frames.size(), 2u) << tr.end;
  EXPECT_EQ(tr.frames[1].ip, kUwText + 0x308);
}

TEST(Unwind, SyscallRegsEndInUserMode) {
  UwFakeOrc o = uw_standard_orc();
  OrcTable t = o.table();
  UwFakeStack s;
  const std::uint64_t regs = kUwStackTop - 168;
  const std::uint64_t sp = regs - 8;
  s.put(sp, kUwText + 0x510);        // B returns into the entry code R
  s.put(regs + 128, 0x401000);  // user ip
  s.put(regs + 136, 0x33);      // user cs
  StackTrace tr = uw_unwind(s, &t, {kUwText + 0x210, sp, 0});
  EXPECT_EQ(uw_frame_ips(tr), (std::vector<std::uint64_t>{kUwText + 0x210, kUwText + 0x510}));
  EXPECT_TRUE(tr.complete);
  EXPECT_EQ(tr.end, "user mode");
}

TEST(Unwind, KernelRegsContinueWithSavedIpSpAndBp) {
  UwFakeOrc o = uw_standard_orc();
  OrcTable t = o.table();
  UwFakeStack s;
  const std::uint64_t regs = kUwStack + 0x2000;
  s.put(regs - 8, kUwText + 0x510);   // B returns into R
  s.put(regs + 32, 0x4242);      // pt_regs.bp
  s.put(regs + 128, kUwText + 0x308); // the interrupted kernel ip (C: the end)
  s.put(regs + 136, 0x10);       // kernel cs
  s.put(regs + 152, kUwStack + 0x3000);
  StackTrace tr = uw_unwind(s, &t, {kUwText + 0x210, regs - 8, 0});
  EXPECT_EQ(uw_frame_ips(tr), (std::vector<std::uint64_t>{kUwText + 0x210, kUwText + 0x510, kUwText + 0x308}));
  EXPECT_EQ(tr.frames[2].method, FrameMethod::regs);
  EXPECT_TRUE(tr.complete) << tr.end;
}

TEST(Unwind, UndefinedEntryStopsWithANote) {
  UwFakeOrc o = uw_standard_orc();
  OrcTable t = o.table();
  UwFakeStack s;
  StackTrace tr = uw_unwind(s, &t, {kUwText + 0x410, kUwStack + 0x3000, 0});
  EXPECT_EQ(tr.frames.size(), 1u);
  EXPECT_FALSE(tr.complete);
  EXPECT_NE(tr.end.find("undefined"), std::string::npos) << tr.end;
}

TEST(Unwind, StackPointerLeavingTheStackStops) {
  UwFakeOrc o;
  o.add(kUwText + 0x100, uw_e612(0x4000, 0, kUwRegSp, 0, kUwCall));  // CFA far above the stack top
  OrcTable t = o.table();
  UwFakeStack s;
  StackTrace tr = uw_unwind(s, &t, {kUwText + 0x110, kUwStack + 0x3000, 0});
  EXPECT_EQ(tr.frames.size(), 1u);
  EXPECT_FALSE(tr.complete);
  EXPECT_NE(tr.end.find("outside the task's stack"), std::string::npos) << tr.end;
}

TEST(Unwind, NonGrowingStackPointerStops) {
  UwFakeOrc o;
  o.add(kUwText + 0x100, uw_e612(0, 0, kUwRegSp, 0, kUwCall));  // CFA = sp: the same frame again
  OrcTable t = o.table();
  UwFakeStack s;
  s.put(kUwStack + 0x3000 - 8, kUwText + 0x110);
  StackTrace tr = uw_unwind(s, &t, {kUwText + 0x110, kUwStack + 0x3000, 0});
  EXPECT_EQ(tr.frames.size(), 1u);
  EXPECT_NE(tr.end.find("did not grow"), std::string::npos) << tr.end;
}

TEST(Unwind, FramePointersWithoutOrcAndACycle) {
  UwFakeStack s;
  const std::uint64_t b1 = kUwStack + 0x3000, b2 = kUwStack + 0x3100;
  s.put(b1, b2);                // caller's bp
  s.put(b1 + 8, kUwText + 0x2000);   // return address
  s.put(b2, b2);                // a cycle: bp points at itself
  s.put(b2 + 8, kUwText + 0x3000);
  StackTrace tr = uw_unwind(s, nullptr, {kUwText + 0x1000, b1 - 8, b1});
  EXPECT_EQ(uw_frame_ips(tr), (std::vector<std::uint64_t>{kUwText + 0x1000, kUwText + 0x2000, kUwText + 0x3000}));
  EXPECT_TRUE(tr.used_frame_pointers);
  EXPECT_FALSE(tr.complete);
  EXPECT_NE(tr.end.find("did not grow"), std::string::npos) << tr.end;
  EXPECT_EQ(tr.frames[1].method, FrameMethod::frame_pointer);
}

TEST(Unwind, ReturnAddressOutsideTextAndFrameLimit) {
  UwFakeStack s;
  const std::uint64_t b1 = kUwStack + 0x3000;
  s.put(b1, b1 + 0x100);
  s.put(b1 + 8, 0x401000);  // user address
  StackTrace tr = uw_unwind(s, nullptr, {kUwText + 0x1000, b1 - 8, b1});
  EXPECT_EQ(tr.frames.size(), 1u);
  EXPECT_NE(tr.end.find("not kernel text"), std::string::npos) << tr.end;

  // A long, valid frame-pointer chain is cut at the limit.
  UwFakeStack l;
  for (int i = 0; i < 100; ++i) {
    const std::uint64_t b = kUwStack + 0x100 + 32 * i;
    l.put(b, b + 32);
    l.put(b + 8, kUwText + 0x1000 + i);
  }
  StackTrace lt = uw_unwind(l, nullptr, {kUwText + 0x1000, kUwStack + 0xf8, kUwStack + 0x100}, UnwindLimits{5});
  EXPECT_EQ(lt.frames.size(), 5u);
  EXPECT_EQ(lt.end, "stopped after 5 frames");
}

TEST(Unwind, StartOffTheStackGivesNoFrames) {
  UwFakeStack s;
  StackTrace tr = uw_unwind(s, nullptr, {kUwText + 0x1000, kUwStackTop + 64, 0});
  EXPECT_TRUE(tr.frames.empty());
  EXPECT_FALSE(tr.end.empty());
}

TEST(Unwind, GarbageNeverHangsOrExceedsTheLimit) {
  std::mt19937_64 rng(9);
  UwFakeOrc o;
  for (int i = 0; i < 64; ++i) {
    std::array<std::uint8_t, 6> e;
    for (auto& b : e) b = static_cast<std::uint8_t>(rng());
    e[0] &= 0x38;  // small sp offsets, so some chains go on for a while
    e[1] = 0;
    o.add(kUwText + 0x40 * i, e);
  }
  OrcTable t = o.table();
  for (int round = 0; round < 300; ++round) {
    UwFakeStack s;
    for (std::size_t i = 0; i < s.b.size(); i += 8) {
      const std::uint64_t v = (rng() & 1) ? kUwText + (rng() % 0x1000) : kUwStack + (rng() % 0x4000);
      s.put(kUwStack + i, v);
    }
    StackTrace tr = uw_unwind(s, round % 2 ? &t : nullptr,
                           {kUwText + (rng() % 0x1000), kUwStack + (rng() % 0x4000), kUwStack + (rng() % 0x4000)});
    EXPECT_LE(tr.frames.size(), 64u);
    EXPECT_FALSE(tr.end.empty());
    for (std::size_t i = 1; i < tr.frames.size(); ++i) EXPECT_GT(tr.frames[i].sp, tr.frames[i - 1].sp);
  }
}

// A running task: no start registers. Below the live chain B -> R -> user lie a stale
// return address that leads nowhere (into U: undefined) and a stale one from a call B made
// earlier (into B again, with B's frame still above it).
TEST(ScanStack, LowestWordStartingACleanWalkToTheEnd) {
  UwFakeOrc o = uw_standard_orc();
  OrcTable t = o.table();
  UwFakeStack s;
  const std::uint64_t regs = kUwStackTop - 168;
  const std::uint64_t sp = regs - 8;
  s.put(sp, kUwText + 0x510);               // B returns into the entry code R
  s.put(regs + 128, 0x401000);              // user ip
  s.put(regs + 136, 0x33);                  // user cs
  s.put(sp - 8, kUwText + 0x230);           // a call B made: stale, but consistent
  s.put(kUwStack + 0x100, kUwText + 0x410);  // stale, into U: no clean walk
  s.put(kUwStack + 0x200, 0xffff888000001000);  // not text
  StackTrace tr = scan_stack(s.image(), t, kUwText, kUwText + 0x1000000);
  EXPECT_EQ(uw_frame_ips(tr), (std::vector<std::uint64_t>{kUwText + 0x230, kUwText + 0x510}));
  EXPECT_EQ(tr.frames[0].method, FrameMethod::scan);
  EXPECT_EQ(tr.frames[0].sp, sp);
  EXPECT_TRUE(tr.complete);
  EXPECT_EQ(tr.end, "user mode");
}

TEST(ScanStack, NoCleanWalkGivesNoFramesAndIsBounded) {
  UwFakeOrc o = uw_standard_orc();
  OrcTable t = o.table();
  UwFakeStack s;
  for (std::uint64_t a = kUwStack; a < kUwStackTop; a += 8) s.put(a, kUwText + 0x220);  // B...
  StackTrace tr = scan_stack(s.image(), t, kUwText, kUwText + 0x1000000,
                             {.max_frames = 64, .max_scan_candidates = 100});
  EXPECT_TRUE(tr.frames.empty());
  EXPECT_FALSE(tr.complete);
  EXPECT_NE(tr.end.find("(100 candidates tried)"), std::string::npos) << tr.end;
}

TEST(OrcRead, OneBatchFromTheImageAndOrcLookupCrossCheck) {
  test::FakeMemory mem;
  mem.back(PhysAddr(0x1000000), 16 << 20);
  UwFakeOrc o = uw_standard_orc();
  const std::uint64_t en = o.ip_va + 0x10000, lk = o.ip_va + 0x20000;
  auto va_pa = [](std::uint64_t va) { return PhysAddr(va - 0xffffffff80000000ull); };
  mem.write(va_pa(o.ip_va), o.uw_ips);
  mem.write(va_pa(en), o.entries);
  // orc_lookup for _stext = kUwText, _etext = kUwText + 0x700: blocks of 256 bytes.
  const std::uint32_t good[] = {0, 0, 1, 2, 3, 4, 5, 5};  // in force at 0, 0x100, ...
  std::vector<std::uint8_t> lkb;
  for (std::uint32_t v : good)
    for (int i = 0; i < 4; ++i) lkb.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  mem.write(va_pa(lk), lkb);
  SymbolTable syms({{"_stext", kUwText, 'T'}, {"_etext", kUwText + 0x700, 'T'},
                    {"__start_orc_unwind_ip", o.ip_va, 'r'},
                    {"__stop_orc_unwind_ip", o.ip_va + o.uw_ips.size(), 'r'},
                    {"__start_orc_unwind", en, 'r'}, {"__stop_orc_unwind", en + o.entries.size(), 'r'},
                    {"orc_lookup", lk, 'd'}, {"orc_lookup_end", lk + lkb.size(), 'd'}});
  KernelRegions r{0, 0, kUwText, kUwText + (16 << 20), 0};
  KernelReader rd(mem, r);
  mem.reset_counters();
  auto t = read_orc_table(rd, syms, uw_f612());
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(mem.batches(), 1u);
  EXPECT_EQ(t->size(), 6u);
  EXPECT_EQ(t->limit, kUwText + 0x700);
  EXPECT_TRUE(t->warnings.empty()) << t->warnings[0];
  EXPECT_EQ(t->lookup_checked, 7u);
  EXPECT_EQ(t->find(kUwText + 0x210)->sp_offset, 8);

  // A lookup slot pointing past its block: reported, the table still used.
  lkb[4] = 3;
  mem.write(va_pa(lk), lkb);
  auto bad = read_orc_table(rd, syms, uw_f612());
  ASSERT_TRUE(bad);
  ASSERT_EQ(bad->warnings.size(), 1u);
  EXPECT_EQ(bad->lookup_bad, 1u);
  EXPECT_NE(bad->warnings[0].find("1 of 8"), std::string::npos) << bad->warnings[0];

  // No ORC symbols: not_found (a frame-pointer kernel).
  EXPECT_EQ(read_orc_table(rd, SymbolTable({{"_stext", kUwText, 'T'}}), uw_f612()).error().code,
            Errc::not_found);
}

}  // namespace
}  // namespace tlpstub::kernel
