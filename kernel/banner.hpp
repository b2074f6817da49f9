// linux_banner candidates in a buffer of physical memory.
//
// The banner is "Linux version " UTS_RELEASE " (" LINUX_COMPILE_BY "@" LINUX_COMPILE_HOST ") ("
// LINUX_COMPILER ") " UTS_VERSION "\n", a NUL-terminated const char[] (init/version.c; from 6.1
// the real one is in init/version-timestamp.c and version.c keeps a weak placeholder whose
// UTS_VERSION has no build number: "# SMP ..." instead of "#1 SMP ..." [obs] Debian 6.1.192,
// 6.12.117). Copies exist in the printk buffer, in init_uts_ns pieces, in files in the page cache
// and in stale RAM: a candidate is only text here; discovery decides which one is the kernel's
// by where it is mapped (see kernel/discovery_image.cpp).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tlpstub::kernel {

inline constexpr std::string_view kBannerPrefix = "Linux version ";
// Longest banner accepted. UTS_RELEASE is at most 64 characters, and compiler strings are long
// but bounded; Debian's are ~230 bytes [obs].
inline constexpr std::size_t kMaxBannerLength = 1024;

enum class BannerKind {
  real,         // a C string "...#<build number> ...\n\0": what linux_banner looks like
  placeholder,  // a C string whose UTS_VERSION has no build number (6.1+ weak linux_banner)
  copy,         // not a kernel string: a log line, a truncated or binary-tainted copy
};

struct BannerCandidate {
  std::uint64_t pa = 0;        // physical address of the 'L'
  std::string text;            // without the trailing newline
  std::string release;         // UTS_RELEASE: the word after "Linux version "
  std::string version;         // UTS_VERSION: from the '#' that follows the compiler's ')'
  bool nul_before = false;     // preceded by NUL (or at the start of the buffer)
  bool terminated = false;     // ends in "\n\0" within kMaxBannerLength, printable throughout
  bool has_build_number = false;  // UTS_VERSION starts with '#' and a digit
  BannerKind kind = BannerKind::copy;
};

// Every "Linux version " in `buf`, whose first byte is at physical address `base`. A candidate
// cut off by the end of the buffer is reported as a copy (not terminated).
std::vector<BannerCandidate> find_banner_candidates(std::span<const std::uint8_t> buf,
                                                    std::uint64_t base);

std::string_view banner_kind_name(BannerKind k);

}  // namespace tlpstub::kernel
