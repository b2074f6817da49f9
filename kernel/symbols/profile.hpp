// Profiles (design.md, discovery step 4; issue 8): the structure layouts the views use
// (wanted_offsets.hpp), saved once from whatever filled a TypeInfo (BTF, inference, another
// profile) and loaded later to override BTF and inference for the members they hold, e.g. for
// a kernel without BTF whose layout was learned from a sibling with BTF or from a vmlinux.
//
// The file is JSON (common/json.hpp reads it strictly and bounded), one object:
//
//   {"format": "tlpstub-profile", "version": 1,
//    "release": "6.1.0-28-amd64", "build_id": "3b43...", (build_id "" when unknown)
//    "structs": {
//      "task_struct": {"size": 9792,
//                      "members": {"pid": {"offset": 2456, "size": 4, "type": "pid_t",
//                                          "source": "BTF"}, ...}},
//      "printk_info": {"members": {"level": {"offset": 27, "size": 1, "bit_offset": 221,
//                                            "bit_size": 3, "type": "u8"}, ...}}}}
//
// Member paths are the views' ("thread.sp"); bit_offset (bits from the struct's start) and
// bit_size are written for bitfields only; "source" says what the profile was made from and
// is informational. Only the members and sizes tlpstub uses are accepted (a misspelt member
// would silently change nothing), and a profile belongs to one kernel: check_profile refuses
// another release or build id unless forced.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "kernel/kernel_image.hpp"
#include "kernel/symbols/type_info.hpp"

namespace tlpstub::kernel {

inline constexpr std::string_view kProfileFormat = "tlpstub-profile";
inline constexpr std::uint64_t kProfileVersion = 1;
// Bounds for what a profile may hold: no kernel struct the views use is near 1 MiB
// (task_struct is about 10 KiB).
inline constexpr std::uint64_t kProfileMaxOffset = 1 << 20;

struct ProfileMember {
  std::string struct_name, path;
  FieldInfo field;  // field.source: what the profile was made from ("" when not said)
};

struct ProfileSize {
  std::string struct_name;
  std::uint64_t size = 0;
  std::string source;
};

struct Profile {
  std::string release, build_id;
  std::vector<ProfileMember> members;
  std::vector<ProfileSize> sizes;
};

// The wanted members and sizes `ti` knows, for the kernel `img`.
Profile make_profile(const TypeInfo& ti, const KernelImage& img);
std::string profile_to_json(const Profile& p);
// Parses and checks a profile (format, version, names, bounds); errors say where.
Result<Profile> parse_profile(std::string_view json);
// Reads and parses a profile file (bounded: larger than the JSON limit is refused unread).
Result<Profile> load_profile_file(const std::string& path);
Result<void> save_profile_file(const Profile& p, const std::string& path);

// Whether `p` belongs to the kernel `img`: the release must be equal, and the build id when
// both know one. The error names what differs, with both values. `note`: set when the
// build id could not be compared.
Result<void> check_profile(const Profile& p, const KernelImage& img, std::string* note = nullptr);

// Adds every member and size of `p` to `ti` with source "profile" (they win over BTF and
// inference).
void add_profile(const Profile& p, TypeInfo& ti);

}  // namespace tlpstub::kernel
