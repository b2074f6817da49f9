// Fuzzes kallsyms decoding with hostile tables (memory is untrusted): the pure decoders, and
// the whole recovery (VMCOREINFO locations and the token-table scan) over a fake kernel image.
//
// Input: byte 0 = mode and flags.
//  mode 0 (decoders): [flags][u16 count][u64 base][u16 tt_len][tt][u16 names_len][names]
//                     [u16 markers_len][markers][rest: address table]; the token index is the
//                     512 bytes after the token table when present, else zeros.
//  mode 1 (recovery): the rest is copied into a 2 MiB .rodata slot of a fake image behind a
//                     synthetic page table (offset 0 holds a banner); its first 48 bytes also
//                     give VMCOREINFO SYMBOL(kallsyms_*) offsets (u32 each, or absent).
// Invariants: no crash or sanitizer report, no unbounded loop, and a success returns exactly
// the asked-for number of names/symbols.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "kernel/symbols/kallsyms.hpp"
#include "tests/support/fake_memory.hpp"

using namespace tlpstub;
using namespace tlpstub::kernel;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

struct Cursor {
  const std::uint8_t* p;
  std::size_t n;
  std::uint64_t take(unsigned bytes) {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < bytes && n; ++i, ++p, --n) v |= std::uint64_t{*p} << (8 * i);
    return v;
  }
  std::span<const std::uint8_t> span(std::size_t len) {
    len = std::min(len, n);
    std::span<const std::uint8_t> s(p, len);
    p += len;
    n -= len;
    return s;
  }
};

void decoders(std::uint8_t flags, Cursor c) {
  const std::uint64_t count = c.take(2);
  const std::uint64_t base = c.take(8);
  auto tt = c.span(c.take(2));
  std::vector<std::uint8_t> ti(512, 0);
  auto tis = c.span(512);
  std::copy(tis.begin(), tis.end(), ti.begin());
  auto names = c.span(c.take(2));
  auto markers = c.span(c.take(2));
  auto table = c.span(c.n);
  auto tokens = parse_tokens(tt, ti);
  if (!tokens) return;
  const NameLength nl = flags & 2 ? NameLength::uleb128 : NameLength::byte;
  auto dn = decode_names(names, count, *tokens, nl, markers, flags & 4 ? 8 : 4);
  if (!dn) return;
  check(dn->names.size() == count && dn->end <= names.size());
  const AddressEncoding enc = static_cast<AddressEncoding>((flags >> 3) % 3);
  auto syms = decode_addresses(*dn, table, enc, base);
  if (syms) check(syms->size() == count);
}

constexpr std::uint64_t k2M = 2ull << 20;
constexpr std::uint64_t kTextVa = 0xffffffff8a000000, kTextPa = 0x2000000;

void recovery(Cursor c) {
  static test::FakeMemory* mem = nullptr;
  static PhysAddr top;
  if (!mem) {  // the image and its page table, built once
    mem = new test::FakeMemory;
    test::PageTableBuilder b(*mem, {.levels = 4, .first_table = 0x100000});
    for (std::uint64_t i = 0; i < 2; ++i) {
      mem->back(PhysAddr(kTextPa + i * k2M), k2M);
      b.map_2m(VirtAddr(kTextVa + i * k2M), PhysAddr(kTextPa + i * k2M));
    }
    top = b.top();
  }
  const std::uint64_t rodata = kTextPa + k2M;
  // Only what the previous input wrote is cleared (clearing 2 MiB per run made fuzzing slow).
  static std::size_t dirty = 0;
  auto body = std::span<const std::uint8_t>(c.p, std::min<std::size_t>(c.n, k2M - 64));
  if (dirty > body.size()) {
    std::vector<std::uint8_t> zero(dirty - body.size(), 0);
    mem->write(PhysAddr(rodata + 64 + body.size()), zero);
  }
  mem->write(PhysAddr(rodata + 64), body);
  dirty = body.size();
  KernelImage img;
  img.text_va = kTextVa;
  img.banner_va = kTextVa + k2M;
  img.top = top;
  img.levels = 4;
  const char* names[] = {"kallsyms_names", "kallsyms_num_syms", "kallsyms_token_table",
                         "kallsyms_token_index", "kallsyms_offsets", "kallsyms_relative_base"};
  Cursor h{body.data(), std::min<std::size_t>(body.size(), 48)};
  for (const char* n : names) {
    const std::uint64_t off = h.take(4);
    if (off & 0x80000000u) continue;  // absent
    img.vmcoreinfo[fmt::format("SYMBOL({})", n)] =
        fmt::format("{:x}", kTextVa + k2M + (off % (4 * k2M)));  // may point past the image
  }
  auto r = recover_symbols(*mem, img);
  if (r) check(r->table.size() == r->report.count);
  // KALLSYMS_FUZZ_VERBOSE=1: what each input recovered (to see that the seeds decode).
  if (std::getenv("KALLSYMS_FUZZ_VERBOSE"))
    std::fprintf(stderr, "%s\n", r ? fmt::format("{} symbols by {}", r->report.count,
                                                  r->report.method).c_str()
                                    : r.error().message.substr(0, 200).c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  Cursor c{data + 1, size - 1};
  if (data[0] & 1)
    recovery(c);
  else
    decoders(data[0], c);
  return 0;
}
