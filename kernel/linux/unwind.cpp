#include "kernel/linux/unwind.hpp"

#include <fmt/format.h>

#include <optional>

#include "common/bytes.hpp"

namespace tlpstub::kernel {

namespace {

// struct pt_regs (arch/x86/include/asm/ptrace.h, x86-64; unchanged since 2.6.25, FRED's
// additions of 6.9 lie after ss): r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di orig_ax
// ip cs flags sp ss, 8 bytes each.
constexpr std::uint64_t kUnwindRegsBp = 32, kUnwindRegsR13 = 16, kUnwindRegsR10 = 56,
                        kUnwindRegsDx = 96, kUnwindRegsDi = 112, kUnwindRegsIp = 128,
                        kUnwindRegsSize = 168;
// The iret frame: ip cs flags sp ss.
constexpr std::uint64_t kUnwindIretCs = 8, kUnwindIretSp = 24, kUnwindIretSize = 40;

struct UnwindState {
  std::uint64_t ip = 0, sp = 0, bp = 0;
  bool signal = false;
  std::optional<std::uint64_t> full_regs;  // the last struct pt_regs with every register
};

class UnwindWalker {
 public:
  UnwindWalker(const StackImage& s, const OrcTable* orc, std::uint64_t t0, std::uint64_t t1)
      : stack_(s), orc_(orc), text0_(t0), text1_(t1) {}

  // One frame up. nullopt: the trace ends; out_.end/complete say why.
  std::optional<FrameMethod> step(UnwindState& st) {
    const std::uint64_t lookup = st.signal ? st.ip : st.ip - 1;
    const OrcEntry* e = orc_ ? orc_->find(lookup) : nullptr;
    if (!e) return frame_pointer_step(st);
    switch (e->type) {
      case OrcType::end_of_stack: return stop(true, "end of stack");
      case OrcType::undefined:
        return stop(false, fmt::format("no unwind data for {:#x} (ORC: undefined)", st.ip));
      case OrcType::unknown:
        return stop(false, fmt::format("unknown ORC entry type for {:#x}", st.ip));
      default: break;
    }
    std::uint64_t cfa = 0;
    if (!cfa_of(*e, st, cfa)) return std::nullopt;
    UnwindState next = st;
    FrameMethod how = FrameMethod::orc;
    if (e->type == OrcType::call) {
      if (!read(cfa - 8, next.ip)) return std::nullopt;
      next.sp = cfa;
      next.signal = false;
    } else {
      const bool full = e->type == OrcType::regs;
      const std::uint64_t iret = full ? cfa + kUnwindRegsIp : cfa;
      if (!stack_.contains(full ? cfa : iret, full ? kUnwindRegsSize : kUnwindIretSize))
        return stop(false, fmt::format("registers at {:#x} lie outside the task's stack", cfa));
      std::uint64_t cs = 0;
      if (!read(iret, next.ip) || !read(iret + kUnwindIretCs, cs) ||
          !read(iret + kUnwindIretSp, next.sp))
        return std::nullopt;
      if (cs & 3) return stop(true, "user mode");
      next.signal = true;
      next.full_regs = full ? std::optional(cfa) : std::nullopt;
      how = FrameMethod::regs;
    }
    switch (static_cast<OrcReg>(e->bp_reg)) {
      case OrcReg::undefined:
        if (e->type == OrcType::regs && !read(cfa + kUnwindRegsBp, next.bp)) return std::nullopt;
        break;
      case OrcReg::prev_sp:
        if (!read(cfa + static_cast<std::int64_t>(e->bp_offset), next.bp)) return std::nullopt;
        break;
      case OrcReg::bp:
        if (!read(st.bp + static_cast<std::int64_t>(e->bp_offset), next.bp)) return std::nullopt;
        break;
      default:
        return stop(false, fmt::format("ORC entry for {:#x}: bp from register {}", st.ip,
                                       e->bp_reg));
    }
    if (!advance(st, next)) return std::nullopt;
    return how;
  }

  StackTrace out_;

 private:
  std::optional<FrameMethod> stop(bool complete, std::string why) {
    out_.complete = complete;
    out_.end = std::move(why);
    return std::nullopt;
  }

  bool read(std::uint64_t va, std::uint64_t& v) {
    if (!stack_.contains(va, 8)) {
      stop(false, fmt::format("address {:#x} lies outside the task's stack [{:#x}, {:#x})", va,
                              stack_.base, stack_.base + stack_.bytes.size()));
      return false;
    }
    v = load_le64(stack_.bytes.data() + (va - stack_.base));
    return true;
  }

