// What the RSP server needs from a target (design.md: stub/ knows RSP and gdb, nothing of
// NetTLP or Linux internals). One Target object exists per gdb connection, so every client has
// its own state (address space, selected thread, physical mode).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/deadline.hpp"
#include "common/error.hpp"

namespace tlpstub::stub {

// Result of a memory read: how many bytes from the start were read. If fewer than asked,
// `fault` says why the first unread byte could not be read.
struct MemoryReadResult {
  std::size_t bytes_read = 0;
  std::optional<Error> fault;
};

// x86-64 register numbers in the order of our target.xml (gdb's amd64 numbering for the core
// set; the system registers follow).
enum class Reg : int {
  rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp,
  r8, r9, r10, r11, r12, r13, r14, r15,
  rip, eflags, cs, ss, ds, es, fs, gs,
  // 24..: org.gnu.gdb.i386.linux-free system set we describe ourselves
  fs_base, gs_base, cr0, cr2, cr3, cr4,
  count
};
inline constexpr int kRegCount = static_cast<int>(Reg::count);
// Size in bytes of each register on the wire.
int reg_size(Reg r);

// A register file where each register is either known or unavailable (sent as "xx").
struct RegisterSet {
  std::optional<std::uint64_t> value[kRegCount];
  void set(Reg r, std::uint64_t v) { value[static_cast<int>(r)] = v; }
};

// gdb thread ids are positive; 0 = any and -1 = all are reserved by the protocol.
struct ThreadInfo {
  std::int64_t id = 1;
  std::string name;   // short name, qXfer:threads name= attribute
  std::string extra;  // qThreadExtraInfo text ("pid 1 init")
};

struct SectionOffsets {
  std::uint64_t text = 0, data = 0, bss = 0;
};

// Sink for streamed monitor output: each call becomes an `O` packet at once (a long
// command's is buffered: stub/long_request.hpp).
using OutputFn = std::function<void(std::string_view text)>;
// A long monitor command calls this between its steps: true once gdb moved on (its next
// request, a ^C, or a closed connection is waiting), and the command should stop.
using StopFn = std::function<bool()>;

class Target {
 public:
  virtual ~Target() = default;

  // Reads memory at addr in the current address space (virtual, or physical in phys mode).
  virtual MemoryReadResult read_memory(std::uint64_t addr, std::span<std::uint8_t> out) = 0;

  // Threads; at least one. The session selects among them with Hg/Hc.
  virtual std::vector<ThreadInfo> threads() = 0;
  virtual Result<RegisterSet> registers(std::int64_t thread_id) = 0;

  // Relocation of a symbol file loaded in gdb (KASLR slide), if known.
  virtual std::optional<SectionOffsets> offsets() { return std::nullopt; }

  // Runs a monitor command line (already hex-decoded). Output streams through `out`.
  // An error result is shown to the user as an error after any streamed output.
  virtual Result<void> monitor(std::string_view command, const OutputFn& out) = 0;
  // A long command runs with no reply deadline, for as long as it takes, and checks
  // `stop` between steps (stub/long_request.hpp says how gdb is kept waiting meanwhile).
  virtual bool monitor_is_long(std::string_view command) {
    (void)command;
    return false;
  }
  virtual Result<void> monitor_long(std::string_view command, const OutputFn& out,
                                    const StopFn& stop) {
    (void)stop;
    return monitor(command, out);
  }

  // Called before each request from gdb: the target is live, so caches must not outlive it.
  // The reply is due by `deadline` (under gdb's remotetimeout): reads stop there and return
  // what they have (a short `m` reply), monitor commands give up with a clear error.
  virtual void begin_request(Deadline deadline) { (void)deadline; }

  // Files served to gdb, read-only (qXfer:exec-file:read and vFile:). A target that
  // serves_files() names its executable (busy while it is being made: gdb then proceeds
  // without one) and opens files by path (not_found for anything else).
  using FileBytes = std::shared_ptr<const std::vector<std::uint8_t>>;
  virtual bool serves_files() const { return false; }
  virtual Result<std::string> exec_file() { return fail(Errc::unsupported, "no files served"); }
  virtual Result<FileBytes> open_file(std::string_view path) {
    (void)path;
    return fail(Errc::not_found, "no files served");
  }

  // Text to show once when gdb attaches (e.g. "discovery still running").
  virtual std::string attach_message() { return {}; }
};

}  // namespace tlpstub::stub
