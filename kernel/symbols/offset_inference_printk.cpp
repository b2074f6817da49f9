// The printk ring buffer's layout without BTF (offset_inference.hpp, issue 8), by data
// consistency. kernel/printk/printk_ringbuffer.{h,c} and printk.c, 5.10 to 6.12 alike:
//  - `prb` points to printk_rb_static (_DEFINE_PRINTKRB) or, once setup_log_buf() took a
//    log_buf_len= buffer, printk_rb_dynamic. Its text ring is what the `log_buf` variable
//    points to, of `log_buf_len` bytes (a power of two): text_data_ring.data is the one header
//    word equal to log_buf, size_bits the one u32 equal to log2(log_buf_len). For the static
//    ring, descs and infos are the words equal to _printk_rb_static_descs/_infos (kallsyms);
//    for a dynamic one, the other two kernel pointers, told apart by the records below.
//  - The descriptor in slot s holds an id with (id & (count - 1)) == s, state committed,
//    finalized or reusable in the top two bits; neighbouring slots hold ids one apart (or one
//    ring behind, at the head). That fixes count_bits, sizeof(prb_desc) (the array stride) and
//    state_var, each unique or not at all.
//  - printk_info.seq: desc_reserve() gives slot s the seqs s, s + count, ...: seq ≡ s modulo
//    count, and seqs differ as the ids do. sizeof(printk_info) is that array's stride.
//    ts_nsec: the other u64 that grows in seq order over the newest records.
//  - text_blk_lpos {begin, next}: the pair whose block starts with the record's id (data_alloc()
//    writes it) or marks no data (both odd); text_len: the u16 that fits in every block with
//    little room to spare (the block is the reserved length, rounded to 8, plus the id).
//  - facility, flags:5, level:3 and caller_id follow text_len in that order in every version
//    (u8, u8 bitfields, u32): taken from there only when their values are plausible in every
//    record (flags only LOG_NEWLINE/LOG_CONT, mostly LOG_NEWLINE; facility < 128, mostly 0;
//    caller_id a pid or 0x80000000 | cpu).
//  - head_id/tail_id: header words that are ids of their own slots, the newest and the oldest;
//    head_lpos is the newest block's next, tail_lpos the word at most one ring behind it and
//    before every live block.
// Reads: three small batches (pointers, header, then the first slots of both arrays), one of
// block starts and one of the head/tail slots; about 30 KiB.
#include <fmt/format.h>

#include <algorithm>
#include <bit>

#include "common/bytes.hpp"
#include "kernel/symbols/offset_inference_detail.hpp"

namespace tlpstub::kernel::infer {

namespace {

constexpr std::uint64_t kPkHeader = 128;      // bytes of printk_ringbuffer read (88-96 on 6.x)
constexpr std::uint64_t kPkMaxDesc = 128;     // largest prb_desc tried (24 on 5.11+)
constexpr std::uint64_t kPkMaxInfo = 256;     // largest printk_info tried (88 on 5.11+)
constexpr std::uint64_t kPkSlots = 64;        // slots of each array compared
constexpr std::uint64_t kPkMinRecords = 8;    // fewer records prove nothing
constexpr unsigned kPkMaxCountBits = 22, kPkMaxSizeBits = 28;  // as printk.cpp bounds them
constexpr std::uint64_t kPkIdMask = (1ull << 62) - 1;
constexpr std::uint32_t kPkPidMax = 4u << 20, kPkCpuMax = 8192;
// enum printk_info_flags (include/linux/printk.h... kernel/printk/printk_ringbuffer.h 6.x).
constexpr std::uint8_t kPkLogNewline = 2, kPkLogCont = 8;

bool pk_kptr(std::uint64_t v) { return v >= 0xffff800000000000ull && v != ~0ull; }
std::uint64_t pk64(std::span<const std::uint8_t> b, std::uint64_t off) {
  return off + 8 <= b.size() ? load_le64(b.data() + off) : 0;
}
std::uint32_t pk32(std::span<const std::uint8_t> b, std::uint64_t off) {
  return off + 4 <= b.size() ? load_le32(b.data() + off) : 0;
}
std::uint16_t pk16(std::span<const std::uint8_t> b, std::uint64_t off) {
  return off + 2 <= b.size() ? static_cast<std::uint16_t>(b[off] | b[off + 1] << 8) : 0;
}
// a - b for ids (62 bits), as a signed distance.
std::int64_t pk_id_diff(std::uint64_t a, std::uint64_t b) {
  const std::uint64_t d = (a - b) & kPkIdMask;
  return d >= (1ull << 61) ? static_cast<std::int64_t>(d) - (1ll << 62) : static_cast<std::int64_t>(d);
}

Finding pk_none(std::string why) { return Finding{std::nullopt, std::move(why)}; }

// One slot of the descriptor array as the records say it is.
struct PkSlot {
  std::uint64_t slot = 0, id = 0;
  unsigned state = 0;
  std::uint64_t seq = 0;
  std::uint64_t begin = 0, next = 0;  // lpos, when found
  bool block_ok = false;              // a regular block whose first word is the id
  std::uint64_t block_size = 0;
};

struct PkDescFit {
  unsigned count_bits = 0;
  std::uint64_t descs = 0, stride = 0, state_var = 0;
  std::vector<PkSlot> slots;  // live (committed/finalized) and reusable ones seen
};

struct PrintkRun {
  const PrintkInputs& in;
  const VirtualReader& read;
  PrintkOutcome out;
  std::vector<std::uint8_t> hdr;
  std::uint64_t rb = 0, text = 0, dsize = 0;
  unsigned size_bits = 0;
  std::vector<std::uint64_t> taken;  // header offsets already assigned

