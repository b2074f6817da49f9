// Error replies, shared parsing helpers and the route lookup.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <charconv>

#include "common/parse.hpp"
#include "stub/handlers/handler.hpp"

namespace tlpstub::stub {

namespace {

// Errno-style numbers, as gdbserver uses them. gdb 13 only checks that a reply is "Exx"; the
// number is for people reading `set debug remote 1` and for scripts.
int wire_code(Errc code) {
  switch (code) {
    case Errc::unbacked:
    case Errc::completer_abort:
    case Errc::unsupported_request:
    case Errc::not_present:
    case Errc::non_canonical:
      return 0x14;  // EFAULT: the address cannot be read
    case Errc::timeout:
    case Errc::unreachable:
    case Errc::io:
      return 0x05;  // EIO: the link failed, the address may be fine
    case Errc::invalid_argument:
      return 0x16;  // EINVAL
    case Errc::malformed:
      return 0x01;  // the packet does not parse
    case Errc::not_found:
      return 0x02;  // ENOENT: no such thread / annex
    case Errc::unsupported:
      return 0x1e;  // EROFS: the target is read-only
    case Errc::busy:
    case Errc::deadline:
      return 0x0b;  // EAGAIN: ask again
  }
  return 0x01;
}

}  // namespace

Reply error_reply(const Error& e) {
  // Unmapped addresses are routine (gdb probes around every pointer); a failing link is not.
  const bool link = e.code == Errc::timeout || e.code == Errc::unreachable ||
                    e.code == Errc::completer_abort || e.code == Errc::unsupported_request ||
                    e.code == Errc::io;
  spdlog::log(link ? spdlog::level::warn : spdlog::level::debug, "error reply: {}: {}",
              errc_name(e.code), e.message);
  return Reply::text(fmt::format("E{:02x}", wire_code(e.code)));
}

Reply error_reply(Errc code, std::string message) {
  return error_reply(Error{code, std::move(message)});
}

Result<std::uint64_t> parse_hex(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size())
    return fail(Errc::malformed, fmt::format("bad hex number '{}'", s));
  return v;
}

Result<std::int64_t> parse_thread_id(std::string_view s) {
  if (s == "-1") return -1;
  auto v = parse_hex(s);
  if (!v) return std::unexpected(v.error());
  if (*v > static_cast<std::uint64_t>(INT64_MAX))
    return fail(Errc::malformed, fmt::format("thread id out of range '{}'", s));
  return static_cast<std::int64_t>(*v);
}

std::string hex_of(std::string_view bytes) {
  return to_hex(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

std::size_t escaped_fit(std::string_view data, std::size_t room) {
  std::size_t used = 0, n = 0;
  for (; n < data.size(); ++n) {
    const char c = data[n];
    const std::size_t w = (c == '$' || c == '#' || c == '}' || c == '*') ? 2 : 1;
    if (used + w > room) break;
    used += w;
  }
  return n;
}

namespace {

bool word_matches(std::string_view packet, std::string_view name) {
  if (!packet.starts_with(name)) return false;
  if (packet.size() == name.size()) return true;
  char sep = packet[name.size()];
  return sep == ':' || sep == ',' || sep == ';';
}

}  // namespace

const Route* find_route(std::string_view packet, std::string_view& args) {
  if (packet.empty()) return nullptr;
  static const std::array<std::span<const Route>, 8> families = {
      memory_routes(), register_routes(), thread_routes(), query_routes(),
      qxfer_routes(),  rcmd_routes(),     resume_routes(), vfile_routes()};
  const bool word = packet[0] == 'q' || packet[0] == 'Q' || packet[0] == 'v';
  const Route* best = nullptr;
  for (std::span<const Route> family : families)
    for (const Route& r : family) {
      if (r.letter == word) continue;
      bool match = r.letter ? packet[0] == r.name[0] : word_matches(packet, r.name);
      if (match && (!best || r.name.size() > best->name.size())) best = &r;
    }
  if (best) {
    args = packet.substr(best->name.size());
    if (!best->letter && !args.empty()) args.remove_prefix(1);
  }
  return best;
}

}  // namespace tlpstub::stub
