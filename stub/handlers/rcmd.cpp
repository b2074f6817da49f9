// qRcmd,<hex command>  ("monitor ..."): the command's output streams as `O<hex>` packets while
// it runs; then OK. A failed command prints "error: <message>\n" as `O` text and still
// replies OK: gdb 13 turns an `Exx` reply into "Protocol error with Rcmd: xx.", which says
// nothing useful, while the message above already says what went wrong.
// A long command (Target::monitor_is_long: dump, bt, ps) runs through a LongRequest
// (stub/long_request.hpp): its output is held and sent only while gdb is known to wait, its
// last output is the reply itself, and when gdb moves on it stops and nothing is sent.
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

Reply long_monitor(Context& ctx, const std::string& command) {
  LongRequest lr(*ctx.input, [&ctx](std::string_view p) { ctx.send_packet(p); },
                 {.ack_mode = ctx.ack_mode, .peer = ctx.peer});
  const std::size_t queued = ctx.queued_events;
  ctx.output_attach_message_once([&lr](std::string_view t) { lr.output(t); });
  // Events already decoded behind the request are gdb's next packet: gone at once.
  auto stop = [&lr, queued] { return queued > 0 || lr.stop_requested(); };
  Result<void> r = ctx.target.monitor_long(
      command, [&lr](std::string_view text) { lr.output(text); }, stop);
  if (queued > 0 || lr.abandoned()) {
    ctx.drop_next_interrupt = true;
    spdlog::info("{}: monitor {} abandoned ({}): no reply sent{}", ctx.peer,
                 loggable_command(command),
                 queued > 0 ? "gdb sent its next request" : lr.why(),
                 r ? "" : "; the command ended: " + r.error().message);
    return Reply::none();
  }
  if (!r) {
    spdlog::warn("{}: monitor command failed: {}", ctx.peer, r.error().message);
    lr.output("error: " + r.error().message + "\n");
  }
  if (!lr.finish()) {
    ctx.drop_next_interrupt = true;
    spdlog::info("{}: monitor {} done, but gdb moved on ({}): no reply sent", ctx.peer,
                 loggable_command(command), lr.why());
  }
  return Reply::none();
}

Reply monitor(Context& ctx, std::string_view args) {
  auto command = from_hex(args);
  if (!command) return error_reply(command.error());
  // Who ran what: several engineers may share one target (and one log).
  spdlog::info("{}: monitor {}", ctx.peer, loggable_command(*command));
  if (ctx.input && ctx.target.monitor_is_long(*command)) return long_monitor(ctx, *command);
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