  void set(const char* key, Finding f) { out.findings[key] = std::move(f); }
  void set_all_missing(const std::string& why) {
    for (const char* k : kPrintkKeys) set(k, pk_none(why));
    out.sizes[kSizeDesc] = out.sizes[kSizeInfo] = pk_none(why);
  }
  bool is_taken(std::uint64_t o) const {
    return std::find(taken.begin(), taken.end(), o) != taken.end();
  }

  // Offsets (8-aligned) of the header words equal to v.
  std::vector<std::uint64_t> words_equal(std::uint64_t v) const {
    std::vector<std::uint64_t> c;
    for (std::uint64_t o = 0; o + 8 <= hdr.size(); o += 8)
      if (pk64(hdr, o) == v && !is_taken(o)) c.push_back(o);
    return c;
  }

  bool start() {
    if (!in.prb_va || !in.log_buf_va || !in.log_buf_len_va) {
      set_all_missing("needs the symbols prb, log_buf and log_buf_len");
      return false;
    }
    const VirtualRead r[3] = {{in.prb_va, 8}, {in.log_buf_va, 8}, {in.log_buf_len_va, 4}};
    auto got = read(r);
    if (!got[0] || !got[1] || !got[2]) {
      set_all_missing("prb, log_buf or log_buf_len unreadable");
      return false;
    }
    rb = pk64(*got[0], 0);
    text = pk64(*got[1], 0);
    dsize = pk32(*got[2], 0);
    if (!pk_kptr(rb) || !pk_kptr(text) || !std::has_single_bit(dsize) || dsize < 8 ||
        dsize > (1ull << kPkMaxSizeBits)) {
      set_all_missing(fmt::format("implausible prb {:#x}, log_buf {:#x}, log_buf_len {}", rb,
                                  text, dsize));
      return false;
    }
    size_bits = static_cast<unsigned>(std::countr_zero(dsize));
    const VirtualRead h[1] = {{rb, kPkHeader}};
    auto hb = read(h);
    if (!hb[0]) {
      set_all_missing(fmt::format("the ring buffer at {:#x} (prb) is unreadable", rb));
      return false;
    }
    hdr = std::move(*hb[0]);
    return true;
  }

