// Fuzzes the IKCONFIG path (kernel/linux/kconfig*): the IKCFG_ST + gzip + IKCFG_ED blob as
// found in memory, the bounded gunzip, and the config-text parser on whatever comes out.
// Input: [mode][rest]; mode 0: rest is the blob; mode 1: rest is a bare gzip stream
// inflated to at most 64 KiB; mode 2: rest is config text.
// Invariants: no crash or sanitizer report; gunzip never returns more than its limit (a gzip
// bomb ends in an error or a truncated result, not in memory growth).
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "kernel/linux/kconfig.hpp"

using namespace tlpstub::kernel;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::span<const std::uint8_t> rest(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto text = ikconfig_text(rest);
      if (text) (void)parse_config(*text, "IKCONFIG");
      break;
    }
    case 1: {
      constexpr std::size_t kLimit = 64 << 10;
      auto text = gunzip(rest, kLimit);
      if (text && text->size() > kLimit) std::abort();
      break;
    }
    case 2: {
      const std::string_view text(reinterpret_cast<const char*>(rest.data()), rest.size());
      for (const ConfigOption& o : parse_config(text, "fuzz")) (void)config_line(o);
      (void)config_header(text);
      (void)looks_like_config(rest);
      (void)is_config_header(rest);
      break;
    }
  }
  return 0;
}
