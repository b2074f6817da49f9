// Connection setup and general queries.
//   qSupported:<gdb features>   -> what we do (nothing about resuming, breakpoints, writes)
//   vMustReplyEmpty, qTStatus   -> empty (the catch-all reply for every unknown packet)
//   QStartNoAckMode             -> OK, then no more acks either way
//   ?                           -> T05thread:<id>;   (gdb sees a stopped target)
//   qAttached -> 1 (gdb detaches, never kills, on quit)   qSymbol:: -> OK
//   qOffsets  -> Text=<hex>;Data=<hex>;Bss=<hex>, or empty when the target has no offsets
//   D -> OK, then the session closes       k / vKill -> the session closes
#include <fmt/format.h>

#include "stub/handlers/handler.hpp"

namespace tlpstub::stub {

namespace {

Reply supported(Context& ctx, std::string_view) {
  return Reply::text(
      fmt::format("PacketSize={:x};qXfer:features:read+;qXfer:threads:read+;QStartNoAckMode+{}",
                  ctx.packet_size, ctx.target.serves_files() ? ";qXfer:exec-file:read+" : ""));
}

Reply unsupported(Context&, std::string_view) { return Reply::empty(); }

Reply start_no_ack(Context&, std::string_view) {
  Reply r = Reply::ok();
  r.start_no_ack = true;
  return r;
}

Reply halt_reason(Context& ctx, std::string_view) {
  return Reply::text(ctx.stop_reply(5, ctx.stop_thread()));
}

Reply attached(Context&, std::string_view) { return Reply::text("1"); }

Reply symbol(Context&, std::string_view) { return Reply::ok(); }

Reply offsets(Context& ctx, std::string_view) {
  auto o = ctx.target.offsets();
  if (!o) return Reply::empty();
  return Reply::text(fmt::format("Text={:x};Data={:x};Bss={:x}", o->text, o->data, o->bss));
}

Reply detach(Context&, std::string_view) {
  Reply r = Reply::ok();
  r.close = true;
  return r;
}

Reply kill(Context&, std::string_view) {
  Reply r = Reply::none();
  r.close = true;
  return r;
}

Reply kill_v(Context&, std::string_view) {
  Reply r = Reply::ok();
  r.close = true;
  return r;
}

constexpr Route kQueryRoutes[] = {
    {"qSupported", supported}, {"vMustReplyEmpty", unsupported},
    {"qTStatus", unsupported}, {"QStartNoAckMode", start_no_ack},
    {"?", halt_reason, true},  {"qAttached", attached},
    {"qSymbol", symbol},       {"qOffsets", offsets},
    {"D", detach, true},       {"k", kill, true},
    {"vKill", kill_v},
};

}  // namespace

std::span<const Route> query_routes() { return kQueryRoutes; }

}  // namespace tlpstub::stub
