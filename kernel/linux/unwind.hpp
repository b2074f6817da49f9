// Kernel stack traces of sleeping tasks, from the task's own stack and the kernel's ORC tables
// (kernel/linux/orc.hpp), with a frame-pointer walk where ORC has nothing (arch/x86/kernel/
// unwind_orc.c and unwind_frame.c describe both; shortened, not copied).
//
// The whole stack (task_struct.stack .. + THREAD_SIZE) is read once, so every later read is a
// bounds-checked look into that buffer. The trace starts at the switch frame
// (switch_frame.hpp): ip = ret_addr, sp = thread.sp + sizeof(inactive_task_frame), bp = saved
// rbp. One ORC step, for the entry in force at ip - 1 (at ip after a signal frame):
//   CFA  = sp + off (SP) | bp + off (BP) | *sp + off (SP_INDIRECT, 5.12+) | *(bp + off)
//          (BP_INDIRECT) | a register of the last full pt_regs (DX DI R10 R13)
//   CALL          ip = *(CFA - 8), sp = CFA
//   REGS          struct pt_regs at CFA: ip, sp (and bp) from it; user cs: the end
//   REGS_PARTIAL  iret frame (ip cs flags sp ss) at CFA
//   bp   = kept (UNDEFINED) | *(CFA + off) (PREV_SP) | *(bp + off) (BP)
//   END_OF_STACK: done. UNDEFINED, an unknown type or register: the trace stops with a note.
// Target memory is untrusted: sp must grow at every step (so a cycle cannot repeat), every
// address must lie in the stack, every ip in kernel text, and there are at most 64 frames.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "kernel/linux/orc.hpp"

namespace tlpstub::kernel {

// A copy of a task's stack: [base, base + bytes.size()).
struct StackImage {
  std::uint64_t base = 0;
  std::span<const std::uint8_t> bytes;
  bool contains(std::uint64_t va, std::uint64_t len) const {
    return va >= base && len <= bytes.size() && va - base <= bytes.size() - len;
  }
};

struct UnwindStart {
  std::uint64_t ip = 0, sp = 0, bp = 0;
  bool signal = false;  // ip is not a return address (a new task's ret_from_fork)
};

enum class FrameMethod { start, scan, orc, regs, frame_pointer };

struct StackFrame {
  std::uint64_t ip = 0, sp = 0;
  FrameMethod method = FrameMethod::start;  // how this frame's ip was found
};

struct StackTrace {
  std::vector<StackFrame> frames;  // innermost first
  bool complete = false;           // reached the end of the stack (or user mode)
  std::string end;                 // why it ended: "end of stack", "user mode", or the problem
  bool used_frame_pointers = false;
};

struct UnwindLimits {
  std::size_t max_frames = 64;
  std::size_t max_scan_candidates = 4096;  // a 16 KiB stack has 2048 words
};

// `orc` may be null (no ORC in this kernel): frame pointers only. `text_start..text_end`:
// where a return address may point.
StackTrace unwind_stack(const StackImage& stack, const OrcTable* orc, UnwindStart start,
                        std::uint64_t text_start, std::uint64_t text_end,
                        const UnwindLimits& lim = {});

// A task running on a CPU (or the one that panicked) saved no frame: its registers are in the
// CPU, not in memory. The stack is scanned from its lowest word up for a kernel-text value
// from which ORC unwinds cleanly to the end of the stack (user-mode registers or the ORC end
// marker): the first such word starts the trace, marked FrameMethod::scan. The frames from
// there up are the live chain (a clean ORC walk to the stack's end is hard to meet by
// chance), but the innermost ones may be left over from calls that have since returned into
// the live frames. Needs ORC. Bounded: one walk (<= max_frames steps) per candidate word,
// at most max_scan_candidates candidates. `plausible` may reject a candidate return address
// the caller knows better of (e.g. one whose ip - 1 is function padding, not a call).
StackTrace scan_stack(const StackImage& stack, const OrcTable& orc, std::uint64_t text_start,
                      std::uint64_t text_end, const UnwindLimits& lim = {},
                      const std::function<bool(std::uint64_t)>& plausible = {});

std::string_view frame_method_name(FrameMethod m);

}  // namespace tlpstub::kernel
