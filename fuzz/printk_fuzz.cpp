// Fuzzes the printk record decoders (kernel/linux/printk*) with hostile rings: the 5.10+
// printk_ringbuffer (header, descriptors, infos, text ring) and the older log_buf walk.
//
// Input: [mode][mode 0: u64 first_id, header 88 bytes, u16 n, descs 24 n, infos 88 n, text]
//              [mode 1: u32 first_idx, u32 count, log_buf bytes]
// Invariants: no crash or sanitizer report, bounded output (never more records than slots,
// or than `count`), text without NULs beyond what the ring holds.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "kernel/linux/printk.hpp"

using namespace tlpstub::kernel;

namespace {

// The 6.1 layout (kernel/printk/printk_ringbuffer.h): struct printk_ringbuffer is
// desc_ring {count_bits, descs, infos, head_id, tail_id, last_finalized_seq} then
// text_data_ring {size_bits, data, head_lpos, tail_lpos}; prb_desc {state_var, {begin, next}};
// printk_info {seq, ts_nsec, text_len, facility, flags:5, level:3, caller_id, dev_info}.
PrbLayout layout_6_1() {
  PrbLayout L;
  L.rb_size = 88;
  L.count_bits = 0, L.descs = 8, L.infos = 16, L.head_id = 24, L.tail_id = 32;
  L.size_bits = 48, L.data = 56, L.head_lpos = 64, L.tail_lpos = 72;
  L.desc_size = 24, L.state_var = 0, L.blk_begin = 8, L.blk_next = 16;
  L.info_size = 88, L.seq = 0, L.ts_nsec = 8, L.text_len = 16, L.facility = 18;
  L.flags_bit = 152, L.level_bit = 157, L.caller_id = 20, L.has_caller_id = true;
  return L;
}

std::uint64_t take(const std::uint8_t*& p, std::size_t& n, std::size_t bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < bytes && n; ++i, ++p, --n) v |= std::uint64_t{*p} << (8 * i);
  return v;
}

std::span<const std::uint8_t> take_span(const std::uint8_t*& p, std::size_t& n, std::size_t len) {
  len = std::min(len, n);
  std::span<const std::uint8_t> s(p, len);
  p += len;
  n -= len;
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t* p = data + 1;
  std::size_t n = size - 1;
  LogReport rep;
  if (data[0] % 2 == 0) {
    static const PrbLayout L = layout_6_1();
    const std::uint64_t first_id = take(p, n, 8);
    auto h = parse_prb_header(L, take_span(p, n, L.rb_size));
    if (!h) return 0;
    const std::size_t slots = take(p, n, 2);
    auto descs = take_span(p, n, slots * L.desc_size);
    auto infos = take_span(p, n, slots * L.info_size);
    auto recs = decode_prb(L, *h, first_id, descs, infos, std::span(p, n), rep,
                           data[0] & 2 ? descs : std::span<const std::uint8_t>{});
    if (recs.size() > descs.size() / L.desc_size) std::abort();
    for (const LogRecord& r : recs) (void)format_record(r);
  } else {
    LogBufLayout L;
    if (data[0] & 2) L.header = 20, L.caller_id = 16;
    const std::uint64_t first_idx = take(p, n, 4), count = take(p, n, 4);
    auto recs = decode_log_buf(L, std::span(p, n), first_idx, 0, count, rep);
    if (recs.size() > count) std::abort();
    for (const LogRecord& r : recs) (void)format_record(r);
  }
  return 0;
}
