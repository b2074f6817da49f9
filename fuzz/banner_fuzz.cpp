// Fuzzes the "Linux version " banner search over hostile memory. Invariants: no crash or
// sanitizer report; every candidate lies inside the buffer, in increasing order, and starts
// with the pattern it was found by.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "kernel/banner.hpp"

using namespace tlpstub::kernel;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::uint64_t kBase = 0x1000000;
  auto found = find_banner_candidates(std::span<const std::uint8_t>(data, size), kBase);
  std::uint64_t last = 0;
  for (const BannerCandidate& c : found) {
    if (c.pa < kBase || c.pa - kBase >= size || (last && c.pa <= last)) std::abort();
    if (!std::string_view(c.text).starts_with("Linux version ")) std::abort();
    if (c.text.size() > size - (c.pa - kBase)) std::abort();
    (void)banner_kind_name(c.kind);
    last = c.pa;
  }
  return 0;
}
