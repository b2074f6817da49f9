// Fuzzes the VMCOREINFO note parser with hostile page contents (the page is target memory).
// Invariants: no crash or sanitizer report; a parsed note starts with OSRELEASE and every
// lookup on it returns without reading past the input.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "kernel/vmcoreinfo.hpp"

using namespace tlpstub::kernel;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> page(data, size);
  const bool looks = starts_like_vmcoreinfo(page);
  auto v = parse_vmcoreinfo(page);
  if (!v) return 0;
  if (!looks) std::abort();  // parsed text must start with OSRELEASE=
  (void)v->kerneloffset();
  (void)v->offset("list_head.next");
  (void)v->size("page");
  return 0;
}
