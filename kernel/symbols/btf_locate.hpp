// Finding the kernel's BTF in physical memory and parsing it (facts/linux.md section 5).
//
// vmlinux BTF is the .BTF section, bounded by __start_BTF/__stop_BTF, inside the read-only
// part of the image: after .notes, before the end of .rodata, which ends 2 MiB-aligned right
// below _sdata (include/asm-generic/vmlinux.lds.h RO_DATA/BTF, arch/x86/kernel/vmlinux.lds.S
// X86_ALIGN_RODATA_END; Debian 6.12.117: __start_BTF at _sdata - 5.3 MiB, 4.7 MiB long [obs]).
//
// Without symbols (kallsyms comes later) the header is found by scanning: the read-only slots
// of the image are found through the kernel page table (read-only and NX, like discovery's
// banner search), and read downwards from their end in 1 MiB batches of 4 KiB reads, looking
// for the header signature 9F EB 01 00 18 00 00 00. As .BTF is near the end of .rodata, the
// bytes read before the header is found are mostly BTF itself, which must be read anyway. A
// candidate is accepted only if its header fits below the end of .rodata, it parses completely
// (every type, every reference, strings ending in NUL) and it defines struct task_struct.
// With kallsyms, pass [__start_BTF, __stop_BTF) as the range and no scan is needed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/error.hpp"
#include "kernel/kernel_image.hpp"
#include "kernel/symbols/btf.hpp"
#include "kernel/symbols/symbol_table.hpp"
#include "transport/physical_memory.hpp"

namespace tlpstub::kernel {

// A kernel virtual range [start, stop), e.g. __start_BTF/__stop_BTF from kallsyms.
struct VaRange {
  std::uint64_t start = 0, stop = 0;
};

struct BtfFound {
  std::shared_ptr<const btf::Btf> btf;
  std::uint64_t va = 0, pa = 0;  // where the header is
  std::uint64_t size = 0;        // bytes of header + sections
  std::string how;               // "header scan ..." or "__start_BTF/__stop_BTF"
  DiscoveryCost cost;
};

// Bytes of .rodata scanned at most (Debian's whole .rodata is 10-12 MiB [obs]).
inline constexpr std::uint64_t kMaxBtfScan = 32ull << 20;

// [__start_BTF, __stop_BTF) from kallsyms, when both bounds are there and in order.
std::optional<VaRange> btf_range(const SymbolTable& symbols);

// Finds and parses vmlinux BTF for a discovered kernel; with `range`, reads exactly that.
Result<BtfFound> recover_btf(PhysicalMemory& mem, const KernelImage& img,
                             std::optional<VaRange> range = std::nullopt);

}  // namespace tlpstub::kernel
