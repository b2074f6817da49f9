// Hand-built DWARF 4 and 5 sections, laid out byte by byte from the DWARF 5 specification
// (sections 7.5.1 unit headers, 7.5.3 abbreviations, 7.5.6 forms), not by any writer of ours.
// One compile unit holds a DIE carrying one attribute of every form (the reader must skip each
// exactly), then a small struct task_struct:
//
//   struct task_struct {                    // 56 bytes; a declaration precedes it
//     const volatile pid_t __state;         //  0  typedef chain: const -> volatile -> pid_t -> int
//     pid_t pid;                            //  4
//     struct { int head; int count_bits; } desc_ring;   //  8 (count_bits at 12)
//     union { long int y; int x; };         // 16 anonymous member
//     unsigned char flags:5, level:3;       // 24 bits 192 and 197
//     char comm[16];                        // 32
//     struct task_struct *parent;           // 48 (points at the declaration)
//   };
//   typedef loop_t loop_t; struct loopy { loop_t x; };   // a type cycle
//
// DWARF 5 names its strings with strp, line_strp and strx1 (through DW_AT_str_offsets_base),
// offsets with constants and DW_AT_data_bit_offset; DWARF 4 with inline strings, DW_OP_plus_uconst
// locations and DW_AT_bit_offset counted from the storage unit's high bit.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tlpstub::kernel::dwarf_sample {

struct Bytes {
  std::vector<std::uint8_t> b;
  void u8(std::uint64_t v) { b.push_back(static_cast<std::uint8_t>(v)); }
  void le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) u8(v >> (8 * i));
  }
  void uleb(std::uint64_t v) {
    do {
      std::uint8_t x = v & 0x7f;
      v >>= 7;
      u8(x | (v ? 0x80 : 0));
    } while (v);
  }
  void sleb(std::int64_t v) {
    for (bool more = true; more;) {
      std::uint8_t x = v & 0x7f;
      v >>= 7;
      more = !((v == 0 && !(x & 0x40)) || (v == -1 && (x & 0x40)));
      u8(x | (more ? 0x80 : 0));
    }
  }
  void cstr(std::string_view s) {
    b.insert(b.end(), s.begin(), s.end());
    u8(0);
  }
  std::uint64_t size() const { return b.size(); }
};

struct Sample {
  std::vector<std::uint8_t> info, abbrev, str, line_str, str_offsets;
  std::uint64_t junk_die = 0;  // .debug_info offset of the every-form DIE
};

// Tags, attributes and forms used below (DWARF 5 tables 7.3, 7.5, 7.6).
enum : std::uint32_t {
  T_cu = 0x11, T_var = 0x34, T_base = 0x24, T_typedef = 0x16, T_const = 0x26, T_volatile = 0x35,
  T_struct = 0x13, T_union = 0x17, T_member = 0x0d, T_array = 0x01, T_subrange = 0x21,
  T_pointer = 0x0f,
  A_sibling = 0x01, A_name = 0x03, A_byte_size = 0x0b, A_bit_offset = 0x0c, A_bit_size = 0x0d,
  A_upper = 0x2f, A_count = 0x37, A_loc = 0x38, A_decl = 0x3c, A_type = 0x49,
  A_data_bit_offset = 0x6b, A_str_offsets_base = 0x72,
  F_addr = 0x01, F_block2 = 0x03, F_block4 = 0x04, F_data2 = 0x05, F_data4 = 0x06,
  F_data8 = 0x07, F_string = 0x08, F_block = 0x09, F_block1 = 0x0a, F_data1 = 0x0b,
  F_flag = 0x0c, F_sdata = 0x0d, F_strp = 0x0e, F_udata = 0x0f, F_ref_addr = 0x10,
  F_ref1 = 0x11, F_ref2 = 0x12, F_ref4 = 0x13, F_ref8 = 0x14, F_ref_udata = 0x15,
  F_indirect = 0x16, F_sec_offset = 0x17, F_exprloc = 0x18, F_flag_present = 0x19,
  F_strx = 0x1a, F_addrx = 0x1b, F_ref_sup4 = 0x1c, F_strp_sup = 0x1d, F_data16 = 0x1e,
  F_line_strp = 0x1f, F_ref_sig8 = 0x20, F_implicit_const = 0x21, F_loclistx = 0x22,
  F_rnglistx = 0x23, F_ref_sup8 = 0x24, F_strx1 = 0x25, F_strx2 = 0x26, F_strx3 = 0x27,
  F_strx4 = 0x28, F_addrx1 = 0x29, F_addrx2 = 0x2a, F_addrx3 = 0x2b, F_addrx4 = 0x2c,
};

