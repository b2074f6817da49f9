// A fake kernel image for BTF tests: text (RX), rodata (RO, NX) and data (RW) slots in 2 MiB
// pages under a 4-level table, the hand-built BTF of btf_sample.hpp near the end of rodata
// (not page-aligned, as in Debian's images), and the KernelImage discovery would publish.
#pragma once

#include "kernel/kernel_image.hpp"
#include "tests/kernel/btf_sample.hpp"
#include "tests/support/fake_memory.hpp"

namespace tlpstub::test {

struct FakeImage {
  using PTB = PageTableBuilder;
  static constexpr std::uint64_t k2M = 2ull << 20;
  static constexpr std::uint64_t kTextVa = 0xffffffff8a000000;
  static constexpr std::uint64_t kTextPa = 0x2000000;
  static constexpr std::uint64_t kRodataPa = kTextPa + 2 * k2M;
  static constexpr std::uint64_t kSdataPa = kTextPa + 6 * k2M;  // rodata: 4 slots, 8 MiB
  static constexpr std::uint64_t kBtfPa = kSdataPa - 0x300000 + 0xc58;  // not page-aligned

  FakeMemory mem;
  kernel::KernelImage img;
  std::vector<std::uint8_t> blob = sample_btf().bytes();

  FakeImage() {
    mem.back(PhysAddr(kTextPa), 8 * k2M);
    PTB b(mem, {.levels = 4, .first_table = kSdataPa + 0x10000});
    for (unsigned i = 0; i < 8; ++i) {
      const std::uint64_t flags = i < 2   ? PTB::kKernelText
                                  : i < 6 ? PTB::kKernelText | PTB::NX
                                          : PTB::kKernelData;
      b.map_2m(VirtAddr(kTextVa + i * k2M), PhysAddr(kTextPa + i * k2M), flags);
    }
    img.text_va = kTextVa;
    img.phys_base = kTextPa - (kTextVa - kernel::kStartKernelMap);
    img.top = b.top();
    img.levels = 4;
    mem.write(PhysAddr(kBtfPa), blob);
  }
  std::uint64_t va(std::uint64_t pa) const { return pa - kTextPa + kTextVa; }
};

}  // namespace tlpstub::test