  // text_data_ring.data and .size_bits, from log_buf and log_buf_len.
  bool data_ring() {
    const auto d = words_equal(text);
    std::vector<std::uint64_t> sb;
    for (std::uint64_t o = 0; o + 8 <= hdr.size(); o += 8)
      if (pk64(hdr, o) == size_bits && std::find(d.begin(), d.end(), o) == d.end()) sb.push_back(o);
    if (d.size() != 1 || sb.size() != 1) {
      const std::string why = fmt::format("{} header words equal log_buf, {} equal "
                                          "log2(log_buf_len) = {}: need one each",
                                          d.size(), sb.size(), size_bits);
      set_all_missing(why);
      return false;
    }
    set(kPkData, {d[0], "the one header word equal to log_buf"});
    set(kPkSizeBits, {sb[0], fmt::format("the one header u32 equal to log2(log_buf_len) = {}",
                                         size_bits)});
    taken = {d[0], sb[0]};
    return true;
  }

  // Fits count_bits, the descriptor stride and state_var to the first slots of `bytes`.
  std::vector<PkDescFit> fit_descs(std::uint64_t descs_va, std::span<const std::uint8_t> bytes,
                                   unsigned count_bits) const {
    std::vector<PkDescFit> fits;
    const std::uint64_t count = 1ull << count_bits;
    const std::uint64_t n = std::min(kPkSlots, count);
    for (std::uint64_t S = 16; S <= kPkMaxDesc; S += 8) {
      if (n * S > bytes.size()) break;
      for (std::uint64_t sv = 0; sv + 8 <= S; sv += 8) {
        PkDescFit f{count_bits, descs_va, S, sv, {}};
        bool ok = true;
        std::uint64_t prev_id = 0;  // id of the slot before, when it was used
        bool has_prev = false;
        for (std::uint64_t s = 0; s < n && ok; ++s) {
          const std::uint64_t v = pk64(bytes, s * S + sv);
          if (v == 0) {  // never used (a young ring)
            has_prev = false;
            continue;
          }
          PkSlot k{s, v & kPkIdMask, static_cast<unsigned>(v >> 62), 0, 0, 0, false, 0};
          ok = (k.id & (count - 1)) == s && k.state != 0;
          if (ok && has_prev) {
            const std::int64_t d = pk_id_diff(k.id, prev_id);
            ok = d == 1 || d == 1 - static_cast<std::int64_t>(count);
          }
          prev_id = k.id;
          has_prev = true;
          f.slots.push_back(k);
        }
        if (ok && f.slots.size() >= std::min(kPkMinRecords, n)) fits.push_back(std::move(f));
      }
    }
    return fits;
  }

