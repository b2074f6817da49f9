// DWARF 4 (.debug_info, .debug_abbrev, .debug_str) describing every type of a BTF blob, and
// global variables at given addresses: what gdb needs for `ptype`, `p init_task.comm` and
// `ptype /o` with no vmlinux. One compile unit, 32-bit DWARF format, 8-byte addresses.
//
// BTF kind        DWARF
//   INT, FLOAT    DW_TAG_base_type (encoding from BTF's SIGNED/CHAR/BOOL bits)
//   PTR           DW_TAG_pointer_type (no DW_AT_type: void *)
//   ARRAY         DW_TAG_array_type + DW_TAG_subrange_type (upper bound n-1; count 0 for [0])
//   STRUCT/UNION  DW_TAG_structure_type/union_type, DW_TAG_member: byte offsets as
//                 DW_AT_data_member_location, bitfields as DW_AT_data_bit_offset + DW_AT_bit_size
//   ENUM/ENUM64   DW_TAG_enumeration_type + DW_TAG_enumerator (sdata if signed, else udata)
//   FWD           a struct/union DIE with DW_AT_declaration
//   TYPEDEF, CONST, VOLATILE, RESTRICT   the tag of the same name
//   FUNC_PROTO    DW_TAG_subroutine_type + formal parameters (... as unspecified_parameters)
//   TYPE_TAG      no DIE: references go to the tagged type
//   FUNC, VAR, DATASEC, DECL_TAG   no type DIE (VARs become variables through `variables`)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernel/symbols/btf.hpp"

namespace tlpstub::kernel::dwarf {

struct Variable {
  std::string name;
  std::uint32_t type = 0;  // BTF type id
  std::uint64_t address = 0;
};

struct Sections {
  std::vector<std::uint8_t> info, abbrev, str;
  std::uint64_t type_dies = 0;  // DIEs written for BTF types
  std::uint64_t variables = 0;
};

Sections write_dwarf(const btf::Btf& btf, const std::vector<Variable>& variables);

}  // namespace tlpstub::kernel::dwarf
