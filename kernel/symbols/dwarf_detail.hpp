// The low layer of the DWARF type reader (dwarf_types.hpp): a bounds-checked byte cursor, unit
// headers, abbreviation tables and attribute forms, after the DWARF 4 and 5 specifications
// (dwarfstd.org, DWARF 5 sections 7.5 "Format of Debugging Information" and 7.5.6 "Form
// Encodings"). Only what a skipping walker needs: every form can be skipped, and the few
// attributes of type DIEs can be decoded. 32-bit DWARF only (the kernel is built that way);
// 64-bit units are refused by name.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace tlpstub::kernel::dwarf_read {

// A cursor that never reads outside [p, end): a read past the end sets ok = false, moves to the
// end and yields 0, so a loop over a truncated unit always stops.
struct Cursor {
  const std::uint8_t* p = nullptr;
  const std::uint8_t* end = nullptr;
  bool ok = true;

  std::uint64_t left() const { return static_cast<std::uint64_t>(end - p); }
  bool skip(std::uint64_t n) {
    if (left() < n) return fail();
    p += n;
    return true;
  }
  std::uint64_t fixed(int n) {
    if (left() < static_cast<std::uint64_t>(n)) return fail(), 0;
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= std::uint64_t{p[i]} << (8 * i);
    p += n;
    return v;
  }
  std::uint64_t uleb() {
    std::uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
      if (p >= end) return fail(), 0;
      const std::uint8_t b = *p++;
      if (shift < 64) v |= std::uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) return v;
    }
  }
  std::int64_t sleb() {
    std::uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
      if (p >= end) return fail(), 0;
      const std::uint8_t b = *p++;
      if (shift < 64) v |= std::uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) {
        if (shift + 7 < 64 && (b & 0x40)) v |= ~std::uint64_t{0} << (shift + 7);
        return static_cast<std::int64_t>(v);
      }
    }
  }
  bool fail() {
    ok = false;
    p = end;
    return false;
  }
};

// Tags and attributes this reader looks at (DWARF 5 section 7.5.3, 7.5.4).
enum Tag : std::uint32_t {
  kTagArray = 0x01, kTagEnum = 0x04, kTagMember = 0x0d, kTagPointer = 0x0f,
  kTagCompileUnit = 0x11, kTagStruct = 0x13, kTagSubroutine = 0x15, kTagTypedef = 0x16,
  kTagUnion = 0x17, kTagUnspecifiedParams = 0x18, kTagFormalParam = 0x05,
  kTagSubrange = 0x21, kTagBase = 0x24, kTagConst = 0x26, kTagVolatile = 0x35,
  kTagRestrict = 0x37, kTagAtomic = 0x47, kTagClass = 0x02,
};
enum Attr : std::uint32_t {
  kAtName = 0x03, kAtByteSize = 0x0b, kAtBitOffset = 0x0c, kAtBitSize = 0x0d,
  kAtUpperBound = 0x2f, kAtDataMemberLocation = 0x38, kAtDeclaration = 0x3c, kAtCount = 0x37,
  kAtType = 0x49, kAtDataBitOffset = 0x6b, kAtStrOffsetsBase = 0x72,
};

struct AttrSpec {
  std::uint32_t attr = 0, form = 0;
  std::int64_t implicit = 0;  // DW_FORM_implicit_const's value, kept in the abbreviation
};

struct Abbrev {
  std::uint64_t code = 0;
  std::uint32_t tag = 0;
  bool children = false;
  std::uint32_t first = 0, count = 0;  // into AbbrevTable::specs
  std::int32_t fixed = -1;             // bytes of all attributes when every form has a fixed size
};

struct AbbrevTable {
  std::vector<Abbrev> list;  // sorted by code
  std::vector<AttrSpec> specs;
  const Abbrev* find(std::uint64_t code) const;
};

// A unit header (DWARF 5 section 7.5.1; DWARF 4 section 7.5.1.1).
struct Unit {
  std::uint64_t off = 0, end = 0;  // .debug_info offsets: header start, one past the last byte
  std::uint64_t dies = 0;          // first DIE
  std::uint16_t version = 0;
  std::uint8_t type = 1;           // DW_UT_compile (DWARF 4 units are compile units)
  std::uint8_t addr_size = 8;
  std::uint64_t abbrev_off = 0;
  std::uint64_t signature = 0, type_off = 0;  // type units
  std::uint64_t str_offsets_base = 8;         // DW_AT_str_offsets_base, else past the header
};

// Parses the header at `off`; errors name the unit and what broke.
Result<Unit> parse_unit_header(std::span<const std::uint8_t> info, std::uint64_t off);
// Parses the abbreviation table at `off` of .debug_abbrev for units of `addr_size`.
Result<AbbrevTable> parse_abbrevs(std::span<const std::uint8_t> abbrev, std::uint64_t off,
                                  std::uint8_t addr_size);

// A decoded attribute value.
struct Value {
  enum Kind : std::uint8_t { none, constant, signed_, string, strp, line_strp, strx, unit_ref,
                             info_ref, sig_ref, block, flag, unsupported } kind = none;
  std::uint64_t u = 0;
  std::int64_t s = 0;
  const std::uint8_t* data = nullptr;  // string (NUL-terminated inside the unit) or block
  std::uint64_t len = 0;
};

// Skips one attribute of `form`; false (and c.ok false) on a malformed or unknown form.
bool skip_form(Cursor& c, std::uint32_t form, const Unit& u, std::string* why);
// Reads one attribute of `form` into `v`.
bool read_form(Cursor& c, const AttrSpec& a, const Unit& u, Value& v, std::string* why);
// Fixed size of `form` in a unit of `addr_size`, or -1 when it varies.
int form_size(std::uint32_t form, std::uint8_t addr_size);

}  // namespace tlpstub::kernel::dwarf_read
