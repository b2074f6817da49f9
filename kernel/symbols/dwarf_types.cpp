// The DWARF walk and type resolution (dwarf_types.hpp); forms and headers in dwarf_forms.cpp.
#include "kernel/symbols/dwarf_types.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "kernel/symbols/dwarf_detail.hpp"
#include "kernel/symbols/member_path.hpp"

namespace tlpstub::kernel::dwarf_read {

namespace {

// DIE nesting in kernel units is under 20 deep; type chains (typedef -> const -> ...) and
// anonymous members as in btf.hpp.
constexpr int kDwtMaxNest = 1024;
constexpr int kDwtMaxDepth = 32;
constexpr std::uint64_t kDwtMaxVisits = 1u << 16;
constexpr std::uint32_t kDwtNone = 0xffffffff;
constexpr std::size_t kDwtMaxTypeName = 512;

Error dwt_bad(std::string what) { return Error{Errc::malformed, std::move(what), 0}; }

enum DieFlag : std::uint16_t {
  kHasByteSize = 1, kHasLoc = 2, kLocBad = 4, kHasDataBitOffset = 8, kHasBitOffset = 16,
  kHasCount = 32, kDecl = 64, kCountUnknown = 128,
};

bool dwt_keeps(std::uint32_t tag) {
  switch (tag) {
    case kTagArray: case kTagEnum: case kTagMember: case kTagPointer: case kTagStruct:
    case kTagSubroutine: case kTagTypedef: case kTagUnion: case kTagUnspecifiedParams:
    case kTagFormalParam: case kTagSubrange: case kTagBase: case kTagConst: case kTagVolatile:
    case kTagRestrict: case kTagAtomic: case kTagClass: return true;
    default: return false;
  }
}

bool dwt_composite(std::uint32_t tag) {
  return tag == kTagStruct || tag == kTagUnion || tag == kTagClass;
}

bool dwt_modifier(std::uint32_t tag) {
  return tag == kTagTypedef || tag == kTagConst || tag == kTagVolatile || tag == kTagRestrict ||
         tag == kTagAtomic;
}

}  // namespace

// A decoded type DIE; children linked in DIE order.
struct Die {
  std::uint64_t off = 0;
  std::uint32_t tag = 0;
  std::uint32_t self = 0;  // index in its unit's vector, so children are found from any DIE
  std::uint32_t first_child = kDwtNone, next = kDwtNone;
  std::uint16_t flags = 0;
  std::string_view name;
  std::uint64_t type = 0;  // .debug_info offset of DW_AT_type's DIE; 0: none (void)
  std::uint64_t byte_size = 0, loc = 0, data_bit_offset = 0, bit_size = 0, count = 0;
  std::int64_t bit_offset = 0;
};

// The DIE at index `i` of the unit vector holding `d` (nullptr for kDwtNone).
const Die* child(const Die& d, std::uint32_t i) {
  return i == kDwtNone ? nullptr : &d - d.self + i;
}

struct DwarfTypes::Impl {
  Sections s;
  std::vector<Unit> units;
  std::unordered_map<std::uint64_t, AbbrevTable> abbrevs;  // by offset * 16 + address size
  std::unordered_set<std::string_view> wanted;
  std::unordered_map<std::string, std::uint64_t> defs;  // name -> DIE of its definition
  std::unordered_map<std::uint64_t, std::uint64_t> sigs;  // type unit signature -> DIE
  std::unordered_map<std::size_t, std::vector<Die>> decoded;  // unit index -> its type DIEs
  Stats stats;

