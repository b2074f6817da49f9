#include "transport/page_codecs.hpp"

#include <cstring>

#include <fmt/format.h>
#include <zlib.h>
#if TLPSTUB_HAVE_LZO
#include <lzo/lzo1x.h>
#endif
#if TLPSTUB_HAVE_SNAPPY
#include <snappy-c.h>
#endif
#if TLPSTUB_HAVE_ZSTD
#include <zstd.h>
#endif

namespace tlpstub {

namespace {

Error codec_error(std::string msg) { return Error{Errc::malformed, std::move(msg)}; }

Result<void> exact(std::size_t got, std::size_t want, const char* codec) {
  if (got != want)
    return std::unexpected(codec_error(fmt::format("{} gave {} bytes, not a page of {}", codec,
                                                   got, want)));
  return {};
}

[[maybe_unused]] Result<void> missing(const char* codec, const char* package) {
  return std::unexpected(Error{Errc::unsupported,
                               fmt::format("{}-compressed page, and tlpstub was built without "
                                           "{} ({})", codec, codec, package)});
}

}  // namespace

Result<void> decompress_page(std::uint32_t flags, std::span<const std::uint8_t> in,
                             std::span<std::uint8_t> out) {
  if (flags & kPageZlib) {
    uLongf n = static_cast<uLongf>(out.size());
    if (uncompress(out.data(), &n, in.data(), static_cast<uLong>(in.size())) != Z_OK)
      return std::unexpected(codec_error("zlib data does not decompress"));
    return exact(n, out.size(), "zlib");
  }
  if (flags & kPageLzo) {
#if TLPSTUB_HAVE_LZO
    static const bool ready = lzo_init() == LZO_E_OK;
    if (!ready) return std::unexpected(codec_error("lzo did not initialise"));
    lzo_uint n = out.size();
    if (lzo1x_decompress_safe(in.data(), in.size(), out.data(), &n, nullptr) != LZO_E_OK)
      return std::unexpected(codec_error("lzo data does not decompress"));
    return exact(n, out.size(), "lzo");
#else
    return missing("lzo", "liblzo2-dev");
#endif
  }
  if (flags & kPageSnappy) {
#if TLPSTUB_HAVE_SNAPPY
    std::size_t n = 0;
    if (snappy_uncompressed_length(reinterpret_cast<const char*>(in.data()), in.size(), &n) !=
            SNAPPY_OK || n != out.size())
      return std::unexpected(codec_error("snappy data is not one page"));
    if (snappy_uncompress(reinterpret_cast<const char*>(in.data()), in.size(),
                          reinterpret_cast<char*>(out.data()), &n) != SNAPPY_OK)
      return std::unexpected(codec_error("snappy data does not decompress"));
    return exact(n, out.size(), "snappy");
#else
    return missing("snappy", "libsnappy-dev");
#endif
  }
  if (flags & kPageZstd) {
#if TLPSTUB_HAVE_ZSTD
    const std::size_t n = ZSTD_decompress(out.data(), out.size(), in.data(), in.size());
    if (ZSTD_isError(n))
      return std::unexpected(codec_error(std::string("zstd: ") + ZSTD_getErrorName(n)));
    return exact(n, out.size(), "zstd");
#else
    return missing("zstd", "libzstd-dev");
#endif
  }
  // Stored raw: exactly one page.
  if (in.size() != out.size())
    return std::unexpected(codec_error(fmt::format("raw page of {} bytes, not {}", in.size(),
                                                   out.size())));
  std::memcpy(out.data(), in.data(), out.size());
  return {};
}

}  // namespace tlpstub