  void run() {
    if (!start() || !data_ring()) return;
    // Pointer words left: descs and infos (static: the symbols; dynamic: any pair).
    std::vector<std::uint64_t> ptrs;
    const bool is_static = in.static_rb_va && rb == in.static_rb_va;
    if (is_static && in.static_descs_va && in.static_infos_va) {
      const auto d = words_equal(in.static_descs_va), i = words_equal(in.static_infos_va);
      if (d.size() != 1 || i.size() != 1) {
        set_all_missing("printk_rb_static: not one word each equal to _printk_rb_static_descs "
                        "and _infos");
        return;
      }
      ptrs = {d[0], i[0]};
    } else {
      for (std::uint64_t o = 0; o + 8 <= hdr.size(); o += 8)
        if (!is_taken(o) && pk_kptr(pk64(hdr, o))) ptrs.push_back(o);
      if (ptrs.size() < 2 || ptrs.size() > 4) {
        set_all_missing(fmt::format("{} kernel pointers in the header besides data: want "
                                    "descs and infos", ptrs.size()));
        return;
      }
    }
    // count_bits candidates: u32 (upper half zero) in [1, size_bits).
    std::vector<std::uint64_t> cb;
    for (std::uint64_t o = 0; o + 8 <= hdr.size(); o += 8) {
      const std::uint64_t v = pk64(hdr, o);
      if (!is_taken(o) && v >= 1 && v < size_bits && v <= kPkMaxCountBits) cb.push_back(o);
    }
    // The first slots behind each pointer, for descs and for infos.
    std::vector<VirtualRead> reads;
    for (std::uint64_t p : ptrs) reads.push_back({pk64(hdr, p), kPkSlots * kPkMaxInfo});
    auto arrays = read(reads);
    struct Choice {
      std::uint64_t cb_off, d_off, i_off;
      PkDescFit fit;
    };
    std::vector<Choice> choices;
    for (std::uint64_t c : cb)
      for (std::size_t a = 0; a < ptrs.size(); ++a) {
        if (!arrays[a]) continue;
        const unsigned bits = static_cast<unsigned>(pk64(hdr, c));
        for (PkDescFit& f : fit_descs(pk64(hdr, ptrs[a]), *arrays[a], bits))
          for (std::size_t b = 0; b < ptrs.size(); ++b)
            if (b != a && arrays[b] && (!is_static || (a == 0 && b == 1)))
              choices.push_back({c, ptrs[a], ptrs[b], f});
      }
    // Keep only the choices whose infos array fits too.
    std::vector<std::pair<Choice, InfoFit>> good;
    for (Choice& ch : choices) {
      const std::size_t b = std::find(ptrs.begin(), ptrs.end(), ch.i_off) - ptrs.begin();
      auto fi = fit_infos(ch.fit, *arrays[b]);
      if (fi.size() == 1) good.emplace_back(std::move(ch), fi[0]);
    }
    if (good.size() != 1) {
      set_all_missing(fmt::format("{} fits of count_bits, descs and infos to the first {} slots "
                                  "(need one)", good.size(), kPkSlots));
      return;
    }
    auto& [ch, inf] = good[0];
    const std::uint64_t count = 1ull << ch.fit.count_bits;
    set(kPkCountBits, {ch.cb_off, fmt::format("the header u32 ({}) for which slot s of the "
                                              "descriptors holds ids ≡ s mod 2^{}",
                                              ch.fit.count_bits, ch.fit.count_bits)});
    set(kPkDescs, {ch.d_off, is_static ? "the header word equal to _printk_rb_static_descs, "
                                         "whose slots hold their own ids"
                                       : "the header pointer whose slots hold their own ids"});
    set(kPkInfos, {ch.i_off, is_static ? "the header word equal to _printk_rb_static_infos, "
                                         "whose seqs match the slots"
                                       : "the header pointer whose seqs match the slots"});
    taken.insert(taken.end(), {ch.cb_off, ch.d_off, ch.i_off});
    set(kPkStateVar, {ch.fit.state_var, "the u64 holding each slot's id and state"});
    std::string dsz = fmt::format("stride of the descriptor array ({} slots checked)",
                                  ch.fit.slots.size());
    if (is_static && in.static_descs_end > in.static_descs_va) {
      const std::uint64_t span = in.static_descs_end - in.static_descs_va;
      if (span / count != ch.fit.stride) {
        out.sizes[kSizeDesc] = pk_none(fmt::format("stride {} but _printk_rb_static_descs spans "
                                                   "{} bytes for {} slots", ch.fit.stride, span, count));
      } else {
        dsz += "; agrees with the span of _printk_rb_static_descs";
      }
    }
    if (!out.sizes.count(kSizeDesc)) out.sizes[kSizeDesc] = {ch.fit.stride, dsz};
    std::string isz = "stride of the info array (seqs match the slots)";
    if (is_static && in.static_infos_end > in.static_infos_va) {
      const std::uint64_t span = in.static_infos_end - in.static_infos_va;
      if (span / count != inf.stride) {
        out.sizes[kSizeInfo] = pk_none(fmt::format("stride {} but _printk_rb_static_infos spans "
                                                   "{} bytes for {} slots", inf.stride, span, count));
      } else {
        isz += "; agrees with the span of _printk_rb_static_infos";
      }
    }
    if (!out.sizes.count(kSizeInfo)) out.sizes[kSizeInfo] = {inf.stride, isz};
    set(kPkSeq, {inf.seq, "the u64 ≡ slot mod count, following the ids"});
    const auto& darr = *arrays[std::find(ptrs.begin(), ptrs.end(), ch.d_off) - ptrs.begin()];
    const auto& iarr = *arrays[std::find(ptrs.begin(), ptrs.end(), ch.i_off) - ptrs.begin()];
    info_fields(ch.fit, inf, darr, iarr);
    header_ids(ch.fit, ch.d_off);
    newest_ts(ch.fit, inf);
  }

  struct InfoFit {
    std::uint64_t stride = 0, seq = 0;
  };

