// Pure decoding of kallsyms tables already read into memory (kernel/symbols/kallsyms.hpp):
// no I/O here, so every bound is checked against the spans handed in.
#include <fmt/format.h>

#include <cstring>

#include "common/bytes.hpp"
#include "kernel/symbols/kallsyms.hpp"

namespace tlpstub::kernel {

std::string_view encoding_name(AddressEncoding e) {
  switch (e) {
    case AddressEncoding::absolute_percpu: return "relative, absolute per-CPU (<= 6.14)";
    case AddressEncoding::relative: return "relative, u32 offsets (6.15+)";
    case AddressEncoding::absolute: return "absolute addresses";
  }
  return "?";
}

std::string_view name_length_name(NameLength l) {
  return l == NameLength::byte ? "1-byte name lengths" : "ULEB128 name lengths";
}

Result<TokenTable> parse_tokens(std::span<const std::uint8_t> table,
                                std::span<const std::uint8_t> index) {
  if (index.size() < 512) return fail(Errc::malformed, "kallsyms_token_index: shorter than 512 bytes");
  TokenTable t;
  for (unsigned i = 0; i < 256; ++i) {
    const std::size_t off = static_cast<std::size_t>(index[2 * i]) | (index[2 * i + 1] << 8);
    if (off >= table.size())
      return fail(Errc::malformed, fmt::format("kallsyms_token_index[{}] = {} is past the token "
                                               "table ({} bytes)",
                                               i, off, table.size()));
    const void* nul = std::memchr(table.data() + off, 0, table.size() - off);
    if (!nul)
      return fail(Errc::malformed, fmt::format("kallsyms token {} has no NUL before the end of "
                                               "the token table",
                                               i));
    const std::size_t len = static_cast<const std::uint8_t*>(nul) - (table.data() + off);
    t[i].assign(reinterpret_cast<const char*>(table.data() + off), len);
  }
  return t;
}

Result<DecodedNames> decode_names(std::span<const std::uint8_t> names, std::uint64_t count,
                                  const TokenTable& tokens, NameLength lengths,
                                  std::span<const std::uint8_t> markers, unsigned marker_width) {
  if (count == 0 || count > kMaxKallsyms)
    return fail(Errc::malformed, fmt::format("kallsyms_num_syms = {} is not plausible", count));
  if (!markers.empty()) {
    if (marker_width != 4 && marker_width != 8)
      return fail(Errc::invalid_argument, "marker width must be 4 or 8");
    if (markers.size() < (count + 255) / 256 * marker_width)
      return fail(Errc::malformed, "kallsyms_markers: fewer markers than symbols need");
  }
  // Each entry takes at least 2 bytes: a quick bound before allocating anything.
  if (count > names.size() / 2)
    return fail(Errc::malformed, fmt::format("{} symbols cannot fit in {} bytes of "
                                             "kallsyms_names",
                                             count, names.size()));
  DecodedNames out;
  out.names.reserve(count);
  std::size_t pos = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    if (!markers.empty() && i % 256 == 0) {
      const std::size_t k = i / 256;
      const std::uint64_t m = marker_width == 4 ? load_le32(markers.data() + 4 * k)
                                                : load_le64(markers.data() + 8 * k);
      if (m != pos)
        return fail(Errc::malformed, fmt::format("kallsyms_markers[{}] = {}, but symbol {} "
                                                 "starts at {}",
                                                 k, m, i, pos));
    }
    if (pos >= names.size())
      return fail(Errc::malformed, fmt::format("kallsyms_names ends inside symbol {}", i));
    std::size_t len = names[pos++];
    if (lengths == NameLength::uleb128 && (len & 0x80)) {
      if (pos >= names.size())
        return fail(Errc::malformed, fmt::format("kallsyms_names ends inside symbol {}", i));
      len = (len & 0x7f) | (static_cast<std::size_t>(names[pos++]) << 7);
    }
    if (len == 0 || len > names.size() - pos)
      return fail(Errc::malformed, fmt::format("kallsyms_names: symbol {} has length {} at "
                                               "offset {}",
                                               i, len, pos));
    std::string s;
    for (std::size_t k = 0; k < len; ++k) {
      s += tokens[names[pos + k]];
      if (s.size() > kMaxSymbolName + 1)
        return fail(Errc::malformed, fmt::format("kallsyms_names: symbol {} expands past {} "
                                                 "characters",
                                                 i, kMaxSymbolName));
    }
    if (s.size() < 2)
      return fail(Errc::malformed, fmt::format("kallsyms_names: symbol {} has no name", i));
    pos += len;
    out.names.push_back(std::move(s));
  }
  out.end = pos;
  return out;
}

Result<std::vector<Symbol>> decode_addresses(const DecodedNames& names,
                                             std::span<const std::uint8_t> table,
                                             AddressEncoding enc, std::uint64_t base) {
  const std::size_t n = names.names.size();
  const std::size_t width = enc == AddressEncoding::absolute ? 8 : 4;
  if (table.size() / width < n)
    return fail(Errc::malformed, fmt::format("address table: {} bytes for {} symbols",
                                             table.size(), n));
  std::vector<Symbol> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    Symbol& s = out[i];
    s.type = names.names[i][0];
    s.name = names.names[i].substr(1);
    switch (enc) {
      case AddressEncoding::absolute:
        s.address = load_le64(table.data() + 8 * i);
        // Zero-based per-CPU symbols are not relocated (arch/x86/tools/relocs.c): below the
        // kernel half they are section offsets.
        s.percpu = s.address < kStartKernelMap && s.address < (1ull << 32);
        break;
      case AddressEncoding::relative:
        s.address = base + load_le32(table.data() + 4 * i);
        break;
      case AddressEncoding::absolute_percpu: {
        const auto off = static_cast<std::int32_t>(load_le32(table.data() + 4 * i));
        if (off >= 0) {
          s.address = static_cast<std::uint64_t>(off);
          s.percpu = true;
        } else {
          s.address = base - 1 - static_cast<std::uint64_t>(static_cast<std::int64_t>(off));
        }
        break;
      }
    }
  }
  return out;
}

}  // namespace tlpstub::kernel