// Every form, in an attribute the reader does not know (DW_AT_lo_user + i), with a value of
// the form's encoding; returns the abbreviation's (attr, form) list, writes values with `val`.
inline const std::vector<std::uint32_t>& every_form() {
  static const std::vector<std::uint32_t> f = {
      F_addr, F_block2, F_block4, F_data2, F_data4, F_data8, F_string, F_block, F_block1,
      F_data1, F_flag, F_sdata, F_strp, F_udata, F_ref_addr, F_ref1, F_ref2, F_ref4, F_ref8,
      F_ref_udata, F_indirect, F_sec_offset, F_exprloc, F_flag_present, F_strx, F_addrx,
      F_ref_sup4, F_strp_sup, F_data16, F_line_strp, F_ref_sig8, F_implicit_const, F_loclistx,
      F_rnglistx, F_ref_sup8, F_strx1, F_strx2, F_strx3, F_strx4, F_addrx1, F_addrx2, F_addrx3,
      F_addrx4};
  return f;
}

inline void every_form_value(Bytes& d, std::uint32_t form) {
  switch (form) {
    case F_addr: d.le(0xffffffff81000000, 8); break;
    case F_block2: d.le(3, 2); d.le(0x0a0b0c, 3); break;
    case F_block4: d.le(2, 4); d.le(0x0d0e, 2); break;
    case F_data2: case F_ref2: case F_strx2: case F_addrx2: d.le(0x0101, 2); break;
    case F_data4: case F_ref4: case F_ref_sup4: case F_strx4: case F_addrx4: case F_ref_addr:
    case F_sec_offset: case F_strp: case F_strp_sup: case F_line_strp: d.le(0, 4); break;
    case F_data8: case F_ref8: case F_ref_sig8: case F_ref_sup8: d.le(0x0102030405060708, 8); break;
    case F_string: d.cstr("an inline string"); break;
    case F_block: case F_exprloc: d.uleb(200); d.b.insert(d.b.end(), 200, 0x96); break;
    case F_block1: d.u8(2); d.le(0xffff, 2); break;
    case F_data1: case F_flag: case F_ref1: case F_strx1: case F_addrx1: d.u8(1); break;
    case F_sdata: d.sleb(-123456789); break;
    case F_udata: case F_ref_udata: case F_strx: case F_addrx: case F_loclistx:
    case F_rnglistx: d.uleb(0x123456789); break;
    case F_indirect: d.uleb(F_data4); d.le(7, 4); break;  // the form, then its value
    case F_flag_present: case F_implicit_const: break;
    case F_data16: d.le(0, 8); d.le(0, 8); break;
    case F_strx3: case F_addrx3: d.le(0x010203, 3); break;
    default: break;
  }
}

