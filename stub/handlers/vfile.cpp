// Host I/O (gdb manual, "Host I/O Packets"; facts/gdb-rsp.md): gdb reads the symbol file the
// target serves through these, because its sysroot defaults to `target:`. Read-only.
//   vFile:setfs:<pid>                -> F0 (one file system whatever the pid)
//   vFile:open:<hex path>,<flags>,<mode>
//                                    -> F<fd>; F-1,2 unknown path (gdb 13 first probes
//                                       "just probing"); F-1,30 (EROFS) for any write flag
//   vFile:pread:<fd>,<count>,<offset> -> F<n>;<n bytes> (binary, escaped by the framer); F0; at
//                                       or past the end; n shrinks so the escaped reply fits
//                                       our PacketSize; F-1,9 (EBADF) for an unknown fd
//   vFile:fstat:<fd>                 -> F40;<struct stat, 64 bytes big-endian> (fileio.h)
//   vFile:close:<fd>                 -> F0, or F-1,9
//   vFile:pwrite, vFile:unlink       -> F-1,30 (EROFS): nothing is ever written
//   vFile:readlink:<hex path>        -> F-1,22 for our files (not links), else F-1,2
// Malformed arguments get F-1,22 (EINVAL): a vFile reply is always an F reply. A target that
// serves no files answers every vFile: packet with an empty reply (unsupported).
#include <fmt/format.h>

#include <algorithm>

#include "stub/handlers/handler.hpp"

namespace tlpstub::stub {

namespace {

// include/gdb/fileio.h
constexpr int kEnoent = 2, kEio = 5, kEbadf = 9, kEinval = 22, kEmfile = 24, kErofs = 30;
constexpr std::uint64_t kOpenWriteFlags = 0x1 /*WRONLY*/ | 0x2 /*RDWR*/ | 0x8 /*APPEND*/ |
                                          0x200 /*CREAT*/ | 0x400 /*TRUNC*/ | 0x800 /*EXCL*/;
constexpr std::size_t kMaxOpenFiles = 32;
constexpr std::uint32_t kRegularReadOnly = 0100444;  // S_IFREG | r--r--r--

Reply f_error(int errnum) { return Reply::text(fmt::format("F-1,{:x}", errnum)); }

int errno_of(const Error& e) {
  switch (e.code) {
    case Errc::not_found: return kEnoent;
    case Errc::invalid_argument:
    case Errc::malformed: return kEinval;
    case Errc::unsupported: return kErofs;
    default: return kEio;  // busy, deadline, link errors: the file cannot be read now
  }
}

// Splits "a,b,c" into exactly `n` hex numbers.
Result<std::vector<std::uint64_t>> hex_args(std::string_view args, std::size_t n) {
  std::vector<std::uint64_t> out;
  while (out.size() < n) {
    std::size_t comma = args.find(',');
    auto v = parse_hex(args.substr(0, comma));
    if (!v) return std::unexpected(v.error());
    out.push_back(*v);
    if (comma == std::string_view::npos) break;
    args.remove_prefix(comma + 1);
    if (out.size() == n) return fail(Errc::malformed, "too many arguments");
  }
  if (out.size() != n) return fail(Errc::malformed, "too few arguments");
  return out;
}

Result<std::string> unhex(std::string_view hex) {
  if (hex.size() % 2) return fail(Errc::malformed, "odd hex length");
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    auto v = parse_hex(hex.substr(i, 2));
    if (!v) return std::unexpected(v.error());
    out.push_back(static_cast<char>(*v));
  }
  return out;
}

Target::FileBytes* find_fd(Context& ctx, std::uint64_t fd) {
  auto it = ctx.open_files.find(static_cast<std::int64_t>(fd));
  return it == ctx.open_files.end() ? nullptr : &it->second;
}

Reply setfs(Context&, std::string_view args) {
  if (!parse_hex(args)) return f_error(kEinval);
  return Reply::text("F0");
}

Reply open_file(Context& ctx, std::string_view args) {
  const std::size_t comma = args.find(',');
  if (comma == std::string_view::npos) return f_error(kEinval);
  auto path = unhex(args.substr(0, comma));
  auto flags_mode = hex_args(args.substr(comma + 1), 2);
  if (!path || !flags_mode) return f_error(kEinval);
  if ((*flags_mode)[0] & kOpenWriteFlags) return f_error(kErofs);
  if (ctx.open_files.size() >= kMaxOpenFiles) return f_error(kEmfile);
  auto bytes = ctx.target.open_file(*path);
  if (!bytes) return f_error(errno_of(bytes.error()));
  const std::int64_t fd = ctx.next_fd++;
  ctx.open_files[fd] = std::move(*bytes);
  return Reply::text(fmt::format("F{:x}", fd));
}

Reply pread(Context& ctx, std::string_view args) {
  auto a = hex_args(args, 3);
  if (!a) return f_error(kEinval);
  const auto [fd, count, offset] = std::tuple((*a)[0], (*a)[1], (*a)[2]);
  Target::FileBytes* f = find_fd(ctx, fd);
  if (!f) return f_error(kEbadf);
  const std::vector<std::uint8_t>& bytes = **f;
  if (offset >= bytes.size()) return Reply::text("F0;");
  const std::size_t want = std::min<std::uint64_t>(count, bytes.size() - offset);
  const std::size_t header = 32;  // "F<hex count>;" and framing
  const std::size_t room = ctx.packet_size > header ? ctx.packet_size - header : 1;
  const std::span<const std::uint8_t> part(bytes.data() + offset, want);
  const std::size_t n =
      escaped_fit(std::string_view(reinterpret_cast<const char*>(part.data()), part.size()), room);
  std::string payload = fmt::format("F{:x};", n);
  payload.append(reinterpret_cast<const char*>(part.data()), n);
  return Reply::text(std::move(payload));
}

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}

