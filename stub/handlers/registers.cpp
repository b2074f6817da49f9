// Register packets, in the layout of stub/target_xml.hpp.
//   g          -> every register in remote-number order, little-endian hex; "xx" per byte of
//                 a register we cannot know (gdb shows <unavailable>)
//   p <n hex>  -> one register; E16 for a number we do not describe
//   G, P       -> E1e, read-only. gdb 13: `set $rax = 1` prints
//                 Could not write register "rax"; remote failure reply 'E1e'
#include <fmt/format.h>

#include <string>

#include "stub/handlers/handler.hpp"
#include "stub/target_xml.hpp"

namespace tlpstub::stub {

namespace {

std::string register_hex(const WireRegister& w, const RegisterSet& regs) {
  const std::size_t bytes = static_cast<std::size_t>(w.bits / 8);
  std::optional<std::uint64_t> v;
  if (w.reg) v = regs.value[static_cast<int>(*w.reg)];
  if (!v) return std::string(2 * bytes, 'x');
  std::string out;  // little-endian
  for (std::size_t i = 0; i < bytes; ++i)
    out += fmt::format("{:02x}", i < 8 ? (*v >> (8 * i)) & 0xff : 0);
  return out;
}

Reply read_registers(Context& ctx, std::string_view) {
  auto regs = ctx.target.registers(ctx.current_thread());
  if (!regs) return error_reply(regs.error());
  std::string out;
  for (const WireRegister& w : wire_registers()) out += register_hex(w, *regs);
  return Reply::hex(std::move(out));
}

Reply read_register(Context& ctx, std::string_view args) {
  auto n = parse_hex(args);
  if (!n) return error_reply(n.error());
  if (*n >= wire_registers().size()) return error_reply(Errc::invalid_argument, "no such register");
  auto regs = ctx.target.registers(ctx.current_thread());
  if (!regs) return error_reply(regs.error());
  return Reply::hex(register_hex(wire_registers()[*n], *regs));
}

Reply write_registers(Context&, std::string_view) {
  return error_reply(Errc::unsupported, "target is read-only");
}

constexpr Route kRegisterRoutes[] = {
    {"g", read_registers, true},
    {"p", read_register, true},
    {"G", write_registers, true},
    {"P", write_registers, true},
};

}  // namespace

std::span<const Route> register_routes() { return kRegisterRoutes; }

}  // namespace tlpstub::stub
