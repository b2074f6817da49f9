// Struct layouts from a vmlinux's DWARF (issue 8: `--make-profile` for kernels without .BTF,
// e.g. before 5.2 or Debian 10's 4.19 -dbg vmlinux). Not a DWARF library: one pass over
// .debug_info skips every DIE by its abbreviation's forms and notes the first full definition
// (not a DW_AT_declaration) of each struct or union named in the wanted list; only the units
// holding those are then decoded, and only their type DIEs (struct, union, member, typedef,
// modifiers, pointer, array, base, enum, subroutine type). Member lookup follows the BTF path's
// rules (btf.hpp Btf::member): members of anonymous struct/union members are found by name,
// offsets add up; sizes and type names go through typedef and const/volatile chains.
//
// Member offsets (DWARF 5 section 5.7.6): DW_AT_data_bit_offset (bits from the struct's start),
// or DW_AT_data_member_location (a constant, or an expression DW_OP_plus_uconst N), plus for a
// DWARF 2-4 bitfield DW_AT_bit_offset counted from the most significant bit of a storage unit
// of DW_AT_byte_size bytes (so on little-endian x86-64 the first bit is
// location*8 + byte_size*8 - bit_offset - bit_size).
//
// Everything is bounded: a unit cannot run past its section, every DIE consumes at least one
// byte (so the walk ends), nesting and type chains have depth limits, DW_AT_sibling is never
// followed, and every error names the unit or DIE offset.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "kernel/symbols/type_info.hpp"

namespace tlpstub::kernel::dwarf_read {

struct Sections {
  std::span<const std::uint8_t> info, abbrev, str, line_str, str_offsets;
};

struct Stats {
  std::uint64_t units = 0, dies = 0, decoded_units = 0, decoded_dies = 0;
};

class DwarfTypes {
 public:
  // Walks every unit of `s.info`, keeping where the structs and unions in `names` are defined.
  // The sections must outlive the result.
  static Result<DwarfTypes> load(const Sections& s, const std::vector<std::string_view>& names);

  DwarfTypes(DwarfTypes&&) noexcept;
  DwarfTypes& operator=(DwarfTypes&&) noexcept;
  ~DwarfTypes();

  // The member at a dotted path ("thread.sp", "desc_ring.count_bits") of a struct in `names`,
  // as TypeInfo::member reports it (source left empty).
  Result<FieldInfo> member(std::string_view struct_name, std::string_view path);
  Result<std::uint64_t> struct_size(std::string_view struct_name);
  const Stats& stats() const;

 private:
  struct Impl;
  explicit DwarfTypes(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlpstub::kernel::dwarf_read
