// What every packet handler sees: the target, the per-connection protocol state, and a way to
// stream `O` console output. A handler parses its packet's arguments and returns one Reply;
// the Session frames, logs and sends it. One file per packet family registers its routes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "stub/long_request.hpp"
#include "stub/target.hpp"

namespace tlpstub::stub {

struct Reply {
  enum class Kind { packet, none };
  Kind kind = Kind::packet;
  std::string payload;
  bool rle = false;           // compress (hex data)
  bool close = false;         // end the session once sent
  bool start_no_ack = false;  // QStartNoAckMode: no acks after this reply

  static Reply text(std::string payload) { return {Kind::packet, std::move(payload)}; }
  static Reply hex(std::string payload) { return {Kind::packet, std::move(payload), true}; }
  static Reply ok() { return text("OK"); }
  static Reply empty() { return text({}); }  // "unsupported"
  static Reply none() { return {Kind::none, {}}; }
};

// The one place where errors become wire replies (see handlers/reply.cpp for the codes).
Reply error_reply(const Error& e);
Reply error_reply(Errc code, std::string message = {});

// Protocol state of one connection, and the services handlers may use.
class Context {
 public:
  using PacketFn = std::function<void(std::string_view payload)>;
  Context(Target& target, std::size_t packet_size, PacketFn send_packet);

  Target& target;
  const std::size_t packet_size;
  std::string peer = "gdb";  // the client's address, for logs

  // Hg / Hc selections; 0 = any (the default thread), -1 = all.
  std::int64_t general_thread = 0;
  std::int64_t continue_thread = -1;
  // qfThreadInfo snapshot that qsThreadInfo continues.
  std::vector<std::int64_t> thread_list;
  std::size_t thread_cursor = 0;
  // qXfer:threads:read document, built at offset 0 and reused for later offsets.
  std::string threads_xml;
  // vFile: files this connection has open, by descriptor (handlers/vfile.cpp).
  std::map<std::int64_t, Target::FileBytes> open_files;
  std::int64_t next_fd = 3;
  // The exec-file path, fetched at offset 0 and reused for later offsets of one transfer.
  std::string exec_file_path;
  // Set by the Session for each packet: the connection's unread input (null in tests that
  // give none: long commands then run to their end), whether acks are still on, and how
  // many events the session has already decoded behind this packet (gdb's next request).
  InputProbe* input = nullptr;
  bool ack_mode = true;
  std::size_t queued_events = 0;
  // A long command was abandoned: a ^C the session decodes next belongs to it (no stop
  // reply).
  bool drop_next_interrupt = false;

  // The thread `g` and `p` read: the last Hg, else the default (first) thread.
  std::int64_t current_thread();
  // The thread a stop reply names when gdb did not say which thread runs: the Hc thread if
  // gdb named one, else the one we reported last (at first, the default thread).
  std::int64_t stop_thread();
  // "T<sig>thread:<id>;". gdb assumes that a stop reply also selects that thread for g/p
  // (gdb 13 remote.c, record_currthread), so this sets the general thread too.
  std::string stop_reply(int signal, std::int64_t thread);
  // Sends text to the gdb console now, as `O` packets that fit the packet size.
  void output(std::string_view text);
  // Sends one packet now (a long request's own replies).
  void send_packet(std::string_view payload) { send_packet_(payload); }
  // Shows target.attach_message() the first time gdb can print console text (a monitor
  // command or a refused resume): gdb 13 accepts `O` packets only then.
  void output_attach_message_once();
  // The same, through `out` (a long request's buffer).
  void output_attach_message_once(const std::function<void(std::string_view)>& out);

 private:
  PacketFn send_packet_;
  std::int64_t default_thread();
  std::optional<std::int64_t> default_thread_;
  std::optional<std::int64_t> last_stop_thread_;
  bool attach_message_shown_ = false;
};

using Handler = Reply (*)(Context& ctx, std::string_view args);

// A route matches a packet by name. `letter` routes are one-character commands whose
// arguments follow directly ("m1000,4"); the others are q/Q/v words that end at ':', ',', ';'
// or the end of the packet ("qXfer:features:read:target.xml:0,fff"). `args` is what follows
// the name, without that one separator.
struct Route {
  std::string_view name;
  Handler fn;
  bool letter = false;
};

std::span<const Route> memory_routes();    // m M X
std::span<const Route> register_routes();  // g G p P
std::span<const Route> thread_routes();    // qfThreadInfo qsThreadInfo qThreadExtraInfo qC T H
std::span<const Route> query_routes();     // qSupported ? qAttached qOffsets qSymbol D k ...
std::span<const Route> qxfer_routes();     // qXfer:features:read qXfer:threads:read exec-file
std::span<const Route> vfile_routes();     // vFile:setfs open pread pwrite close fstat unlink
std::span<const Route> rcmd_routes();      // qRcmd
std::span<const Route> resume_routes();    // c C s S vCont Z z vRun vAttach R ...

// The route for a packet, or nullptr (→ empty reply). Sets `args`.
const Route* find_route(std::string_view packet, std::string_view& args);

// Parsing helpers shared by the families.
Result<std::uint64_t> parse_hex(std::string_view s);
// A thread id: hex, or -1.
Result<std::int64_t> parse_thread_id(std::string_view s);
std::string hex_of(std::string_view bytes);
// How many bytes from the start of `data` fit in `room` once escaped for the wire ('$', '#',
// '}' and '*' take two bytes): binary replies (qXfer parts, vFile:pread) must fit PacketSize.
std::size_t escaped_fit(std::string_view data, std::size_t room);

}  // namespace tlpstub::stub