Reply fstat(Context& ctx, std::string_view args) {
  auto fd = parse_hex(args);
  if (!fd) return f_error(kEinval);
  Target::FileBytes* f = find_fd(ctx, *fd);
  if (!f) return f_error(kEbadf);
  // struct fio_stat: dev ino mode nlink uid gid rdev (u32), size blksize blocks (u64),
  // atime mtime ctime (u32); big-endian.
  const std::uint64_t size = (*f)->size();
  std::string st;
  put_be(st, 0, 4);
  put_be(st, static_cast<std::uint64_t>(*fd), 4);
  put_be(st, kRegularReadOnly, 4);
  put_be(st, 1, 4);
  put_be(st, 0, 4);
  put_be(st, 0, 4);
  put_be(st, 0, 4);
  put_be(st, size, 8);
  put_be(st, 4096, 8);
  put_be(st, (size + 511) / 512, 8);
  put_be(st, 0, 4);
  put_be(st, 0, 4);
  put_be(st, 0, 4);
  return Reply::text(fmt::format("F{:x};", st.size()) + st);
}

Reply close_file(Context& ctx, std::string_view args) {
  auto fd = parse_hex(args);
  if (!fd) return f_error(kEinval);
  if (!ctx.open_files.erase(static_cast<std::int64_t>(*fd))) return f_error(kEbadf);
  return Reply::text("F0");
}

Reply refuse_write(Context&, std::string_view) { return f_error(kErofs); }

Reply readlink(Context& ctx, std::string_view args) {
  auto path = unhex(args);
  if (!path) return f_error(kEinval);
  return f_error(ctx.target.open_file(*path) ? kEinval : kEnoent);
}

// A target that serves no files answers vFile: as unsupported (empty), so gdb reads local
// files instead ("remote target does not support file transfer").
template <Handler H>
Reply if_served(Context& ctx, std::string_view args) {
  return ctx.target.serves_files() ? H(ctx, args) : Reply::empty();
}

constexpr Route kVfileRoutes[] = {
    {"vFile:setfs", if_served<setfs>},         {"vFile:open", if_served<open_file>},
    {"vFile:pread", if_served<pread>},         {"vFile:fstat", if_served<fstat>},
    {"vFile:close", if_served<close_file>},    {"vFile:pwrite", if_served<refuse_write>},
    {"vFile:unlink", if_served<refuse_write>}, {"vFile:readlink", if_served<readlink>},
};

}  // namespace

std::span<const Route> vfile_routes() { return kVfileRoutes; }

}  // namespace tlpstub::stub
