// Thread packets. Thread ids are the target's (positive, hex on the wire); 0 = any, -1 = all.
//   qfThreadInfo / qsThreadInfo -> "m<id>,<id>..." in replies that fit, then "l"
//   qThreadExtraInfo,<id>       -> hex of the text `info threads` shows
//   qC                          -> "QC<id>"
//   T<id>                       -> OK if alive, E02 if not
//   Hg<id> / Hc<id>             -> OK, or E02 for an unknown thread
#include <fmt/format.h>

#include <algorithm>

#include "stub/handlers/handler.hpp"

namespace tlpstub::stub {

namespace {

std::optional<ThreadInfo> find_thread(Context& ctx, std::int64_t id) {
  for (ThreadInfo& t : ctx.target.threads())
    if (t.id == id) return std::move(t);
  return std::nullopt;
}

Reply next_thread_chunk(Context& ctx) {
  if (ctx.thread_cursor >= ctx.thread_list.size()) return Reply::text("l");
  // Keep each reply short; gdb asks again with qsThreadInfo.
  const std::size_t limit = std::min<std::size_t>(ctx.packet_size, 4096) - 20;
  std::string out = "m";
  while (ctx.thread_cursor < ctx.thread_list.size()) {
    std::string id = fmt::format("{:x}", ctx.thread_list[ctx.thread_cursor]);
    if (out.size() > 1 && out.size() + 1 + id.size() > limit) break;
    if (out.size() > 1) out += ',';
    out += id;
    ++ctx.thread_cursor;
  }
  return Reply::text(std::move(out));
}

Reply first_threads(Context& ctx, std::string_view) {
  ctx.thread_list.clear();
  for (const ThreadInfo& t : ctx.target.threads()) ctx.thread_list.push_back(t.id);
  ctx.thread_cursor = 0;
  return next_thread_chunk(ctx);
}

Reply more_threads(Context& ctx, std::string_view) { return next_thread_chunk(ctx); }

Reply extra_info(Context& ctx, std::string_view args) {
  auto id = parse_thread_id(args);
  if (!id) return error_reply(id.error());
  auto t = find_thread(ctx, *id);
  if (!t) return error_reply(Errc::not_found, "no such thread");
  return Reply::text(hex_of(t->extra));
}

Reply current(Context& ctx, std::string_view) {
  return Reply::text(fmt::format("QC{:x}", ctx.current_thread()));
}

Reply alive(Context& ctx, std::string_view args) {
  auto id = parse_thread_id(args);
  if (!id) return error_reply(id.error());
  if (*id <= 0 || !find_thread(ctx, *id)) return error_reply(Errc::not_found, "no such thread");
  return Reply::ok();
}

// H<op><id>: op 'g' selects the thread for g/p/m, 'c' (and the obsolete others) for resuming.
Reply select_thread(Context& ctx, std::string_view args) {
  if (args.empty()) return error_reply(Errc::malformed, "H without operation");
  auto id = parse_thread_id(args.substr(1));
  if (!id) return error_reply(id.error());
  if (*id > 0 && !find_thread(ctx, *id)) return error_reply(Errc::not_found, "no such thread");
  if (args[0] == 'g')
    ctx.general_thread = *id;
  else
    ctx.continue_thread = *id;
  return Reply::ok();
}

constexpr Route kThreadRoutes[] = {
    {"qfThreadInfo", first_threads},
    {"qsThreadInfo", more_threads},
    {"qThreadExtraInfo", extra_info},
    {"qC", current},
    {"T", alive, true},
    {"H", select_thread, true},
};

}  // namespace

std::span<const Route> thread_routes() { return kThreadRoutes; }

}  // namespace tlpstub::stub
