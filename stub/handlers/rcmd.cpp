// qRcmd,<hex command>  ("monitor ..."): the command's output streams as `O<hex>` packets while
// it runs; then OK. A failed command prints "error: <message>\n" as `O` text and still
// replies OK: gdb 13 turns an `Exx` reply into "Protocol error with Rcmd: xx.", which says
// nothing useful, while the message above already says what went wrong.
#include <spdlog/spdlog.h>

#include "common/parse.hpp"
#include "stub/handlers/handler.hpp"

namespace tlpstub::stub {

namespace {

// The command as one log line: a client must not be able to forge log lines with newlines or
// fill the log with one huge command.
std::string loggable_command(std::string_view cmd) {
  constexpr std::size_t kMax = 200;
  std::string out;
  for (char ch : cmd.substr(0, kMax)) out += (ch >= 0x20 && ch < 0x7f) ? ch : '?';
  if (cmd.size() > kMax) out += "...";
  return out;
}

Reply monitor(Context& ctx, std::string_view args) {
  auto command = from_hex(args);
  if (!command) return error_reply(command.error());
  // Who ran what: several engineers may share one target (and one log).
  spdlog::info("{}: monitor {}", ctx.peer, loggable_command(*command));
  ctx.output_attach_message_once();
  Result<void> r =
      ctx.target.monitor(*command, [&ctx](std::string_view text) { ctx.output(text); });
  if (!r) {
    spdlog::warn("{}: monitor command failed: {}", ctx.peer, r.error().message);
    ctx.output("error: " + r.error().message + "\n");
  }
  return Reply::ok();
}

constexpr Route kRcmdRoutes[] = {
    {"qRcmd", monitor},
};

}  // namespace

std::span<const Route> rcmd_routes() { return kRcmdRoutes; }

}  // namespace tlpstub::stub
