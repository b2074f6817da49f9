#include "kernel/banner.hpp"

#include <algorithm>
#include <cctype>

namespace tlpstub::kernel {

namespace {

bool printable(std::uint8_t c) { return c >= 0x20 && c < 0x7f; }

// UTS_VERSION begins at the '#' after the compiler string's closing ") " (scripts/mkcompile_h,
// init/build-version: "#" KBUILD_BUILD_VERSION " SMP PREEMPT_DYNAMIC ..."). Searched from the
// right: compiler strings can contain '#', UTS_VERSION's "#" comes after them.
std::string uts_version_of(std::string_view text) {
  const std::size_t p = text.rfind(") #");
  if (p == std::string_view::npos) return {};
  return std::string(text.substr(p + 2));
}

BannerCandidate parse_candidate(std::span<const std::uint8_t> buf, std::size_t at,
                                std::uint64_t base) {
  BannerCandidate c;
  c.pa = base + at;
  c.nul_before = at == 0 || buf[at - 1] == 0;
  const std::size_t limit = std::min(buf.size(), at + kMaxBannerLength);
  std::size_t end = at;
  while (end < limit && printable(buf[end])) ++end;
  c.text.assign(reinterpret_cast<const char*>(buf.data() + at), end - at);
  // "\n\0" right after the printable run: the shape of the kernel's string.
  c.terminated = end + 1 < limit && buf[end] == '\n' && buf[end + 1] == 0;

  std::string_view rest = std::string_view(c.text).substr(kBannerPrefix.size());
  c.release = std::string(rest.substr(0, rest.find(' ')));
  c.version = uts_version_of(c.text);
  c.has_build_number = c.version.size() > 1 && c.version[0] == '#' &&
                       std::isdigit(static_cast<unsigned char>(c.version[1]));

  const bool shaped = c.nul_before && c.terminated && !c.release.empty() &&
                      c.release.size() <= 64 && !c.version.empty();
  if (!shaped)
    c.kind = BannerKind::copy;
  else
    c.kind = c.has_build_number ? BannerKind::real : BannerKind::placeholder;
  return c;
}

}  // namespace

std::vector<BannerCandidate> find_banner_candidates(std::span<const std::uint8_t> buf,
                                                    std::uint64_t base) {
  std::vector<BannerCandidate> out;
  const auto* first = buf.data();
  const auto* last = buf.data() + buf.size();
  const auto* pfx = reinterpret_cast<const std::uint8_t*>(kBannerPrefix.data());
  for (const auto* it = first;;) {
    it = std::search(it, last, pfx, pfx + kBannerPrefix.size());
    if (it == last) break;
    out.push_back(parse_candidate(buf, static_cast<std::size_t>(it - first), base));
    it += kBannerPrefix.size();
  }
  return out;
}

std::string_view banner_kind_name(BannerKind k) {
  switch (k) {
    case BannerKind::real: return "real";
    case BannerKind::placeholder: return "placeholder";
    case BannerKind::copy: return "copy";
  }
  return "?";
}

}  // namespace tlpstub::kernel
