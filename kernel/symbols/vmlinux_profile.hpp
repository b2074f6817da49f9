// A profile (profile.hpp) made from a vmlinux file rather than from a running kernel (issue 8:
// `tlpstub --make-profile VMLINUX --out FILE`), for a kernel whose memory lacks BTF but whose
// build (a distribution's -dbg package) is at hand:
//  - types: the ELF's .BTF section (the same blob the kernel keeps between __start_BTF and
//    __stop_BTF), parsed by btf.hpp into a TypeInfo; without .BTF (kernels before 5.2 or built
//    without CONFIG_DEBUG_INFO_BTF), or when asked, the DWARF sections of a -dbg vmlinux
//    (dwarf_types.hpp) give the wanted members and sizes, written through the same
//    make_profile so that both profiles have one format;
//  - release: the UTS_RELEASE of the linux_banner string in .rodata (banner.hpp; init/version.c,
//    6.1+ also a weak placeholder with the same release: both must agree);
//  - build id: the GNU NT_GNU_BUILD_ID note (in the kernel's ".notes" section), the one
//    VMCOREINFO reports as BUILD-ID (kernel/crash_core.c, 5.9+), so check_profile compares them.
// The file is untrusted: section headers, offsets and sizes are checked against the file size
// and bounded before anything is read; only the three sections are read (a Debian -dbg vmlinux
// is ~600 MB, mostly DWARF).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "kernel/symbols/profile.hpp"

namespace tlpstub::kernel {

// Reads `n` bytes at file offset `off` (all of them, or an error).
using FileReadAt =
    std::function<Result<std::vector<std::uint8_t>>(std::uint64_t off, std::uint64_t n)>;

// Where the types come from: .BTF when present else DWARF, or only the one named.
enum class VmlinuxTypes { auto_, btf, dwarf };

// What a vmlinux says about itself, and its profile.
struct VmlinuxProfile {
  Profile profile;
  std::string types_from;  // "BTF" or "DWARF"
  std::uint32_t btf_types = 0;
  std::uint64_t btf_bytes = 0;
  std::uint64_t dwarf_units = 0, dwarf_dies = 0, dwarf_bytes = 0;  // .debug_info walked
};

// From an ELF64 x86-64 file of `file_size` bytes read through `read`; `name` for messages.
Result<VmlinuxProfile> profile_from_vmlinux(const FileReadAt& read, std::uint64_t file_size,
                                            const std::string& name,
                                            VmlinuxTypes from = VmlinuxTypes::auto_);
Result<VmlinuxProfile> profile_from_vmlinux_file(const std::string& path,
                                                 VmlinuxTypes from = VmlinuxTypes::auto_);

}  // namespace tlpstub::kernel