  // Live records (committed or finalized) of the fit.
  static std::vector<PkSlot*> live(PkDescFit& f) {
    std::vector<PkSlot*> v;
    for (PkSlot& s : f.slots)
      if (s.state == 1 || s.state == 2) v.push_back(&s);
    return v;
  }

  std::vector<InfoFit> fit_infos(PkDescFit& f, std::span<const std::uint8_t> bytes) const {
    std::vector<InfoFit> fits;
    const auto lv = live(f);
    if (lv.size() < std::min<std::size_t>(kPkMinRecords, f.slots.size())) return fits;
    const std::uint64_t count = 1ull << f.count_bits;
    const std::uint64_t n = std::min(kPkSlots, count);
    for (std::uint64_t I = 16; I <= kPkMaxInfo && n * I <= bytes.size(); I += 8)
      for (std::uint64_t q = 0; q + 8 <= I; q += 8) {
        bool ok = true;
        for (std::size_t k = 0; k < lv.size() && ok; ++k) {
          const std::uint64_t seq = pk64(bytes, lv[k]->slot * I + q);
          ok = (seq & (count - 1)) == lv[k]->slot;
          if (ok && k) {
            const std::uint64_t s0 = pk64(bytes, lv[0]->slot * I + q);
            ok = static_cast<std::int64_t>(seq - s0) == pk_id_diff(lv[k]->id, lv[0]->id);
          }
        }
        if (ok) fits.push_back({I, q});
      }
    return fits;
  }

