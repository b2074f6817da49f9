#include "kernel/linux/switch_frame.hpp"

#include <fmt/format.h>

#include <vector>

#include "common/bytes.hpp"

namespace tlpstub::kernel {

namespace {

Result<std::uint64_t> switch_frame_size(const TaskLayout& l, std::uint64_t saved_sp) {
  if (!l.has_frame())
    return fail(Errc::not_found, "switch frame: kernel types lack struct inactive_task_frame");
  const std::uint64_t size = l.frame_ret.end();
  if (size > 256) return fail(Errc::malformed, "switch frame: implausible inactive_task_frame");
  if (saved_sp == 0 || saved_sp % 8 != 0)
    return fail(Errc::malformed, fmt::format("switch frame: thread.sp {:#x}", saved_sp), saved_sp);
  return size;
}

}  // namespace

Result<SwitchFrame> decode_switch_frame(const TaskLayout& l, std::uint64_t saved_sp,
                                        std::span<const std::uint8_t> b,
                                        std::uint64_t text_start, std::uint64_t text_end) {
  auto size = switch_frame_size(l, saved_sp);
  if (!size) return std::unexpected(size.error());
  if (b.size() < *size)
    return fail(Errc::malformed, fmt::format("switch frame at {:#x}: {} bytes, not {}", saved_sp,
                                             b.size(), *size), saved_sp);
  auto at = [&](const Field& f) { return f.size == 8 ? load_le64(b.data() + f.offset) : 0; };
  SwitchFrame fr{at(l.frame_r15), at(l.frame_r14), at(l.frame_r13), at(l.frame_r12),
                 at(l.frame_bx),  at(l.frame_bp),  at(l.frame_ret), saved_sp + *size};
  if (fr.rip < text_start || fr.rip >= text_end)
    return fail(Errc::malformed,
                fmt::format("switch frame at {:#x}: return address {:#x} is not kernel text",
                            saved_sp, fr.rip),
                saved_sp);
  return fr;
}

Result<SwitchFrame> read_switch_frame(AddressSpace& as, const TaskLayout& l,
                                      std::uint64_t saved_sp, std::uint64_t text_start,
                                      std::uint64_t text_end) {
  auto size = switch_frame_size(l, saved_sp);
  if (!size) return std::unexpected(size.error());
  std::vector<std::uint8_t> b(*size);
  ReadOutcome o = as.read(VirtAddr(saved_sp), b);
  if (!o.complete()) return std::unexpected(*o.fault);
  return decode_switch_frame(l, saved_sp, b, text_start, text_end);
}

}  // namespace tlpstub::kernel
