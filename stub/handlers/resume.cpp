// Execution control on a target we can only observe. Each reply lets stock gdb 13 print a
// clear message and stay connected (tests/stub/gdb_e2e_test.cpp checks what it prints):
//   c, C, s, S, vCont;...  -> `O` "tlpstub: target is read-only, ..." then "T00thread:<id>;".
//                             gdb prints the text, then `Thread 1 "init" stopped.` and the
//                             frame. Signal 0, not 5: on a SIGTRAP gdb's `next`/`step` see
//                             an unfinished step (pc still in the line's range) and step
//                             again forever.
//   vCont?                 -> empty: gdb 13 falls back to Hc + c/s
//   Z, z                   -> empty ("unsupported"). `break`: gdb tries to write an int3,
//                             gets E1e, and `continue` prints "Cannot insert breakpoint 1.
//                             Cannot access memory at address ..." / "Command aborted." —
//                             hbreak/watch/rwatch/awatch: "Could not insert hardware
//                             breakpoints: You may have requested too many hardware
//                             breakpoints/watchpoints." — without ever sending `c`.
//   vRun, vAttach, R       -> E1e (extended-remote only; gdb 13 never sends them otherwise)
//   QAllow...              -> empty (the default for unknown packets)
#include "stub/handlers/handler.hpp"

namespace tlpstub::stub {

namespace {

constexpr std::string_view kNoExecution =
    "tlpstub: target is read-only, execution control is not available\n";
constexpr int kNoSignal = 0;

Reply refuse_resume(Context& ctx, std::int64_t thread) {
  ctx.output_attach_message_once();
  ctx.output(kNoExecution);
  return Reply::text(ctx.stop_reply(kNoSignal, thread));
}

// gdb names no thread for c/C: report the thread that stopped last.
Reply refuse_continue(Context& ctx, std::string_view) {
  return refuse_resume(ctx, ctx.stop_thread());
}

// gdb 13 selects the stepped thread with Hg before s/S.
Reply refuse_step(Context& ctx, std::string_view) {
  return refuse_resume(ctx, ctx.current_thread());
}

// vCont;<action>[:<thread>]...: a step names the thread that would stop.
Reply refuse_vcont(Context& ctx, std::string_view args) {
  std::int64_t thread = ctx.stop_thread();
  std::size_t pos = 0;
  while (pos <= args.size()) {
    std::size_t end = std::min(args.find(';', pos), args.size());
    std::string_view action = args.substr(pos, end - pos);
    if (!action.empty() && (action[0] == 's' || action[0] == 'S')) {
      std::size_t colon = action.find(':');
      auto id = colon == std::string_view::npos ? Result<std::int64_t>(ctx.current_thread())
                                                : parse_thread_id(action.substr(colon + 1));
      if (id && *id > 0) thread = *id;
      break;
    }
    pos = end + 1;
  }
  return refuse_resume(ctx, thread);
}

Reply resume_unsupported(Context&, std::string_view) { return Reply::empty(); }

Reply refuse(Context&, std::string_view) {
  return error_reply(Errc::unsupported, "target is read-only");
}

constexpr Route kResumeRoutes[] = {
    {"c", refuse_continue, true}, {"C", refuse_continue, true}, {"s", refuse_step, true},
    {"S", refuse_step, true},     {"vCont", refuse_vcont},      {"vCont?", resume_unsupported},
    {"Z", resume_unsupported, true}, {"z", resume_unsupported, true},     {"vRun", refuse},
    {"vAttach", refuse},          {"R", refuse, true},
};

}  // namespace

std::span<const Route> resume_routes() { return kResumeRoutes; }

}  // namespace tlpstub::stub