  void info_fields(PkDescFit& f, const InfoFit& inf, std::span<const std::uint8_t> darr,
                   std::span<const std::uint8_t> iarr) {
    auto lv = live(f);
    const std::uint64_t I = inf.stride;
    // Records in seq order.
    std::sort(lv.begin(), lv.end(), [&](const PkSlot* a, const PkSlot* b) {
      return pk64(iarr, a->slot * I + inf.seq) < pk64(iarr, b->slot * I + inf.seq);
    });
    // text_blk_lpos: the pair whose regular blocks start with the id. Read the block starts.
    const std::uint64_t S = f.stride;
    std::vector<std::uint64_t> pairs;
    std::vector<VirtualRead> reads;
    std::vector<std::pair<std::uint64_t, const PkSlot*>> asked;
    for (std::uint64_t b = 0; b + 16 <= S; b += 8) {
      if (b == f.state_var || b + 8 == f.state_var) continue;
      pairs.push_back(b);
      for (const PkSlot* s : lv) {
        const std::uint64_t begin = pk64(darr, s->slot * S + b);
        if (!(begin & 1)) {
          reads.push_back({text + (begin & (dsize - 1)), 8});
          asked.push_back({b, s});
        }
      }
    }
    auto got = read(reads);
    std::vector<std::uint64_t> lpos;
    std::vector<std::vector<std::uint64_t>> sizes;  // per pair: block size per live record
    for (std::uint64_t b : pairs) {
      std::size_t blocks = 0;
      bool ok = true;
      std::vector<std::uint64_t> bs(lv.size(), 0);
      for (std::size_t k = 0; k < lv.size() && ok; ++k) {
        const PkSlot* s = lv[k];
        const std::uint64_t begin = pk64(darr, s->slot * S + b), next = pk64(darr, s->slot * S + b + 8);
        if ((begin & 1) && (next & 1)) continue;  // no data
        std::uint64_t size = 0;
        if (begin >> size_bits == next >> size_bits && begin < next) size = next - begin;
        else if ((begin + dsize) >> size_bits == next >> size_bits) size = next & (dsize - 1);
        std::size_t j = 0;
        while (j < asked.size() && !(asked[j].first == b && asked[j].second == s)) ++j;
        ok = (begin & 1) == 0 && size >= 8 && size <= dsize && j < asked.size() && got[j] &&
             (pk64(*got[j], 0) & kPkIdMask) == s->id;
        bs[k] = size;
        ++blocks;
      }
      if (ok && blocks >= std::min<std::size_t>(kPkMinRecords, lv.size())) {
        lpos.push_back(b);
        sizes.push_back(std::move(bs));
      }
    }
    if (lpos.size() != 1) {
      const Finding none = pk_none(fmt::format("{} lpos pairs lead to blocks holding their "
                                               "record's id (need one)", lpos.size()));
      set(kPkBegin, none);
      set(kPkNext, none);
      for (const char* k : {kPkTextLen, kPkFacility, kPkFlags, kPkLevel, kPkCallerId})
        set(k, pk_none("needs prb_desc.text_blk_lpos"));
      return;
    }
    set(kPkBegin, {lpos[0], "the lpos pair whose blocks start with the record's id"});
    set(kPkNext, {lpos[0] + 8, "second of the lpos pair"});
    for (std::size_t k = 0; k < lv.size(); ++k) {
      lv[k]->block_size = sizes[0][k];
      lv[k]->begin = pk64(darr, lv[k]->slot * S + lpos[0]);
      lv[k]->next = pk64(darr, lv[k]->slot * S + lpos[0] + 8);
    }
    // text_len: the u16 that fits each block with less than 32 bytes to spare.
    std::vector<std::uint64_t> tl;
    for (std::uint64_t x = 0; x + 2 <= I; x += 2) {
      if (x / 8 == inf.seq / 8) continue;
      std::size_t blocks = 0;
      bool ok = true;
      for (const PkSlot* s : lv) {
        if (!s->block_size) continue;
        const std::uint64_t v = pk16(iarr, s->slot * I + x), room = s->block_size - 8;
        ok = ok && v <= room && room - v < 32;
        ++blocks;
      }
      if (ok && blocks >= std::min<std::size_t>(kPkMinRecords, lv.size())) tl.push_back(x);
    }
    if (tl.size() != 1) {
      set(kPkTextLen, pk_none(fmt::format("{} u16 fit every block's text (need one)", tl.size())));
      for (const char* k : {kPkFacility, kPkFlags, kPkLevel, kPkCallerId})
        set(k, pk_none("needs printk_info.text_len"));
      return;
    }
    const std::uint64_t x = tl[0];
    set(kPkTextLen, {x, "the u16 that fits every block's text with little room to spare"});
    // facility (u8), flags:5 + level:3 (u8), caller_id (u32) after text_len.
    std::size_t fac0 = 0, newline = 0;
    bool fac_ok = x + 8 <= I, flags_ok = fac_ok, caller_ok = fac_ok;
    for (const PkSlot* s : lv) {
      if (!fac_ok) break;
      const std::uint64_t base = s->slot * I + x;
      const std::uint8_t fac = iarr[base + 2], fl = iarr[base + 3] & 0x1f;
      const std::uint32_t cid = pk32(iarr, base + 4);
      fac_ok = fac_ok && fac < 128;
      fac0 += fac == 0;
      flags_ok = flags_ok && (fl & ~(kPkLogNewline | kPkLogCont)) == 0;
      newline += (fl & kPkLogNewline) != 0;
      caller_ok = caller_ok && ((cid & 0x80000000u) ? (cid & 0x7fffffffu) < kPkCpuMax
                                                    : cid < kPkPidMax);
    }
    const std::string after = "after text_len (u16, u8 facility, u8 flags:5 level:3, u32 "
                              "caller_id: printk_ringbuffer.h 5.10-6.12)";
    set(kPkFacility, fac_ok && fac0 * 2 >= lv.size()
                         ? Finding{x + 2, "the u8 " + after + ": < 128 in every record, 0 in most"}
                         : pk_none("the u8 after text_len is not a facility"));
    if (flags_ok && newline * 2 >= lv.size()) {
      set(kPkFlags, {x + 3, "bits 0-4 of the byte " + after + ": only LOG_NEWLINE/LOG_CONT, "
                            "LOG_NEWLINE in most"});
      set(kPkLevel, {x + 3, "bits 5-7 of that byte"});
    } else {
      set(kPkFlags, pk_none("the byte after facility does not hold printk flags"));
      set(kPkLevel, pk_none("the byte after facility does not hold printk flags"));
    }
    set(kPkCallerId, caller_ok ? Finding{x + 4, "the u32 " + after + ": a pid or 0x80000000|cpu "
                                                "in every record"}
                               : pk_none("the u32 after text_len is not a caller id"));
  }

