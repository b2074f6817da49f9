// Fuzzes the arguments of the file packets gdb sends (stub/handlers/vfile.cpp, qxfer.cpp)
// through a whole Session over a target that serves one file, names threads from the input,
// and may be busy making its executable.
//
//   input:  [config byte][thread name]\n[packet]\n[packet]\n...
//   config: bits 0-2 packet size (256 << n, 256 .. 32 KiB), bit 7 exec-file busy
//   packet: [selector][argument]; the selector (its low 7 bits modulo 12, kPackets) picks the
//           packet name (vFile:open, pread, ..., qXfer:features:read, threads, exec-file, or
//           none: the argument is the packet; exec-file is 22 in the corpus, as 10 is '\n');
//           selector bit 7 hex-encodes the argument up to its first ',' (vFile paths are hex,
//           so plain text in the input reaches the file lookup).
//
// Invariants, beyond no crash, sanitizer report or leak: one reply per packet; every reply
// fits the packet size we advertise; a vFile reply is always an F reply; pread returns exactly
// the file's bytes at the offset and makes progress while any remain; qXfer data is the
// document's bytes at the offset, 'l' exactly when they reach its end, and an empty 'm' only
// for a zero length.
#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "common/parse.hpp"
#include "stub/packet_codec.hpp"
#include "stub/session.hpp"
#include "stub/target.hpp"
#include "stub/target_xml.hpp"

namespace {

using namespace tlpstub;
using namespace tlpstub::stub;

constexpr std::string_view kPath = "/tlpstub/vmlinux-6.1.0-13-amd64-2a00000";

// Every byte value, the four that need escaping included.
std::shared_ptr<const std::vector<std::uint8_t>> served_bytes() {
  static const auto bytes = [] {
    auto v = std::make_shared<std::vector<std::uint8_t>>(3000);
    for (std::size_t i = 0; i < v->size(); ++i) (*v)[i] = static_cast<std::uint8_t>(i * 13 + 5);
    return v;
  }();
  return bytes;
}

class FilesTarget : public Target {
 public:
  FilesTarget(std::string thread_name, bool busy) : name_(std::move(thread_name)), busy_(busy) {}

  MemoryReadResult read_memory(std::uint64_t addr, std::span<std::uint8_t>) override {
    return {0, Error{Errc::unbacked, "no memory", addr}};
  }
  std::vector<ThreadInfo> threads() override {
    return {{1, "init", "pid 1"}, {2, name_, name_}, {0x7fffffffffffffff, "}*$#<&>", "x"}};
  }
  Result<RegisterSet> registers(std::int64_t) override { return RegisterSet{}; }
  Result<void> monitor(std::string_view, const OutputFn&) override { return {}; }
  bool serves_files() const override { return true; }
  Result<std::string> exec_file() override {
    if (busy_) return fail(Errc::busy, "still writing the symbol file");
    return std::string(kPath);
  }
  Result<FileBytes> open_file(std::string_view path) override {
    if (path != kPath) return fail(Errc::not_found, "no such file");
    return served_bytes();
  }