  Result<const AbbrevTable*> table(const Unit& u);
  Result<std::string_view> str(const Value& v, const Unit& u) const;
  Result<void> scan(Unit& u);
  Result<const std::vector<Die>*> decode(std::size_t unit_index);
  Result<void> decode_attrs(Cursor& c, const Abbrev& a, const AbbrevTable& t, const Unit& u,
                            Die& d);
  Result<const Die*> die_at(std::uint64_t off);
  Result<const Die*> strip(std::uint64_t ref);
  Result<std::uint64_t> size_of(std::uint64_t ref, int depth = 0);
  Result<std::uint64_t> member_bits(const Die& m);
  Result<std::optional<std::pair<std::uint64_t, const Die*>>> find_in(
      const Die& comp, std::string_view name, int depth, std::uint64_t& visits);
  std::string type_name(std::uint64_t ref, int depth, int& budget);
  std::string where(std::uint64_t off) const { return fmt::format(".debug_info+{:#x}", off); }
};

Result<const AbbrevTable*> DwarfTypes::Impl::table(const Unit& u) {
  const std::uint64_t key = u.abbrev_off * 16 + u.addr_size;
  if (auto it = abbrevs.find(key); it != abbrevs.end()) return &it->second;
  auto t = parse_abbrevs(s.abbrev, u.abbrev_off, u.addr_size);
  if (!t)
    return std::unexpected(dwt_bad(fmt::format("unit at {:#x}: {}", u.off, t.error().message)));
  return &abbrevs.emplace(key, std::move(*t)).first->second;
}

Result<std::string_view> DwarfTypes::Impl::str(const Value& v, const Unit& u) const {
  auto in = [](std::span<const std::uint8_t> sec, std::uint64_t off,
               std::string_view name) -> Result<std::string_view> {
    if (off >= sec.size())
      return std::unexpected(dwt_bad(fmt::format("string offset {:#x} past the end of {}", off,
                                                 name)));
    const char* p = reinterpret_cast<const char*>(sec.data() + off);
    const void* z = std::memchr(p, 0, sec.size() - off);
    if (!z) return std::unexpected(dwt_bad(fmt::format("string at {}+{:#x} not ended", name, off)));
    return std::string_view(p, static_cast<std::size_t>(static_cast<const char*>(z) - p));
  };
  switch (v.kind) {
    case Value::string:
      return std::string_view(reinterpret_cast<const char*>(v.data), v.len);
    case Value::strp: return in(s.str, v.u, ".debug_str");
    case Value::line_strp: return in(s.line_str, v.u, ".debug_line_str");
    case Value::strx: {
      const std::uint64_t at = u.str_offsets_base + v.u * 4;
      if (v.u > s.str_offsets.size() / 4 || at + 4 > s.str_offsets.size())
        return std::unexpected(dwt_bad(fmt::format(
            "string index {} past the end of .debug_str_offsets", v.u)));
      std::uint64_t off = 0;
      for (int i = 0; i < 4; ++i) off |= std::uint64_t{s.str_offsets[at + i]} << (8 * i);
      return in(s.str, off, ".debug_str");
    }
    default: return std::unexpected(dwt_bad("a name of a form that is not a string"));
  }
}

// One unit, skipping: notes the wanted definitions, type unit signatures and the unit's
// DW_AT_str_offsets_base.
namespace {
// Skips the attributes of a DIE whose values nobody reads (both passes): a DIE of fixed size
// in one step. A failure leaves c.ok false and, where known, the reason in *why.
void dwt_skip_attrs(Cursor& c, const Abbrev& a, const AbbrevTable& t, const Unit& u,
                    std::string* why) {
  if (a.fixed >= 0) {
    c.skip(static_cast<std::uint64_t>(a.fixed));
    return;
  }
  for (std::uint32_t i = 0; i < a.count && c.ok; ++i)
    skip_form(c, t.specs[a.first + i].form, u, why);
}
}  // namespace

Result<void> DwarfTypes::Impl::scan(Unit& u) {
  auto tab = table(u);
  if (!tab) return std::unexpected(tab.error());
  const AbbrevTable& t = **tab;
  const std::uint8_t* base = s.info.data();
  Cursor c{base + u.dies, base + u.end};
  int depth = 0;
  bool first = true;
  std::string why;
  while (c.p < c.end) {
    const std::uint64_t at = static_cast<std::uint64_t>(c.p - base);
    const std::uint64_t code = c.uleb();
    if (!c.ok)
      return std::unexpected(dwt_bad(fmt::format(
          "{}: abbreviation code runs past the end of its unit", where(at))));
    if (code == 0) {
      if (depth == 0)
        return std::unexpected(dwt_bad(fmt::format("{}: a null entry outside any DIE's children",
                                                   where(at))));
      --depth;
      continue;
    }
    const Abbrev* a = t.find(code);
    if (!a)
      return std::unexpected(dwt_bad(fmt::format(
          "{}: abbreviation code {} is not in the unit's table", where(at), code)));
    ++stats.dies;
    const bool named_type = dwt_composite(a->tag);
    if (first || named_type) {
      std::string_view name;
      bool decl = false;
      for (std::uint32_t i = 0; i < a->count; ++i) {
        const AttrSpec& sp = t.specs[a->first + i];
        if (sp.attr != kAtName && sp.attr != kAtDeclaration && sp.attr != kAtStrOffsetsBase) {
          if (!skip_form(c, sp.form, u, &why)) break;
          continue;
        }
        Value v;
        if (!read_form(c, sp, u, v, &why)) break;
        if (sp.attr == kAtDeclaration) decl = v.u != 0;
        if (sp.attr == kAtStrOffsetsBase && first) u.str_offsets_base = v.u;
        if (sp.attr == kAtName && named_type) {
          auto n = str(v, u);
          if (!n)
            return std::unexpected(dwt_bad(fmt::format("{}: {}", where(at), n.error().message)));
          name = *n;
        }
      }
      if (named_type && !decl && c.ok && !name.empty() && wanted.contains(name) &&
          !defs.contains(std::string(name)))
        defs.emplace(std::string(name), at);
    } else {
      dwt_skip_attrs(c, *a, t, u, &why);
    }
    if (!c.ok)
      return std::unexpected(dwt_bad(fmt::format(
          "{}: DIE (abbreviation {}) {}", where(at), code,
          why.empty() ? "runs past the end of its unit" : why)));
    if (first && depth == 0 && !a->children && c.p < c.end)
      return std::unexpected(dwt_bad(fmt::format(
          "{}: the unit DIE has no children but more DIEs follow it", where(at))));
    first = false;
    if (a->children && ++depth > kDwtMaxNest)
      return std::unexpected(dwt_bad(fmt::format("{}: DIEs nest deeper than {}", where(at),
                                                 kDwtMaxNest)));
  }
  if (depth != 0)
    return std::unexpected(dwt_bad(fmt::format(
        "unit at {:#x} ends inside {} open DIE(s) (truncated?)", u.off, depth)));
  if (u.type == 2) sigs.emplace(u.signature, u.off + u.type_off);
  return {};
}

Result<void> DwarfTypes::Impl::decode_attrs(Cursor& c, const Abbrev& a, const AbbrevTable& t,
                                            const Unit& u, Die& d) {
  std::string why;
  for (std::uint32_t i = 0; i < a.count; ++i) {
    const AttrSpec& sp = t.specs[a.first + i];
    switch (sp.attr) {
      case kAtName: case kAtType: case kAtByteSize: case kAtBitOffset: case kAtBitSize:
      case kAtUpperBound: case kAtCount: case kAtDataMemberLocation: case kAtDeclaration:
      case kAtDataBitOffset: break;
      default:
        if (!skip_form(c, sp.form, u, &why)) return std::unexpected(dwt_bad(why));
        continue;
    }
    Value v;
    if (!read_form(c, sp, u, v, &why)) return std::unexpected(dwt_bad(why));
    const bool num = v.kind == Value::constant || v.kind == Value::signed_;
    const std::uint64_t n = v.kind == Value::signed_ ? static_cast<std::uint64_t>(v.s) : v.u;
    switch (sp.attr) {
      case kAtName: {
        auto nm = str(v, u);
        if (!nm) return std::unexpected(nm.error());
        d.name = *nm;
        break;
      }
      case kAtType:
        if (v.kind == Value::unit_ref) {
          if (v.u >= u.end - u.off)
            return std::unexpected(dwt_bad(fmt::format("type reference {:#x} outside its unit",
                                                       v.u)));
          d.type = u.off + v.u;
        } else if (v.kind == Value::info_ref) {
          d.type = v.u;
        } else if (v.kind == Value::sig_ref) {
          auto it = sigs.find(v.u);
          if (it == sigs.end())
            return std::unexpected(dwt_bad(fmt::format("no type unit of signature {:#x}", v.u)));
          d.type = it->second;
        } else {
          return std::unexpected(dwt_bad(fmt::format(
              "DW_AT_type of form {:#x} (a supplementary file?) is not supported", sp.form)));
        }
        break;
      case kAtByteSize:
        if (num) d.byte_size = n, d.flags |= kHasByteSize;
        break;
      case kAtBitSize: if (num) d.bit_size = n; break;
      case kAtBitOffset:
        if (num) d.bit_offset = static_cast<std::int64_t>(n), d.flags |= kHasBitOffset;
        break;
      case kAtDataBitOffset:
        if (num) d.data_bit_offset = n, d.flags |= kHasDataBitOffset;
        break;
      case kAtDeclaration: if (v.u) d.flags |= kDecl; break;
      case kAtCount:
        if (num) d.count = n, d.flags |= kHasCount;
        else d.flags |= kCountUnknown;
        break;
      case kAtUpperBound:
        // [0] arrays carry upper bound -1 (GCC); an expression bound (a VLA) is unknown.
        if (!num) d.flags |= kCountUnknown;
        else if (!(d.flags & kHasCount))
          d.count = (v.kind == Value::signed_ && v.s < 0) || n == ~std::uint64_t{0} ? 0 : n + 1,
          d.flags |= kHasCount;
        break;
      case kAtDataMemberLocation:
        d.flags |= kHasLoc;
        if (num) {
          d.loc = n;
        } else if (v.kind == Value::block && v.len > 0 && v.data[0] == 0x23) {
          // DW_OP_plus_uconst N, the whole expression (DWARF 2-3 producers).
          Cursor e{v.data + 1, v.data + v.len};
          d.loc = e.uleb();
          if (!e.ok || e.p != e.end) d.flags |= kLocBad;
        } else {
          d.flags |= kLocBad;
        }
        break;
      default: break;
    }
  }
  return {};
}

// Decodes the type DIEs of one unit (formal parameters only under a subroutine type).
Result<const std::vector<Die>*> DwarfTypes::Impl::decode(std::size_t ui) {
  if (auto it = decoded.find(ui); it != decoded.end()) return &it->second;
  const Unit& u = units[ui];
  auto tab = table(u);
  if (!tab) return std::unexpected(tab.error());
  const AbbrevTable& t = **tab;
  const std::uint8_t* base = s.info.data();
  Cursor c{base + u.dies, base + u.end};
  struct Open {
    std::uint32_t die, last;
    std::uint32_t tag;
  };
  std::vector<Open> stack;
  std::vector<Die> dies;
  std::string why;
  while (c.p < c.end) {
    const std::uint64_t at = static_cast<std::uint64_t>(c.p - base);
    const std::uint64_t code = c.uleb();
    if (!c.ok)
      return std::unexpected(dwt_bad(fmt::format(
          "{}: abbreviation code runs past the end of its unit", where(at))));
    if (code == 0) {
      if (stack.empty())
        return std::unexpected(dwt_bad(fmt::format("{}: a null entry outside any DIE's children",
                                                   where(at))));
      stack.pop_back();
      continue;
    }
    const Abbrev* a = t.find(code);
    if (!a)
      return std::unexpected(dwt_bad(fmt::format(
          "{}: abbreviation code {} is not in the unit's table", where(at), code)));
    const std::uint32_t parent_tag = stack.empty() ? 0 : stack.back().tag;
    const bool keep = dwt_keeps(a->tag) &&
                      (a->tag != kTagFormalParam || parent_tag == kTagSubroutine);
    std::uint32_t idx = kDwtNone;
    if (keep) {
      Die d;
      d.off = at;
      d.tag = a->tag;
      if (auto r = decode_attrs(c, *a, t, u, d); !r)
        return std::unexpected(dwt_bad(fmt::format("{}: {}", where(at), r.error().message)));
      idx = static_cast<std::uint32_t>(dies.size());
      d.self = idx;
      dies.push_back(d);
      if (!stack.empty() && stack.back().die != kDwtNone) {
        Open& p = stack.back();
        if (p.last == kDwtNone) dies[p.die].first_child = idx;
        else dies[p.last].next = idx;
        p.last = idx;
      }
    } else {
      dwt_skip_attrs(c, *a, t, u, &why);
    }
    if (!c.ok)
      return std::unexpected(dwt_bad(fmt::format(
          "{}: DIE (abbreviation {}) {}", where(at), code,
          why.empty() ? "runs past the end of its unit" : why)));
    if (a->children) {
      if (stack.size() >= static_cast<std::size_t>(kDwtMaxNest))
        return std::unexpected(dwt_bad(fmt::format("{}: DIEs nest deeper than {}", where(at),
                                                   kDwtMaxNest)));
      stack.push_back({idx, kDwtNone, a->tag});
    }
  }
  ++stats.decoded_units;
  stats.decoded_dies += dies.size();
  return &decoded.emplace(ui, std::move(dies)).first->second;
}

Result<const Die*> DwarfTypes::Impl::die_at(std::uint64_t off) {
  auto it = std::upper_bound(units.begin(), units.end(), off,
                             [](std::uint64_t o, const Unit& u) { return o < u.off; });
  if (it == units.begin() || off >= std::prev(it)->end)
    return std::unexpected(dwt_bad(fmt::format("{}: no unit holds this DIE", where(off))));
  auto dies = decode(static_cast<std::size_t>(std::prev(it) - units.begin()));
  if (!dies) return std::unexpected(dies.error());
  auto d = std::lower_bound((*dies)->begin(), (*dies)->end(), off,
                            [](const Die& x, std::uint64_t o) { return x.off < o; });
  if (d == (*dies)->end() || d->off != off)
    return std::unexpected(dwt_bad(fmt::format("{}: no type DIE starts here", where(off))));
  return &*d;
}

// Through typedefs and qualifiers; a struct declaration to its wanted definition.
Result<const Die*> DwarfTypes::Impl::strip(std::uint64_t ref) {
  for (int i = 0; i < kDwtMaxDepth; ++i) {
    if (ref == 0) return std::unexpected(Error{Errc::invalid_argument, "type is void", 0});
    auto d = die_at(ref);
    if (!d) return d;
    if (!dwt_modifier((*d)->tag)) {
      if (dwt_composite((*d)->tag) && ((*d)->flags & kDecl)) {
        auto it = defs.find(std::string((*d)->name));
        if (it == defs.end())
          return std::unexpected(Error{Errc::not_found, fmt::format(
              "{}: only a declaration of '{}'", where(ref), (*d)->name), 0});
        return die_at(it->second);
      }
      return d;
    }
    ref = (*d)->type;
  }
  return std::unexpected(dwt_bad(fmt::format("{}: type chain deeper than {} (a cycle?)",
                                             where(ref), kDwtMaxDepth)));
}

Result<std::uint64_t> DwarfTypes::Impl::size_of(std::uint64_t ref, int depth) {
  if (depth >= kDwtMaxDepth)
    return std::unexpected(dwt_bad(fmt::format("{}: type chain deeper than {} (a cycle?)",
                                               where(ref), kDwtMaxDepth)));
  if (ref == 0) return std::unexpected(Error{Errc::invalid_argument, "void has no size", 0});
  auto dp = die_at(ref);
  if (!dp) return std::unexpected(dp.error());
  const Die& d = **dp;
  if (dwt_modifier(d.tag)) return size_of(d.type, depth + 1);
  if (dwt_composite(d.tag) && (d.flags & kDecl)) {
    auto def = strip(ref);
    if (!def) return std::unexpected(def.error());
    return (*def)->byte_size;
  }
  if (d.tag == kTagPointer) return (d.flags & kHasByteSize) ? d.byte_size : 8;
  if (d.tag == kTagArray) {
    auto elem = size_of(d.type, depth + 1);
    if (!elem) return elem;
    std::uint64_t n = *elem;
    for (const Die* c = child(d, d.first_child); c; c = child(d, c->next)) {
      if (c->tag != kTagSubrange) continue;
      if (c->count != 0 && n > ~std::uint64_t{0} / c->count)
        return std::unexpected(dwt_bad(fmt::format("{}: array size overflows", where(ref))));
      n *= c->count;
    }
    return n;
  }
  if (d.flags & kHasByteSize) return d.byte_size;
  return std::unexpected(dwt_bad(fmt::format("{}: type (tag {:#x}) without a size", where(ref),
                                             d.tag)));
}

Result<std::uint64_t> DwarfTypes::Impl::member_bits(const Die& m) {
  if (m.flags & kHasDataBitOffset) return m.data_bit_offset;
  if (m.flags & kLocBad)
    return std::unexpected(dwt_bad(fmt::format(
        "{}: member '{}' has a location that is not a constant or DW_OP_plus_uconst",
        where(m.off), m.name)));
  const std::uint64_t base = (m.flags & kHasLoc) ? m.loc : 0;  // union members have none
  if (base > (~std::uint64_t{0} >> 4))
    return std::unexpected(dwt_bad(fmt::format("{}: member offset {:#x} too large", where(m.off),
                                               base)));
  if (!(m.flags & kHasBitOffset) || m.bit_size == 0) return base * 8;
  // DWARF 2-4: DW_AT_bit_offset counts from the storage unit's most significant bit.
  std::uint64_t storage = m.byte_size;
  if (!(m.flags & kHasByteSize)) {
    auto sz = size_of(m.type);
    if (!sz) return sz;
    storage = *sz;
  }
  const std::int64_t bits = static_cast<std::int64_t>(base * 8 + storage * 8) - m.bit_offset -
                            static_cast<std::int64_t>(m.bit_size);
  if (storage > 64 || m.bit_size > 64 || bits < 0)
    return std::unexpected(dwt_bad(fmt::format(
        "{}: bitfield '{}' (bit offset {}, {} bits in {} bytes) starts before its struct",
        where(m.off), m.name, m.bit_offset, m.bit_size, storage)));
  return static_cast<std::uint64_t>(bits);
}

// As btf.cpp Btf::member: a named member, or one inside an anonymous struct/union member.
Result<std::optional<std::pair<std::uint64_t, const Die*>>> DwarfTypes::Impl::find_in(
    const Die& comp, std::string_view name, int depth, std::uint64_t& visits) {
  using Found = std::optional<std::pair<std::uint64_t, const Die*>>;
  if (depth >= kDwtMaxDepth)
    return std::unexpected(dwt_bad(fmt::format("{}: anonymous members nest deeper than {}",
                                               where(comp.off), kDwtMaxDepth)));
  for (const Die* m = child(comp, comp.first_child); m; m = child(comp, m->next)) {
    if (m->tag != kTagMember) continue;
    if (++visits > kDwtMaxVisits)
      return std::unexpected(dwt_bad("member lookup visited too many members"));
    if (!m->name.empty() && m->name != name) continue;
    auto bits = member_bits(*m);
    if (!bits) return std::unexpected(bits.error());
    if (m->name == name) return Found(std::pair(*bits, m));
    auto inner = strip(m->type);
    if (!inner || !dwt_composite((*inner)->tag)) continue;
    auto f = find_in(**inner, name, depth + 1, visits);
    if (!f) return f;
    if (*f) return Found(std::pair((*f)->first + *bits, (*f)->second));
  }
  return Found();
}

// The spelling btf.cpp Btf::type_name uses, so profiles made from BTF and DWARF compare equal.
std::string DwarfTypes::Impl::type_name(std::uint64_t ref, int depth, int& budget) {
  if (depth >= kDwtMaxDepth || --budget < 0) return "...";
  if (ref == 0) return "void";
  auto dp = die_at(ref);
  if (!dp) return "?";
  const Die& d = **dp;
  auto tagged = [&](std::string_view tag) {
    return d.name.empty() ? fmt::format("{} {{...}}", tag) : fmt::format("{} {}", tag, d.name);
  };
  switch (d.tag) {
    case kTagStruct:
    case kTagClass: return tagged("struct");
    case kTagUnion: return tagged("union");
    case kTagEnum: return tagged("enum");
    case kTagConst: return "const " + type_name(d.type, depth + 1, budget);
    case kTagVolatile: return "volatile " + type_name(d.type, depth + 1, budget);
    case kTagRestrict: return type_name(d.type, depth + 1, budget) + " restrict";
    case kTagAtomic: return "_Atomic " + type_name(d.type, depth + 1, budget);
    case kTagPointer: {
      auto to = d.type ? die_at(d.type) : Result<const Die*>(nullptr);
      if (to && *to && (*to)->tag == kTagSubroutine) {
        const Die& f = **to;
        std::string s = type_name(f.type, depth + 1, budget) + " (*)(";
        bool any = false;
        for (const Die* p = child(f, f.first_child); p && s.size() <= kDwtMaxTypeName;
             p = child(f, p->next)) {
          s += any ? ", " : "";
          s += p->tag == kTagUnspecifiedParams ? "..." : type_name(p->type, depth + 1, budget);
          any = true;
        }
        return s + (any ? ")" : "void)");
      }
      return type_name(d.type, depth + 1, budget) + " *";
    }
    case kTagArray: {
      std::string dims;
      for (const Die* c = child(d, d.first_child); c; c = child(d, c->next))
        if (c->tag == kTagSubrange) dims += fmt::format("[{}]", c->count);
      return type_name(d.type, depth + 1, budget) + dims;
    }
    case kTagSubroutine: return type_name(d.type, depth + 1, budget) + " (...)";
    default: return d.name.empty() ? fmt::format("tag {:#x}", d.tag) : std::string(d.name);
  }
}

DwarfTypes::DwarfTypes(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DwarfTypes::DwarfTypes(DwarfTypes&&) noexcept = default;
DwarfTypes& DwarfTypes::operator=(DwarfTypes&&) noexcept = default;
DwarfTypes::~DwarfTypes() = default;

const Stats& DwarfTypes::stats() const { return impl_->stats; }

Result<DwarfTypes> DwarfTypes::load(const Sections& s, const std::vector<std::string_view>& names) {
  auto impl = std::make_unique<Impl>();
  impl->s = s;
  impl->wanted.insert(names.begin(), names.end());
  if (s.info.empty()) return std::unexpected(dwt_bad(".debug_info is empty"));
  if (s.abbrev.empty()) return std::unexpected(dwt_bad(".debug_abbrev is missing or empty"));
  for (std::uint64_t off = 0; off < s.info.size();) {
    auto u = parse_unit_header(s.info, off);
    if (!u) return std::unexpected(u.error());
    if (auto r = impl->scan(*u); !r) return std::unexpected(r.error());
    ++impl->stats.units;
    impl->units.push_back(*u);
    off = u->end;  // > off: a header is at least 11 bytes
  }
  return DwarfTypes(std::move(impl));
}

Result<FieldInfo> DwarfTypes::member(std::string_view struct_name, std::string_view path) {
  Impl& m = *impl_;
  auto def = m.defs.find(std::string(struct_name));
  if (def == m.defs.end())
    return std::unexpected(Error{Errc::not_found, fmt::format(
        "no definition of struct or union '{}' in .debug_info", struct_name), 0});
  auto cur = m.die_at(def->second);
  if (!cur) return std::unexpected(cur.error());
  std::uint64_t bits = 0, visits = 0;
  const Die* last = nullptr;
  auto parts = split_member_path(path);
  if (!parts) return std::unexpected(parts.error());
  for (std::size_t i = 0; i < parts->size(); ++i) {
    const std::string_view part = (*parts)[i];
    auto f = m.find_in(**cur, part, 0, visits);
    if (!f) return std::unexpected(f.error());
    if (!*f) {
      int name_budget = 64;
      return std::unexpected(Error{Errc::not_found, fmt::format(
          "{} has no member '{}'", m.type_name((*cur)->off, 0, name_budget), part), 0});
    }
    bits += (*f)->first;
    last = (*f)->second;
    if (i + 1 == parts->size()) break;
    if (last->bit_size)
      return std::unexpected(Error{Errc::invalid_argument,
                                   fmt::format("'{}' is a bitfield, it has no members", part), 0});
    cur = m.strip(last->type);
    if (!cur) return std::unexpected(cur.error());
    if (!dwt_composite((*cur)->tag))
      return std::unexpected(Error{Errc::invalid_argument,
                                   fmt::format("'{}' is not a struct or union", part), 0});
  }
  auto size = m.size_of(last->type);
  if (!size) return std::unexpected(size.error());
  int budget = 256;
  std::string tn = m.type_name(last->type, 0, budget);
  if (tn.size() > kDwtMaxTypeName) tn = tn.substr(0, kDwtMaxTypeName) + "...";
  return FieldInfo{bits / 8, *size, bits, static_cast<std::uint32_t>(last->bit_size),
                   std::move(tn), std::string()};
}

Result<std::uint64_t> DwarfTypes::struct_size(std::string_view struct_name) {
  auto def = impl_->defs.find(std::string(struct_name));
  if (def == impl_->defs.end())
    return std::unexpected(Error{Errc::not_found, fmt::format(
        "no definition of struct or union '{}' in .debug_info", struct_name), 0});
  auto d = impl_->die_at(def->second);
  if (!d) return std::unexpected(d.error());
  return (*d)->byte_size;
}

}  // namespace tlpstub::kernel::dwarf_read