  // ts_nsec, over the newest records (the first slots hold the boot's first messages, all
  // stamped 0 before the clock runs): the u64 other than seq that mostly increases in seq
  // order. Not always: vprintk_store() reads local_clock() before it reserves the record, so
  // another CPU, or an interrupt, can take the next seq with an earlier time. One step back in
  // 16 is allowed.
  void newest_ts(const PkDescFit& f, const InfoFit& inf) {
    const auto h = out.findings[kPkHeadId].offset;
    if (!h) {
      set(kPkTsNsec, pk_none("needs desc_ring.head_id (to read the newest records)"));
      return;
    }
    const std::uint64_t count = 1ull << f.count_bits, n = std::min(kPkSlots, count);
    const std::uint64_t head = pk64(hdr, *h), descs = pk64(hdr, *out.findings[kPkDescs].offset),
                        infos = pk64(hdr, *out.findings[kPkInfos].offset), I = inf.stride;
    std::vector<VirtualRead> reads;
    for (std::uint64_t k = 0; k < n; ++k) {
      const std::uint64_t slot = (head - (n - 1) + k) & (count - 1);
      reads.push_back({descs + slot * f.stride, f.stride});
      reads.push_back({infos + slot * I, I});
    }
    auto got = read(reads);
    std::vector<std::span<const std::uint8_t>> recs;  // infos of live records, oldest first
    for (std::uint64_t k = 0; k < n; ++k) {
      const auto &d = got[2 * k], &i = got[2 * k + 1];
      if (!d || !i) continue;
      const std::uint64_t sv = pk64(*d, f.state_var), id = (head - (n - 1) + k) & kPkIdMask;
      if ((sv & kPkIdMask) == id && (sv >> 62 == 1 || sv >> 62 == 2)) recs.push_back(*i);
    }
    std::vector<std::uint64_t> ts;
    for (std::uint64_t t = 0; t + 8 <= I; t += 8) {
      if (t == inf.seq) continue;
      std::size_t up = 0, down = 0;
      bool ok = true;
      for (std::size_t k = 1; k < recs.size() && ok; ++k) {
        const std::uint64_t a = pk64(recs[k - 1], t), b = pk64(recs[k], t);
        ok = b < (1ull << 62);
        up += b > a;
        down += b < a;
      }
      if (ok && up * 2 >= recs.size() && down * 16 <= recs.size()) ts.push_back(t);
    }
    if (recs.size() < std::min<std::size_t>(kPkMinRecords, n)) {
      set(kPkTsNsec, pk_none(fmt::format("{} live records among the newest slots", recs.size())));
      return;
    }
    set(kPkTsNsec, ts.size() == 1
                       ? Finding{ts[0], fmt::format("the u64 that grows over the newest {} records "
                                                    "(steps back at most one time in 16)",
                                                    recs.size())}
                       : pk_none(fmt::format("{} u64 grow in seq order (need one)", ts.size())));
  }