inline Sample make(int version) {
  const bool v5 = version == 5;
  Sample s;
  Bytes ab;
  std::uint64_t code = 0;
  auto abbrev = [&](std::uint32_t tag, bool children,
                    std::vector<std::pair<std::uint32_t, std::uint32_t>> attrs) {
    ab.uleb(++code);
    ab.uleb(tag);
    ab.u8(children ? 1 : 0);
    for (auto [a, f] : attrs) {
      ab.uleb(a);
      ab.uleb(f);
      if (f == F_implicit_const) ab.sleb(-42);
    }
    ab.u8(0);
    ab.u8(0);
    return code;
  };
  // Strings: DWARF 5 puts names in .debug_str (strp), one in .debug_line_str, and two behind
  // .debug_str_offsets (strx1); DWARF 4 writes them inline.
  Bytes str, line_str, offs;
  str.cstr("");  // offset 0: empty
  auto strp = [&](std::string_view n) {
    const std::uint64_t at = str.size();
    str.cstr(n);
    return at;
  };
  offs.le(12, 4);  // the str_offsets header: length, version 5, padding
  offs.le(5, 2);
  offs.le(0, 2);
  std::uint32_t nstrx = 0;
  auto strx = [&](std::string_view n) {
    offs.le(strp(n), 4);
    return nstrx++;
  };
  const std::uint32_t F_name = v5 ? F_strp : F_string;
  auto name = [&](Bytes& d, std::string_view n) {
    if (v5) d.le(strp(n), 4);
    else d.cstr(n);
  };

  const auto a_cu = v5 ? abbrev(T_cu, true, {{A_name, F_line_strp}, {A_str_offsets_base, F_sec_offset}})
                       : abbrev(T_cu, true, {{A_name, F_string}});
  std::vector<std::pair<std::uint32_t, std::uint32_t>> junk = {{A_sibling, F_ref4}};
  for (std::size_t i = 0; i < every_form().size(); ++i)
    junk.emplace_back(0x2000 + static_cast<std::uint32_t>(i), every_form()[i]);
  const auto a_junk = abbrev(T_var, false, junk);
  const auto a_base = abbrev(T_base, false, {{A_name, F_name}, {A_byte_size, F_data1}});
  const auto a_base_strx = v5 ? abbrev(T_base, false, {{A_name, F_strx1}, {A_byte_size, F_data1}})
                              : a_base;
  const auto a_typedef = abbrev(T_typedef, false, {{A_name, F_name}, {A_type, F_ref4}});
  const auto a_const = abbrev(T_const, false, {{A_type, F_ref4}});
  const auto a_volatile = abbrev(T_volatile, false, {{A_type, F_ref4}});
  const auto a_decl = abbrev(T_struct, false, {{A_name, F_name}, {A_decl, F_flag_present}});
  const auto a_pointer = abbrev(T_pointer, false, {{A_byte_size, F_data1}, {A_type, F_ref4}});
  const auto a_anon_struct = abbrev(T_struct, true, {{A_byte_size, F_data1}});
  const auto a_anon_union = abbrev(T_union, true, {{A_byte_size, F_data1}});
  const auto a_struct = abbrev(T_struct, true, {{A_name, F_name}, {A_byte_size, F_data2}});
  const auto a_member = v5 ? abbrev(T_member, false, {{A_name, F_name}, {A_type, F_ref4}, {A_loc, F_data1}})
                           : abbrev(T_member, false, {{A_name, F_name}, {A_type, F_ref4}, {A_loc, F_block1}});
  const auto a_anon_member = v5 ? abbrev(T_member, false, {{A_type, F_ref4}, {A_loc, F_data1}})
                                : abbrev(T_member, false, {{A_type, F_ref4}, {A_loc, F_block1}});
  const auto a_union_member = abbrev(T_member, false, {{A_name, F_name}, {A_type, F_ref4}});
  const auto a_bitfield =
      v5 ? abbrev(T_member, false, {{A_name, F_name}, {A_type, F_ref4}, {A_bit_size, F_data1},
                                    {A_data_bit_offset, F_data2}})
         : abbrev(T_member, false, {{A_name, F_name}, {A_type, F_ref4}, {A_byte_size, F_data1},
                                    {A_bit_size, F_data1}, {A_bit_offset, F_data1}, {A_loc, F_block1}});
  const auto a_array = abbrev(T_array, true, {{A_type, F_ref4}});
  const auto a_subrange = v5 ? abbrev(T_subrange, false, {{A_count, F_data1}})
                             : abbrev(T_subrange, false, {{A_upper, F_data1}});
  ab.u8(0);  // end of the table

  const std::uint64_t hdr = v5 ? 12 : 11;
  Bytes d;
  auto at = [&] { return hdr + d.size(); };
  auto die = [&](std::uint64_t c) {
    const std::uint64_t o = at();
    d.uleb(c);
    return o;
  };
  auto loc = [&](std::uint64_t off) {
    if (v5) {
      d.u8(off);
    } else {  // DW_OP_plus_uconst off
      Bytes e;
      e.u8(0x23);
      e.uleb(off);
      d.u8(e.size());
      d.b.insert(d.b.end(), e.b.begin(), e.b.end());
    }
  };

  die(a_cu);
  if (v5) {
    d.le(line_str.size(), 4);
    line_str.cstr("kernel/fork.c");
    d.le(8, 4);  // str_offsets_base: past the 8-byte header
  } else {
    d.cstr("kernel/fork.c");
  }
  s.junk_die = die(a_junk);
  d.le(s.junk_die, 4);  // DW_AT_sibling pointing at itself: never followed
  for (std::uint32_t f : every_form()) every_form_value(d, f);
  const std::uint64_t t_int = die(a_base);
  name(d, "int");
  d.u8(4);
  const std::uint64_t t_uchar = die(a_base_strx);
  if (v5) d.u8(strx("unsigned char"));
  else d.cstr("unsigned char");
  d.u8(1);
  const std::uint64_t t_char = die(a_base_strx);
  if (v5) d.u8(strx("char"));
  else d.cstr("char");
  d.u8(1);
  const std::uint64_t t_long = die(a_base);
  name(d, "long int");
  d.u8(8);
  const std::uint64_t t_pid = die(a_typedef);
  name(d, "pid_t");
  d.le(t_int, 4);
  const std::uint64_t t_vol = die(a_volatile);
  d.le(t_pid, 4);
  const std::uint64_t t_cv = die(a_const);
  d.le(t_vol, 4);
  const std::uint64_t t_decl = die(a_decl);
  name(d, "task_struct");
  const std::uint64_t t_ptr = die(a_pointer);
  d.u8(8);
  d.le(t_decl, 4);
  const std::uint64_t t_ring = die(a_anon_struct);
  d.u8(8);
  die(a_member);
  name(d, "head");
  d.le(t_int, 4);
  loc(0);
  die(a_member);
  name(d, "count_bits");
  d.le(t_int, 4);
  loc(4);
  d.u8(0);
  const std::uint64_t t_union = die(a_anon_union);
  d.u8(8);
  die(a_union_member);
  name(d, "y");
  d.le(t_long, 4);
  die(a_union_member);
  name(d, "x");
  d.le(t_int, 4);
  d.u8(0);
  const std::uint64_t t_comm = die(a_array);
  d.le(t_char, 4);
  die(a_subrange);
  d.u8(v5 ? 16 : 15);  // count, or upper bound
  d.u8(0);
  die(a_struct);
  name(d, "task_struct");
  d.le(56, 2);
  auto member = [&](std::string_view n, std::uint64_t type, std::uint64_t off) {
    die(a_member);
    name(d, n);
    d.le(type, 4);
    loc(off);
  };
  member("__state", t_cv, 0);
  member("pid", t_pid, 4);
  member("desc_ring", t_ring, 8);
  die(a_anon_member);
  d.le(t_union, 4);
  loc(16);
  auto bitfield = [&](std::string_view n, std::uint64_t bit, std::uint64_t bits) {
    die(a_bitfield);
    name(d, n);
    d.le(t_uchar, 4);
    if (v5) {
      d.u8(bits);
      d.le(bit, 2);
    } else {  // storage unit: 1 byte at bit / 8; bit offset from its most significant bit
      d.u8(1);
      d.u8(bits);
      d.u8(8 - (bit % 8) - bits);
      loc(bit / 8);
    }
  };
  bitfield("flags", 192, 5);
  bitfield("level", 197, 3);
  member("comm", t_comm, 32);
  member("parent", t_ptr, 48);
  d.u8(0);
  // typedef loop_t loop_t; struct loopy { loop_t x; };
  const std::uint64_t t_loop = at();
  die(a_typedef);
  name(d, "loop_t");
  d.le(t_loop, 4);
  die(a_struct);
  name(d, "loopy");
  d.le(4, 2);
  member("x", t_loop, 0);
  d.u8(0);
  d.u8(0);  // end of the unit DIE's children

  Bytes info;
  info.le(hdr - 4 + d.size(), 4);
  info.le(static_cast<std::uint64_t>(version), 2);
  if (v5) {
    info.u8(1);  // DW_UT_compile
    info.u8(8);
    info.le(0, 4);
  } else {
    info.le(0, 4);
    info.u8(8);
  }
  info.b.insert(info.b.end(), d.b.begin(), d.b.end());
  s.info = std::move(info.b);
  s.abbrev = std::move(ab.b);
  s.str = std::move(str.b);
  s.line_str = std::move(line_str.b);
  if (v5) s.str_offsets = std::move(offs.b);
  return s;
}

}  // namespace tlpstub::kernel::dwarf_sample
