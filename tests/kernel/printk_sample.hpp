// Test support for the printk log: a hand-built BTF of the 5.10+ ring-buffer structs
// (kernel/printk/printk_ringbuffer.h, 6.1/6.12 shape), and a simulator that fills a ring the
// way the kernel's writer does (desc_reserve/data_alloc in printk_ringbuffer.c): ids and lpos
// start where _DEFINE_PRINTKRB starts them (DESC0_ID, BLK0_LPOS, both about to wrap), blocks
// are {id, text} 8-byte aligned, a block that would cross the end of the ring is stored at 0
// with begin one wrap behind next, and the oldest records are recycled when space runs out.
// Written from the format, independent of the decoder under test.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "tests/kernel/btf_blob.hpp"
#include "tests/kernel/btf_sample.hpp"
#include "tests/support/fake_memory.hpp"

namespace tlpstub::test {

// `pad` bytes (multiple of 8) of an extra member at the start of printk_info, so a test can
// prove that offsets come from BTF.
inline BtfBlob printk_btf(std::uint32_t pad = 0) {
  BtfBlob b;
  using B = BtfBlob;
  b.w({b.str("unsigned int"), B::info(kInt, 0), 4, 32});                    // 1
  b.w({b.str("long unsigned int"), B::info(kInt, 0), 8, 64});               // 2
  b.w({b.str("char"), B::info(kInt, 0), 1, (1u << 24) | 8});                // 3
  b.w({0, B::info(kPtr, 0), 3});                                            // 4 char *
  b.w({b.str("long int"), B::info(kInt, 0), 8, (1u << 24) | 64});           // 5
  b.w({0, B::info(kStruct, 1), 8, b.str("counter"), 5, 0});                 // 6 { counter }
  b.w({b.str("atomic64_t"), B::info(kTypedef, 0), 6});                      // 7
  b.w({b.str("atomic_long_t"), B::info(kTypedef, 0), 7});                   // 8
  const auto begin = b.str("begin"), next = b.str("next");
  b.w({b.str("prb_data_blk_lpos"), B::info(kStruct, 2), 16, begin, 2, 0, next, 2, 64});  // 9
  b.w({b.str("prb_desc"), B::info(kStruct, 2), 24, b.str("state_var"), 8, 0,
       b.str("text_blk_lpos"), 9, 64});                                     // 10
  b.w({b.str("long long unsigned int"), B::info(kInt, 0), 8, 64});          // 11 u64
  b.w({b.str("short unsigned int"), B::info(kInt, 0), 2, 16});              // 12 u16
  b.w({b.str("unsigned char"), B::info(kInt, 0), 1, 8});                    // 13 u8
  b.w({b.str("dev_printk_info"), B::info(kStruct, 0), 64});                 // 14
  {
    const std::uint32_t p = pad * 8;  // bits
    const std::uint32_t n = pad ? 9 : 8;
    b.w({b.str("printk_info"), B::info(kStruct, n, true), 88 + pad});       // 15, kind_flag
    if (pad) b.w({b.str("extra"), 11, 0});
    b.w({b.str("seq"), 11, p + 0});
    b.w({b.str("ts_nsec"), 11, p + 64});
    b.w({b.str("text_len"), 12, p + 128});
    b.w({b.str("facility"), 13, p + 144});
    b.w({b.str("flags"), 13, (5u << 24) | (p + 152)});
    b.w({b.str("level"), 13, (3u << 24) | (p + 157)});
    b.w({b.str("caller_id"), 1, p + 160});
    b.w({b.str("dev_info"), 14, p + 192});
  }
  b.w({0, B::info(kPtr, 0), 10});                                           // 16
  b.w({0, B::info(kPtr, 0), 15});                                           // 17
  b.w({b.str("prb_desc_ring"), B::info(kStruct, 6), 48, b.str("count_bits"), 1, 0,
       b.str("descs"), 16, 64, b.str("infos"), 17, 128, b.str("head_id"), 8, 192,
       b.str("tail_id"), 8, 256, b.str("last_finalized_seq"), 8, 320});    // 18
  b.w({b.str("prb_data_ring"), B::info(kStruct, 4), 32, b.str("size_bits"), 1, 0,
       b.str("data"), 4, 64, b.str("head_lpos"), 8, 128, b.str("tail_lpos"), 8, 192});  // 19
  b.w({b.str("printk_ringbuffer"), B::info(kStruct, 3), 88, b.str("desc_ring"), 18, 0,
       b.str("text_data_ring"), 19, 384, b.str("fail"), 8, 640});           // 20
  return b;
}

class RingSim {
 public:
  static constexpr std::uint64_t kIdMask = (1ull << 62) - 1;
  enum State : std::uint64_t { reserved = 0, committed = 1, finalized = 2, reusable = 3 };
  struct Rec {
    std::uint64_t id, seq, begin, next;
    std::string text;
    bool wrapped = false;
  };