  // head_id/tail_id and head_lpos/tail_lpos, from the slots they name.
  void header_ids(const PkDescFit& f, std::uint64_t descs_off) {
    const std::uint64_t count = 1ull << f.count_bits, S = f.stride;
    const std::uint64_t descs = pk64(hdr, descs_off);
    std::vector<std::uint64_t> cand;
    std::vector<VirtualRead> reads;
    for (std::uint64_t o = 0; o + 8 <= hdr.size(); o += 8) {
      const std::uint64_t v = pk64(hdr, o);
      if (is_taken(o) || v > kPkIdMask || v == 0) continue;
      cand.push_back(o);
      reads.push_back({descs + (v & (count - 1)) * S, S});
    }
    auto got = read(reads);
    std::vector<std::uint64_t> ids;
    std::vector<std::vector<std::uint8_t>> slot_of;
    for (std::size_t k = 0; k < cand.size(); ++k) {
      if (!got[k] || (pk64(*got[k], f.state_var) & kPkIdMask) != pk64(hdr, cand[k])) continue;
      ids.push_back(cand[k]);
      slot_of.push_back(*got[k]);
    }
    const Finding none = pk_none(fmt::format("{} header words are ids of their slots (need "
                                             "head and tail)", ids.size()));
    if (ids.size() < 2) {
      for (const char* k : {kPkHeadId, kPkTailId, kPkHeadLpos, kPkTailLpos}) set(k, none);
      return;
    }
    auto newer = [&](std::uint64_t a, std::uint64_t b) {
      return pk_id_diff(pk64(hdr, a), pk64(hdr, b)) > 0;
    };
    std::vector<std::uint64_t> sorted = ids;
    std::sort(sorted.begin(), sorted.end(), [&](auto a, auto b) { return newer(b, a); });
    const std::uint64_t tail = sorted.front();
    const bool tail_unique = sorted.size() < 2 || newer(sorted[1], tail);
    std::vector<std::uint64_t> heads;
    for (std::uint64_t o : ids)
      if (!newer(sorted.back(), o)) heads.push_back(o);
    // head_id == last_finalized_id at rest (6.1): the header declares head_id right before
    // tail_id (printk_ringbuffer.h since 5.10), which decides between equal words.
    std::uint64_t head = heads.size() == 1 ? heads[0] : ~0ull;
    if (heads.size() > 1 && std::find(heads.begin(), heads.end(), tail - 8) != heads.end())
      head = tail - 8;
    if (!tail_unique || head == ~0ull || head == tail ||
        pk_id_diff(pk64(hdr, head), pk64(hdr, tail)) >= static_cast<std::int64_t>(count)) {
      for (const char* k : {kPkHeadId, kPkTailId, kPkHeadLpos, kPkTailLpos}) set(k, none);
      return;
    }
    set(kPkHeadId, {head, heads.size() > 1 ? "the newest id of its slot (of equal words, the "
                                             "one right before tail_id)"
                                           : "the header word naming the newest record's slot"});
    set(kPkTailId, {tail, "the header word naming the oldest record's slot"});
    taken.insert(taken.end(), {head, tail});
    // head_lpos: the head record's block end (data_alloc() moves it there).
    const auto& hs = slot_of[std::find(ids.begin(), ids.end(), head) - ids.begin()];
    const auto b = out.findings[kPkBegin].offset;
    if (!b) {
      set(kPkHeadLpos, pk_none("needs prb_desc.text_blk_lpos"));
      set(kPkTailLpos, pk_none("needs prb_desc.text_blk_lpos"));
      return;
    }
    const std::uint64_t hnext = pk64(hs, *b + 8), hbegin = pk64(hs, *b);
    std::vector<std::uint64_t> hl;
    if (!(hbegin & 1))
      for (std::uint64_t o : words_equal(hnext)) hl.push_back(o);
    set(kPkHeadLpos, hl.size() == 1 ? Finding{hl[0], "the header word equal to the newest "
                                                     "block's end"}
                                    : pk_none(fmt::format("{} header words equal the newest "
                                                          "block's end (need one)", hl.size())));
    if (hl.size() != 1) {
      set(kPkTailLpos, pk_none("needs head_lpos"));
      return;
    }
    taken.push_back(hl[0]);
    // tail_lpos: at most one ring behind head_lpos and not after any live block's begin.
    std::vector<std::uint64_t> tl;
    for (std::uint64_t o = 0; o + 8 <= hdr.size(); o += 8) {
      const std::uint64_t w = pk64(hdr, o);
      if (is_taken(o) || w % 8 || hnext - w > dsize) continue;
      bool ok = true;
      for (const PkSlot& s : f.slots)
        if ((s.state == 1 || s.state == 2) && s.block_size)
          ok = ok && s.begin - w < dsize;
      if (ok) tl.push_back(o);
    }
    set(kPkTailLpos, tl.size() == 1 ? Finding{tl[0], "the header word within one ring behind "
                                                     "head_lpos, before every live block"}
                                    : pk_none(fmt::format("{} header words could be tail_lpos "
                                                          "(need one)", tl.size())));
  }
};

}  // namespace

PrintkOutcome infer_printk(const PrintkInputs& in, const VirtualReader& read) {
  PrintkRun r{in, read, {}, {}, 0, 0, 0, 0, {}};
  r.run();
  return std::move(r.out);
}

}  // namespace tlpstub::kernel::infer
