// Memory packets.
//   m <addr hex> , <len hex>      -> hex bytes (run-length compressed); a short reply when the
//                                    tail is unreadable; E14 when nothing is; E01 if malformed
//   M <addr>,<len>:<hex>  X <addr>,<len>:<binary>   -> E1e, the target is read-only
#include <algorithm>
#include <limits>
#include <vector>

#include "common/parse.hpp"
#include "stub/handlers/handler.hpp"

namespace tlpstub::stub {

namespace {

struct MemRange {
  std::uint64_t addr;
  std::uint64_t len;
};

Result<MemRange> parse_range(std::string_view args) {
  std::size_t comma = args.find(',');
  if (comma == std::string_view::npos) return fail(Errc::malformed, "expected ADDR,LENGTH");
  auto addr = parse_hex(args.substr(0, comma));
  auto len = parse_hex(args.substr(comma + 1));
  if (!addr) return std::unexpected(addr.error());
  if (!len) return std::unexpected(len.error());
  return MemRange{*addr, *len};
}

Reply read_memory(Context& ctx, std::string_view args) {
  auto range = parse_range(args);
  if (!range) return error_reply(range.error());
  // Two hex digits per byte must fit our packet size; never wrap past the top of memory.
  std::uint64_t len = std::min<std::uint64_t>(range->len, ctx.packet_size / 2);
  if (range->addr != 0)
    len = std::min(len, std::numeric_limits<std::uint64_t>::max() - range->addr + 1);
  if (len == 0) return Reply::hex({});
  std::vector<std::uint8_t> buf(len);
  MemoryReadResult r = ctx.target.read_memory(range->addr, buf);
  std::size_t got = std::min(r.bytes_read, buf.size());
  if (got == 0)
    return error_reply(r.fault.value_or(Error{Errc::unbacked, "nothing readable", range->addr}));
  return Reply::hex(to_hex(buf.data(), got));
}

// gdb 13 shows "Cannot access memory at address 0x..." for an error reply to M or X.
Reply write_memory(Context&, std::string_view) {
  return error_reply(Errc::unsupported, "target is read-only");
}

constexpr Route kMemoryRoutes[] = {
    {"m", read_memory, true},
    {"M", write_memory, true},
    {"X", write_memory, true},
};

}  // namespace

std::span<const Route> memory_routes() { return kMemoryRoutes; }

}  // namespace tlpstub::stub
