// A member path names a member inside nested members: "thread.sp", "se.sum_exec_runtime". Each
// part is a member of the previous part's struct or union type. TypeInfo (BTF) and DwarfTypes
// (DWARF) resolve the parts against their own type graphs; the splitting rules are shared.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace tlpstub::kernel {

// The deepest path either resolver follows (kernel paths are 1-3 parts deep).
inline constexpr std::size_t kMaxMemberPathParts = 32;

// The parts of PATH in order; views into PATH. Errors: an empty part ("", "a..b", ".a", "a.")
// and more than kMaxMemberPathParts parts.
Result<std::vector<std::string_view>> split_member_path(std::string_view path);

}  // namespace tlpstub::kernel
