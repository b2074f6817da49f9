// Unit headers, abbreviation tables and attribute forms (dwarf_detail.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "kernel/symbols/dwarf_detail.hpp"

namespace tlpstub::kernel::dwarf_read {

namespace {

// Bounds for a table read from the file: a kernel unit uses a few hundred abbreviations of at
// most ~15 attributes each.
constexpr std::uint64_t kDwMaxAbbrevs = 1u << 20;
constexpr std::uint32_t kDwMaxAttrs = 1024;

Error dw_bad(std::string what) { return Error{Errc::malformed, std::move(what), 0}; }

// Form codes, DWARF 5 section 7.5.6 (and the GNU extensions GCC emits with dwz or split DWARF).
enum Form : std::uint32_t {
  kAddr = 0x01, kBlock2 = 0x03, kBlock4 = 0x04, kData2 = 0x05, kData4 = 0x06, kData8 = 0x07,
  kString = 0x08, kBlock = 0x09, kBlock1 = 0x0a, kData1 = 0x0b, kFlag = 0x0c, kSdata = 0x0d,
  kStrp = 0x0e, kUdata = 0x0f, kRefAddr = 0x10, kRef1 = 0x11, kRef2 = 0x12, kRef4 = 0x13,
  kRef8 = 0x14, kRefUdata = 0x15, kIndirect = 0x16, kSecOffset = 0x17, kExprloc = 0x18,
  kFlagPresent = 0x19, kStrx = 0x1a, kAddrx = 0x1b, kRefSup4 = 0x1c, kStrpSup = 0x1d,
  kData16 = 0x1e, kLineStrp = 0x1f, kRefSig8 = 0x20, kImplicitConst = 0x21, kLoclistx = 0x22,
  kRnglistx = 0x23, kRefSup8 = 0x24, kStrx1 = 0x25, kStrx2 = 0x26, kStrx3 = 0x27,
  kStrx4 = 0x28, kAddrx1 = 0x29, kAddrx2 = 0x2a, kAddrx3 = 0x2b, kAddrx4 = 0x2c,
  kGnuAddrIndex = 0x1f01, kGnuStrIndex = 0x1f02, kGnuRefAlt = 0x1f20, kGnuStrpAlt = 0x1f21,
};

}  // namespace

const Abbrev* AbbrevTable::find(std::uint64_t code) const {
  // Producers number abbreviations 1, 2, 3...: try the direct slot first.
  if (code - 1 < list.size() && list[code - 1].code == code) return &list[code - 1];
  auto it = std::lower_bound(list.begin(), list.end(), code,
                             [](const Abbrev& a, std::uint64_t c) { return a.code < c; });
  return it != list.end() && it->code == code ? &*it : nullptr;
}

int form_size(std::uint32_t form, std::uint8_t addr_size) {
  switch (form) {
    case kAddr: return addr_size;
    case kFlagPresent:
    case kImplicitConst: return 0;
    case kData1: case kFlag: case kRef1: case kStrx1: case kAddrx1: return 1;
    case kData2: case kRef2: case kStrx2: case kAddrx2: return 2;
    case kStrx3: case kAddrx3: return 3;
    case kData4: case kRef4: case kRefSup4: case kStrx4: case kAddrx4:
    // 32-bit DWARF: offsets into other sections are 4 bytes.
    case kStrp: case kRefAddr: case kSecOffset: case kStrpSup: case kLineStrp:
    case kGnuRefAlt: case kGnuStrpAlt: return 4;
    case kData8: case kRef8: case kRefSig8: case kRefSup8: return 8;
    case kData16: return 16;
    default: return -1;
  }
}

Result<Unit> parse_unit_header(std::span<const std::uint8_t> info, std::uint64_t off) {
  Cursor c{info.data() + off, info.data() + info.size()};
  const std::uint64_t len = c.fixed(4);
  if (!c.ok) return std::unexpected(dw_bad(fmt::format("unit at {:#x}: truncated length", off)));
  if (len == 0xffffffff)
    return std::unexpected(dw_bad(fmt::format(
        "unit at {:#x} is 64-bit DWARF, which this reader does not support", off)));
  if (len >= 0xfffffff0)
    return std::unexpected(dw_bad(fmt::format("unit at {:#x}: reserved length {:#x}", off, len)));
  if (len > c.left())
    return std::unexpected(dw_bad(fmt::format(
        "unit at {:#x}: length {:#x} runs past the end of .debug_info", off, len)));
  Unit u;
  u.off = off;
  u.end = off + 4 + len;
  c.end = info.data() + u.end;
  u.version = static_cast<std::uint16_t>(c.fixed(2));
  if (u.version == 5) {
    u.type = static_cast<std::uint8_t>(c.fixed(1));
    u.addr_size = static_cast<std::uint8_t>(c.fixed(1));
    u.abbrev_off = c.fixed(4);
    if (u.type == 2) {  // DW_UT_type
      u.signature = c.fixed(8);
      u.type_off = c.fixed(4);
    } else if (u.type != 1 && u.type != 3) {  // DW_UT_compile, DW_UT_partial
      return std::unexpected(dw_bad(fmt::format(
          "unit at {:#x}: unit type {:#x} (split DWARF?) is not supported", off, u.type)));
    }
  } else if (u.version == 4) {
    u.abbrev_off = c.fixed(4);
    u.addr_size = static_cast<std::uint8_t>(c.fixed(1));
  } else {
    return std::unexpected(dw_bad(fmt::format(
        "unit at {:#x}: DWARF version {} (this reader knows 4 and 5)", off, u.version)));
  }
  if (!c.ok) return std::unexpected(dw_bad(fmt::format("unit at {:#x}: truncated header", off)));
  if (u.addr_size != 4 && u.addr_size != 8)
    return std::unexpected(
        dw_bad(fmt::format("unit at {:#x}: address size {}", off, u.addr_size)));
  u.dies = static_cast<std::uint64_t>(c.p - info.data());
  if (u.type == 2 && (u.type_off >= u.end - off || off + u.type_off < u.dies))
    return std::unexpected(dw_bad(fmt::format("type unit at {:#x}: type offset {:#x} outside it",
                                              off, u.type_off)));
  return u;
}

Result<AbbrevTable> parse_abbrevs(std::span<const std::uint8_t> abbrev, std::uint64_t off,
                                  std::uint8_t addr_size) {
  if (off >= abbrev.size())
    return std::unexpected(dw_bad(fmt::format("abbreviation table offset {:#x} past the end of "
                                              ".debug_abbrev ({:#x} bytes)", off, abbrev.size())));
  Cursor c{abbrev.data() + off, abbrev.data() + abbrev.size()};
  AbbrevTable t;
  bool sorted = true;
  for (;;) {
    const std::uint64_t at = static_cast<std::uint64_t>(c.p - abbrev.data());
    Abbrev a;
    a.code = c.uleb();
    if (!c.ok)
      return std::unexpected(dw_bad(fmt::format(".debug_abbrev at {:#x}: table not ended", off)));
    if (a.code == 0) break;
    if (t.list.size() >= kDwMaxAbbrevs)
      return std::unexpected(dw_bad(fmt::format(".debug_abbrev at {:#x}: over {} entries", off,
                                                kDwMaxAbbrevs)));
    a.tag = static_cast<std::uint32_t>(c.uleb());
    a.children = c.fixed(1) != 0;
    a.first = static_cast<std::uint32_t>(t.specs.size());
    int fixed = 0;
    for (;;) {
      AttrSpec s;
      const std::uint64_t attr = c.uleb(), form = c.uleb();
      if (!c.ok)
        return std::unexpected(dw_bad(fmt::format(".debug_abbrev at {:#x}: truncated", at)));
      if (attr == 0 && form == 0) break;
      if (attr > 0xffff || form > 0xffff)
        return std::unexpected(dw_bad(fmt::format(
            ".debug_abbrev at {:#x}: attribute {:#x} form {:#x} out of range", at, attr, form)));
      if (++a.count > kDwMaxAttrs)
        return std::unexpected(dw_bad(fmt::format(".debug_abbrev at {:#x}: over {} attributes",
                                                  at, kDwMaxAttrs)));
      s.attr = static_cast<std::uint32_t>(attr);
      s.form = static_cast<std::uint32_t>(form);
      if (form == kImplicitConst) s.implicit = c.sleb();
      const int sz = form_size(s.form, addr_size);
      fixed = (fixed < 0 || sz < 0) ? -1 : fixed + sz;
      t.specs.push_back(s);
    }
    a.fixed = fixed;
    if (!t.list.empty() && t.list.back().code >= a.code) sorted = false;
    t.list.push_back(a);
  }
  if (!sorted) {
    std::sort(t.list.begin(), t.list.end(),
              [](const Abbrev& x, const Abbrev& y) { return x.code < y.code; });
    for (std::size_t i = 1; i < t.list.size(); ++i)
      if (t.list[i].code == t.list[i - 1].code)
        return std::unexpected(dw_bad(fmt::format(
            ".debug_abbrev at {:#x}: abbreviation code {} defined twice", off, t.list[i].code)));
  }
  return t;
}

namespace {

bool dw_skip_block(Cursor& c, std::uint64_t len) { return c.skip(len); }

bool dw_unknown(Cursor& c, std::uint32_t form, std::string* why) {
  if (why) *why = fmt::format("unknown attribute form {:#x}", form);
  return c.fail();
}

}  // namespace

bool skip_form(Cursor& c, std::uint32_t form, const Unit& u, std::string* why) {
  const int sz = form_size(form, u.addr_size);
  if (sz >= 0) return c.skip(static_cast<std::uint64_t>(sz));
  switch (form) {
    case kBlock1: return dw_skip_block(c, c.fixed(1));
    case kBlock2: return dw_skip_block(c, c.fixed(2));
    case kBlock4: return dw_skip_block(c, c.fixed(4));
    case kBlock:
    case kExprloc: return dw_skip_block(c, c.uleb());
    case kString: {
      const void* z = std::memchr(c.p, 0, c.left());
      if (!z) return c.fail();
      c.p = static_cast<const std::uint8_t*>(z) + 1;
      return true;
    }
    case kSdata: c.sleb(); return c.ok;
    case kUdata: case kRefUdata: case kStrx: case kAddrx: case kLoclistx: case kRnglistx:
    case kGnuAddrIndex: case kGnuStrIndex: c.uleb(); return c.ok;
    case kIndirect: {
      // The form is in the data; an indirect of an indirect is refused (no recursion).
      const std::uint64_t f = c.uleb();
      if (!c.ok) return false;
      if (f == kIndirect || f == kImplicitConst || f > 0xffff) {
        if (why) *why = fmt::format("DW_FORM_indirect to form {:#x}", f);
        return c.fail();
      }
      return skip_form(c, static_cast<std::uint32_t>(f), u, why);
    }
    default: return dw_unknown(c, form, why);
  }
}

bool read_form(Cursor& c, const AttrSpec& a, const Unit& u, Value& v, std::string* why) {
  std::uint32_t form = a.form;
  if (form == kIndirect) {
    const std::uint64_t f = c.uleb();
    if (!c.ok) return false;
    if (f == kIndirect || f == kImplicitConst || f > 0xffff) {
      if (why) *why = fmt::format("DW_FORM_indirect to form {:#x}", f);
      return c.fail();
    }
    form = static_cast<std::uint32_t>(f);
  }
  v = Value{};
  switch (form) {
    case kData1: case kData2: case kData4: case kData8:
      v.kind = Value::constant;
      v.u = c.fixed(form_size(form, u.addr_size));
      break;
    case kUdata: v.kind = Value::constant; v.u = c.uleb(); break;
    case kSdata: v.kind = Value::signed_; v.s = c.sleb(); break;
    case kImplicitConst: v.kind = Value::signed_; v.s = a.implicit; break;
    case kFlag: v.kind = Value::flag; v.u = c.fixed(1); break;
    case kFlagPresent: v.kind = Value::flag; v.u = 1; break;
    case kString: {
      const void* z = std::memchr(c.p, 0, c.left());
      if (!z) return c.fail();
      v.kind = Value::string;
      v.data = c.p;
      v.len = static_cast<std::uint64_t>(static_cast<const std::uint8_t*>(z) - c.p);
      c.p = static_cast<const std::uint8_t*>(z) + 1;
      break;
    }
    case kSecOffset: v.kind = Value::constant; v.u = c.fixed(4); break;
    case kStrp: v.kind = Value::strp; v.u = c.fixed(4); break;
    case kLineStrp: v.kind = Value::line_strp; v.u = c.fixed(4); break;
    case kStrx: case kGnuStrIndex: v.kind = Value::strx; v.u = c.uleb(); break;
    case kStrx1: case kStrx2: case kStrx3: case kStrx4:
      v.kind = Value::strx;
      v.u = c.fixed(form_size(form, u.addr_size));
      break;
    case kRef1: case kRef2: case kRef4: case kRef8:
      v.kind = Value::unit_ref;
      v.u = c.fixed(form_size(form, u.addr_size));
      break;
    case kRefUdata: v.kind = Value::unit_ref; v.u = c.uleb(); break;
    case kRefAddr: v.kind = Value::info_ref; v.u = c.fixed(4); break;
    case kRefSig8: v.kind = Value::sig_ref; v.u = c.fixed(8); break;
    case kBlock1: case kBlock2: case kBlock4: case kBlock: case kExprloc: {
      const std::uint64_t n = form == kBlock1 ? c.fixed(1) : form == kBlock2 ? c.fixed(2)
                            : form == kBlock4 ? c.fixed(4) : c.uleb();
      v.kind = Value::block;
      v.data = c.p;
      v.len = n;
      if (!c.skip(n)) return false;
      break;
    }
    default:
      v.kind = Value::unsupported;
      v.u = form;
      return skip_form(c, form, u, why);
  }
  return c.ok;
}

}  // namespace tlpstub::kernel::dwarf_read