  bool cfa_of(const OrcEntry& e, const UnwindState& st, std::uint64_t& cfa) {
    const auto off = static_cast<std::int64_t>(e.sp_offset);
    std::uint64_t base = 0;
    auto reg = [&](std::uint64_t at, const char* name) {
      if (!st.full_regs) {
        stop(false, fmt::format("ORC entry for {:#x} needs {} (no saved registers)", st.ip, name));
        return false;
      }
      return read(*st.full_regs + at, base);
    };
    switch (static_cast<OrcReg>(e.sp_reg)) {
      case OrcReg::sp: base = st.sp; break;
      case OrcReg::bp: base = st.bp; break;
      case OrcReg::sp_indirect:  // 5.12+: *sp + off (call_on_stack's saved sp)
        if (!read(st.sp, base)) return false;
        break;
      case OrcReg::bp_indirect:
        if (!read(st.bp + off, cfa)) return false;
        return true;
      case OrcReg::dx: if (!reg(kUnwindRegsDx, "dx")) return false; break;
      case OrcReg::di: if (!reg(kUnwindRegsDi, "di")) return false; break;
      case OrcReg::r10: if (!reg(kUnwindRegsR10, "r10")) return false; break;
      case OrcReg::r13: if (!reg(kUnwindRegsR13, "r13")) return false; break;
      default:
        stop(false, fmt::format("ORC entry for {:#x}: unknown sp register {}", st.ip, e.sp_reg));
        return false;
    }
    cfa = base + off;
    return true;
  }

  // No ORC entry: the frame-pointer convention ([bp] = caller's bp, [bp+8] = return address),
  // as the kernel's ORC unwinder guesses too (5.2+), marked as such.
  std::optional<FrameMethod> frame_pointer_step(UnwindState& st) {
    out_.used_frame_pointers = true;
    if (st.bp & 1)
      return stop(false, fmt::format("frame pointer {:#x} encodes registers (not followed)", st.bp));
    UnwindState next = st;
    if (!read(st.bp, next.bp) || !read(st.bp + 8, next.ip)) return std::nullopt;
    next.sp = st.bp + 16;
    next.signal = false;
    next.full_regs.reset();
    if (!advance(st, next)) return std::nullopt;
    return FrameMethod::frame_pointer;
  }

  bool advance(UnwindState& st, const UnwindState& next) {
    if (next.sp <= st.sp) {
      stop(false, fmt::format("stack pointer {:#x} did not grow past {:#x} (a cycle or a "
                              "corrupt frame)", next.sp, st.sp));
      return false;
    }
    if (!stack_.contains(next.sp - 1, 1)) {
      stop(false, fmt::format("stack pointer {:#x} left the task's stack", next.sp));
      return false;
    }
    if (next.ip < text0_ || next.ip >= text1_) {
      stop(false, fmt::format("return address {:#x} is not kernel text", next.ip));
      return false;
    }
    st = next;
    return true;
  }

  const StackImage& stack_;
  const OrcTable* orc_;
  std::uint64_t text0_, text1_;
};

}  // namespace

std::string_view frame_method_name(FrameMethod m) {
  switch (m) {
    case FrameMethod::start: return "switch frame";
    case FrameMethod::scan: return "stack scan";
    case FrameMethod::orc: return "orc";
    case FrameMethod::regs: return "pt_regs";
    case FrameMethod::frame_pointer: return "frame pointer";
  }
  return "?";
}

StackTrace unwind_stack(const StackImage& stack, const OrcTable* orc, UnwindStart start,
                        std::uint64_t text_start, std::uint64_t text_end,
                        const UnwindLimits& lim) {
  UnwindWalker w(stack, orc, text_start, text_end);
  if (!stack.contains(start.sp - 1, 1) || start.ip < text_start || start.ip >= text_end) {
    w.out_.end = fmt::format("start (ip {:#x}, sp {:#x}) is not on this task's stack or not "
                             "kernel text", start.ip, start.sp);
    return w.out_;
  }
  UnwindState st{start.ip, start.sp, start.bp, start.signal, std::nullopt};
  w.out_.frames.push_back({st.ip, st.sp, FrameMethod::start});
  while (true) {
    if (w.out_.frames.size() >= lim.max_frames) {
      w.out_.end = fmt::format("stopped after {} frames", lim.max_frames);
      break;
    }
    auto how = w.step(st);
    if (!how) break;
    w.out_.frames.push_back({st.ip, st.sp, *how});
  }
  return w.out_;
}

StackTrace scan_stack(const StackImage& stack, const OrcTable& orc, std::uint64_t text_start,
                      std::uint64_t text_end, const UnwindLimits& lim,
                      const std::function<bool(std::uint64_t)>& plausible) {
  std::size_t tried = 0;
  std::string last;
  for (std::uint64_t off = 0; off + 8 <= stack.bytes.size(); off += 8) {
    const std::uint64_t v = load_le64(stack.bytes.data() + off);
    if (v < text_start || v >= text_end || !orc.find(v - 1)) continue;
    if (plausible && !plausible(v)) continue;
    if (++tried > lim.max_scan_candidates) break;
    StackTrace tr = unwind_stack(stack, &orc, {v, stack.base + off + 8, 0, false}, text_start,
                                 text_end, lim);
    if (tr.complete && !tr.used_frame_pointers) {
      tr.frames.front().method = FrameMethod::scan;
      return tr;
    }
  }
  StackTrace none;
  none.end = fmt::format("no word of the stack starts a clean ORC walk to its end ({} "
                         "candidates tried)", std::min(tried, lim.max_scan_candidates));
  return none;
}

}  // namespace tlpstub::kernel