 private:
  std::string name_;
  bool busy_;
};

enum class Kind { setfs, open, pread, fstat, close, pwrite, unlink, readlink, features, threads,
                  exec_file, raw };
struct Packet {
  std::string_view name;
  Kind kind;
};
constexpr Packet kPackets[] = {
    {"vFile:setfs:", Kind::setfs},         {"vFile:open:", Kind::open},
    {"vFile:pread:", Kind::pread},         {"vFile:fstat:", Kind::fstat},
    {"vFile:close:", Kind::close},         {"vFile:pwrite:", Kind::pwrite},
    {"vFile:unlink:", Kind::unlink},       {"vFile:readlink:", Kind::readlink},
    {"qXfer:features:read:", Kind::features}, {"qXfer:threads:read:", Kind::threads},
    {"qXfer:exec-file:read:", Kind::exec_file}, {"", Kind::raw},
};

void check(bool ok, int line = __builtin_LINE()) {
  if (ok) return;
  std::fprintf(stderr, "vfile_qxfer_fuzz.cpp:%d: invariant broken\n", line);
  std::abort();
}

// Strict hex, as the protocol writes numbers: the oracle's own reading of an argument.
std::optional<std::uint64_t> hex(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// "a,b,c" as exactly three hex numbers.
std::optional<std::vector<std::uint64_t>> three_hex(std::string_view s) {
  std::vector<std::uint64_t> out;
  for (std::size_t i = 0; i < 3; ++i) {
    const std::size_t comma = s.find(',');
    if ((i < 2) != (comma != std::string_view::npos)) return std::nullopt;
    auto v = hex(s.substr(0, comma));
    if (!v) return std::nullopt;
    out.push_back(*v);
    s.remove_prefix(i < 2 ? comma + 1 : s.size());
  }
  return out;
}

// A qXfer reply's data must be doc[offset, offset + n): 'l' iff that reaches the end.
void check_xfer(std::string_view reply, std::string_view args, std::string_view doc) {
  if (reply.empty() || reply[0] == 'E') return;
  check(reply[0] == 'm' || reply[0] == 'l');
  const std::size_t colon = args.rfind(':'), comma = args.rfind(',');
  check(colon != std::string_view::npos && comma != std::string_view::npos && comma > colon);
  auto off = hex(args.substr(colon + 1, comma - colon - 1));
  auto len = hex(args.substr(comma + 1));
  check(off && len && *off <= doc.size());
  const std::string_view data = reply.substr(1);
  check(data.size() <= *len && data == doc.substr(*off, data.size()));
  check((reply[0] == 'l') == (*off + data.size() == doc.size()));
  check(reply[0] == 'l' || !data.empty() || *len == 0);  // progress when asked for bytes
}

class Driver {
 public:
  Driver(std::string name, bool busy, std::size_t packet_size)
      : target_(std::move(name), busy),
        packet_size_(packet_size),
        replies_(1 << 20),
        session_(
            target_, [this](std::string_view b) { sent_.append(b); },
            SessionOptions{.packet_size = packet_size, .peer = "fuzz"}) {
    ask("QStartNoAckMode");
    // The threads document as gdb reads it: parts from offset 0 until 'l'.
    for (std::string part; part.empty() || part[0] == 'm';) {
      part = ask(fmt::format("qXfer:threads:read::{:x},{:x}", threads_xml_.size(), packet_size))
                 .value_or("E");
      check(part[0] == 'm' || part[0] == 'l');
      check(part.size() > 1);
      threads_xml_ += part.substr(1);
    }
  }

  void run(const Packet& p, std::string_view arg) {
    auto got = ask(std::string(p.name) + std::string(arg), p.kind != Kind::raw);
    if (!got) return;
    const std::string& r = *got;
    switch (p.kind) {
      case Kind::raw: return;
      case Kind::features: return check_xfer(r, arg, target_xml());
      case Kind::exec_file: return check_xfer(r, arg, kPath);
      case Kind::threads: return check_xfer(r, arg, threads_xml_);
      default: break;
    }
    check(!r.empty() && r[0] == 'F');  // a vFile reply is always an F reply
    if (p.kind == Kind::open && r.find(',') == std::string::npos) {
      auto fd = hex(std::string_view(r).substr(1));
      check(fd && !open_.contains(*fd));
      open_.insert(*fd);
    } else if (p.kind == Kind::close) {
      auto fd = hex(arg);
      if (fd && open_.erase(*fd)) check(r == "F0");
    } else if (p.kind == Kind::pread) {
      check_pread(r, arg);
    }
  }

 private:
  // Sends one packet; returns its reply payload. `one_reply`: exactly one must come (any
  // packet may stream `O` text first, or close the session).
  std::optional<std::string> ask(std::string_view payload, bool one_reply = true) {
    const std::string frame = rsp_frame(payload);
    if (session_.closed() || frame.size() - 4 > packet_size_) return std::nullopt;
    sent_.clear();
    session_.feed(std::span(reinterpret_cast<const std::uint8_t*>(frame.data()), frame.size()));
    std::vector<std::string> payloads;
    for (std::size_t at = sent_.find('$'); at != std::string::npos; at = sent_.find('$', at)) {
      const std::size_t hash = sent_.find('#', at);
      check(hash != std::string::npos && hash + 3 <= sent_.size());
      check(hash - at - 1 <= packet_size_);  // the escaped payload fits our PacketSize
      for (RspEvent& ev : replies_.feed(std::string_view(sent_).substr(at, hash + 3 - at))) {
        check(ev.kind == RspEvent::Kind::packet);
        payloads.push_back(std::move(ev.payload));
      }
      at = hash + 3;
    }
    if (!one_reply || payloads.empty()) {
      check(!one_reply || session_.closed());
      return std::nullopt;
    }
    check(payloads.size() == 1);
    return std::move(payloads[0]);
  }

  void check_pread(std::string_view r, std::string_view arg) {
    auto a = three_hex(arg);
    if (!a || !open_.contains((*a)[0])) return check(r.starts_with("F-1,"));
    const auto& file = *served_bytes();
    const std::uint64_t count = (*a)[1], offset = (*a)[2];
    const std::size_t semi = r.find(';');
    check(semi != std::string_view::npos);
    auto n = hex(r.substr(1, semi - 1));
    const std::string_view data = r.substr(semi + 1);
    check(n && *n == data.size() && *n <= count);
    if (offset >= file.size()) return check(*n == 0);
    check(count == 0 || *n > 0);  // progress: gdb reads until it gets 0 bytes
    check(std::memcmp(data.data(), file.data() + offset, data.size()) == 0);
  }

  FilesTarget target_;
  std::size_t packet_size_;
  Decoder replies_;
  std::string sent_;
  Session session_;
  std::set<std::uint64_t> open_;
  std::string threads_xml_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t packet_size = std::size_t{256} << (data[0] % 8);
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::size_t nl = std::min(rest.find('\n'), rest.size());
  Driver d(std::string(rest.substr(0, nl)), data[0] & 0x80, packet_size);
  rest.remove_prefix(std::min(nl + 1, rest.size()));
  while (!rest.empty()) {
    nl = std::min(rest.find('\n'), rest.size());
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(std::min(nl + 1, rest.size()));
    if (line.empty()) continue;
    const auto sel = static_cast<std::uint8_t>(line[0]);
    const Packet& p = kPackets[(sel & 0x7f) % std::size(kPackets)];
    std::string arg(line.substr(1));
    if (sel & 0x80) {
      const std::size_t comma = std::min(arg.find(','), arg.size());
      arg = to_hex(reinterpret_cast<const std::uint8_t*>(arg.data()), comma) + arg.substr(comma);
    }
    d.run(p, arg);
  }
  return 0;
}