  RingSim(unsigned count_bits, unsigned size_bits, std::uint32_t pad = 0)
      : count_bits_(count_bits), size_bits_(size_bits), pad_(pad), count_(1ull << count_bits),
        dsize_(1ull << size_bits), descs(count_ * 24), infos(count_ * info_size()),
        data(dsize_) {
    // _DEFINE_PRINTKRB: DESC0_ID = DESC_ID(-(count + 1)) in the last slot, reusable;
    // BLK0_LPOS = -DATA_SIZE.
    head_id = tail_id = (0 - (count_ + 1)) & kIdMask;
    put64(descs, slot(head_id) * 24, head_id | reusable << 62);
    head_lpos = tail_lpos = 0 - dsize_;
  }

  std::uint64_t info_size() const { return 88 + pad_; }
  std::uint64_t slot(std::uint64_t id) const { return id & (count_ - 1); }
  std::uint64_t wraps(std::uint64_t lpos) const { return lpos >> size_bits_; }

  // Appends a record as the kernel's writer would, recycling the oldest when needed.
  Rec& push(const std::string& text, std::uint64_t ts, unsigned level = 6,
            State state = finalized) {
    const std::uint64_t id = (head_id + 1) & kIdMask;
    while (!live.empty() && ((id - live.front().id) & kIdMask) >= count_) pop();
    Rec r{id, seq_++, 3, 3, text};
    if (!text.empty()) {
      const std::uint64_t size = (8 + text.size() + 7) & ~7ull;
      r.begin = head_lpos;
      r.next = r.begin + size;
      if (wraps(r.begin) != wraps(r.next)) {
        r.next = (wraps(r.next) << size_bits_) + size;
        r.wrapped = true;
      }
      while (!live.empty() && r.next - tail_lpos > dsize_) pop();
      if (live.empty() && r.next - tail_lpos > dsize_) tail_lpos = r.next - dsize_;
      const std::uint64_t at = r.wrapped ? 0 : r.begin & (dsize_ - 1);
      put64(data, r.begin & (dsize_ - 1), id);
      put64(data, at, id);
      std::copy(text.begin(), text.end(), data.begin() + static_cast<std::ptrdiff_t>(at + 8));
      head_lpos = r.next;
    }
    const std::uint64_t d = slot(id) * 24, i = slot(id) * info_size() + pad_;
    put64(descs, d, id | std::uint64_t{state} << 62);
    put64(descs, d + 8, r.begin);
    put64(descs, d + 16, r.next);
    std::fill(infos.begin() + static_cast<std::ptrdiff_t>(i - pad_),
              infos.begin() + static_cast<std::ptrdiff_t>(i - pad_ + info_size()), 0);
    put64(infos, i, r.seq);
    put64(infos, i + 8, ts);
    infos[i + 16] = static_cast<std::uint8_t>(text.size());
    infos[i + 17] = static_cast<std::uint8_t>(text.size() >> 8);
    infos[i + 18] = 0;                                        // facility
    infos[i + 19] = static_cast<std::uint8_t>(level << 5);    // flags:5 = 0, level:3
    for (int k = 0; k < 4; ++k)                               // caller_id: CPU 7
      infos[i + 20 + k] = static_cast<std::uint8_t>((0x80000000u | 7) >> (8 * k));
    head_id = id;
    live.push_back(r);
    return live.back();
  }

  void set_state(const Rec& r, State s) {
    put64(descs, slot(r.id) * 24, r.id | std::uint64_t{s} << 62);
  }

  // The header bytes (struct printk_ringbuffer, 88 bytes) for arrays at the given VAs.
  std::vector<std::uint8_t> header(std::uint64_t descs_va, std::uint64_t infos_va,
                                   std::uint64_t data_va) const {
    std::vector<std::uint8_t> h(88);
    put64(h, 0, count_bits_);
    put64(h, 8, descs_va);
    put64(h, 16, infos_va);
    put64(h, 24, head_id);
    put64(h, 32, tail_id);
    put64(h, 48, size_bits_);
    put64(h, 56, data_va);
    put64(h, 64, head_lpos);
    put64(h, 72, tail_lpos);
    return h;
  }

  static void put64(std::vector<std::uint8_t>& b, std::uint64_t off, std::uint64_t v) {
    for (int k = 0; k < 8; ++k) b.at(off + k) = static_cast<std::uint8_t>(v >> (8 * k));
  }

  std::deque<Rec> live;
  std::uint64_t head_id, tail_id, head_lpos, tail_lpos;

 private:
  void pop() {
    const Rec& o = live.front();
    put64(descs, slot(o.id) * 24, o.id | std::uint64_t{reusable} << 62);
    tail_lpos = o.next;
    tail_id = (o.id + 1) & kIdMask;
    live.pop_front();
  }

  unsigned count_bits_, size_bits_;
  std::uint32_t pad_;
  std::uint64_t count_, dsize_;
  std::uint64_t seq_ = 0;

 public:
  std::vector<std::uint8_t> descs, infos, data;
};

}  // namespace tlpstub::test
