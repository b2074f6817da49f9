#include "kernel/export/dwarf_writer.hpp"

#include <map>
#include <unordered_map>

namespace tlpstub::kernel::dwarf {

namespace {

// DWARF 4 constants (DWARF 4 standard, section 7).
enum Tag : std::uint16_t {
  kTagArray = 0x01, kTagEnumeration = 0x04, kTagFormalParameter = 0x05, kTagMember = 0x0d,
  kTagPointer = 0x0f, kTagCompileUnit = 0x11, kTagStructure = 0x13, kTagSubroutine = 0x15,
  kTagTypedef = 0x16, kTagUnion = 0x17, kTagUnspecifiedParameters = 0x18,
  kTagSubrange = 0x21, kTagBaseType = 0x24, kTagConst = 0x26, kTagEnumerator = 0x28,
  kTagVariable = 0x34, kTagVolatile = 0x35, kTagRestrict = 0x37,
};
enum Attr : std::uint16_t {
  kAtLocation = 0x02, kAtName = 0x03, kAtByteSize = 0x0b, kAtBitSize = 0x0d,
  kAtLanguage = 0x13, kAtConstValue = 0x1c, kAtProducer = 0x25, kAtPrototyped = 0x27,
  kAtUpperBound = 0x2f, kAtCount = 0x37, kAtDataMemberLocation = 0x38,
  kAtDeclaration = 0x3c, kAtEncoding = 0x3e, kAtExternal = 0x3f, kAtType = 0x49,
  kAtDataBitOffset = 0x6b,
};
enum Form : std::uint16_t {
  kFormData1 = 0x0b, kFormData4 = 0x06, kFormSdata = 0x0d, kFormStrp = 0x0e,
  kFormUdata = 0x0f, kFormRef4 = 0x13, kFormExprloc = 0x18, kFormFlagPresent = 0x19,
};
enum Encoding : std::uint8_t {
  kAteBoolean = 2, kAteFloat = 4, kAteSigned = 5, kAteSignedChar = 6, kAteUnsigned = 7,
  kAteUnsignedChar = 8,
};
constexpr std::uint8_t kLangC99 = 0x0c;
constexpr std::uint8_t kOpAddr = 0x03;

using AttrList = std::vector<std::pair<std::uint16_t, std::uint16_t>>;

void put_uleb(std::vector<std::uint8_t>& out, std::uint64_t v) {
  do {
    std::uint8_t b = v & 0x7f;
    v >>= 7;
    out.push_back(v ? (b | 0x80) : b);
  } while (v);
}

void put_sleb(std::vector<std::uint8_t>& out, std::int64_t v) {
  for (;;) {
    std::uint8_t b = v & 0x7f;
    v >>= 7;  // arithmetic shift (C++20)
    bool done = (v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40));
    out.push_back(done ? b : (b | 0x80));
    if (done) return;
  }
}

void put_le(std::vector<std::uint8_t>& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

// Writes DIEs, interning one abbreviation per distinct (tag, children, attribute list), and
// patches type references once every type's DIE offset is known.
class Emitter {
 public:
  explicit Emitter(const btf::Btf& b) : btf_(b), die_of_(b.type_count() + 1, 0) {}

  void begin(std::uint16_t tag, bool children, const AttrList& attrs) {
    std::vector<std::uint16_t> key{tag, children};
    for (auto [a, f] : attrs) {
      key.push_back(a);
      key.push_back(f);
    }
    auto [it, inserted] = codes_.try_emplace(key, static_cast<std::uint32_t>(codes_.size() + 1));
    if (inserted) {
      put_uleb(out_.abbrev, it->second);
      put_uleb(out_.abbrev, tag);
      out_.abbrev.push_back(children ? 1 : 0);
      for (auto [a, f] : attrs) {
        put_uleb(out_.abbrev, a);
        put_uleb(out_.abbrev, f);
      }
      out_.abbrev.push_back(0);
      out_.abbrev.push_back(0);
    }
    put_uleb(out_.info, it->second);
  }
  void end_children() { out_.info.push_back(0); }
  void strp(std::string_view s) {
    auto [it, inserted] =
        strings_.try_emplace(std::string(s), static_cast<std::uint32_t>(out_.str.size()));
    if (inserted) {
      out_.str.insert(out_.str.end(), s.begin(), s.end());
      out_.str.push_back(0);
    }
    put_le(out_.info, it->second, 4);
  }
  void data1(std::uint64_t v) { put_le(out_.info, v, 1); }
  void data4(std::uint64_t v) { put_le(out_.info, v, 4); }
  void udata(std::uint64_t v) { put_uleb(out_.info, v); }
  void sdata(std::int64_t v) { put_sleb(out_.info, v); }
  // A reference to the DIE of BTF type `id` (resolved: see resolve()), patched in finish().
  void ref(std::uint32_t id) {
    fixups_.push_back({out_.info.size(), id});
    put_le(out_.info, 0, 4);
  }
  void ref_offset(std::uint32_t off) { put_le(out_.info, off, 4); }
  std::uint32_t offset() const { return static_cast<std::uint32_t>(out_.info.size()); }
  void mark(std::uint32_t id) { die_of_[id] = offset(); }

  // The BTF type a reference to `id` lands on: TYPE_TAGs are skipped, and ids that are no
  // type (FUNC, VAR, DATASEC, DECL_TAG, out of range) become void (0).
  std::uint32_t resolve(std::uint32_t id) const {
    for (int depth = 0; depth < btf::kMaxDepth; ++depth) {
      if (id == 0 || id > btf_.type_count()) return 0;
      const btf::Type& t = btf_.type(id);
      switch (t.kind) {
        case btf::Kind::type_tag: id = t.size_or_type; continue;
        case btf::Kind::func:
        case btf::Kind::var:
        case btf::Kind::datasec:
        case btf::Kind::decl_tag:
        case btf::Kind::void_: return 0;
        default: return id;
      }
    }
    return 0;
  }

  Sections finish() {
    for (auto [pos, id] : fixups_) {
      std::uint32_t off = die_of_[resolve(id)];
      for (int i = 0; i < 4; ++i) out_.info[pos + i] = static_cast<std::uint8_t>(off >> (8 * i));
    }
    out_.abbrev.push_back(0);
    return std::move(out_);
  }
  Sections& out() { return out_; }

 private:
  const btf::Btf& btf_;
  Sections out_;
  std::map<std::vector<std::uint16_t>, std::uint32_t> codes_;
  std::unordered_map<std::string, std::uint32_t> strings_;
  std::vector<std::pair<std::size_t, std::uint32_t>> fixups_;
  std::vector<std::uint32_t> die_of_;  // by BTF id
};

// Writes one DIE for a BTF type (with its children), or nothing for kinds that have none.
class TypeWriter {
 public:
  TypeWriter(const btf::Btf& b, Emitter& e, std::uint32_t index_type)
      : b_(b), e_(e), index_type_(index_type) {}

  bool write(std::uint32_t id) {
    const btf::Type& t = b_.type(id);
    switch (t.kind) {
      case btf::Kind::int_: return base(id, t, int_encoding(t));
      case btf::Kind::float_: return base(id, t, kAteFloat);
      case btf::Kind::ptr: return with_type(id, kTagPointer, t.size_or_type, true);
      case btf::Kind::typedef_: return with_type(id, kTagTypedef, t.size_or_type, false, true);
      case btf::Kind::const_: return with_type(id, kTagConst, t.size_or_type);
      case btf::Kind::volatile_: return with_type(id, kTagVolatile, t.size_or_type);
      case btf::Kind::restrict_: return with_type(id, kTagRestrict, t.size_or_type);
      case btf::Kind::array: return array(id, t);
      case btf::Kind::struct_:
      case btf::Kind::union_: return composite(id, t);
      case btf::Kind::enum_:
      case btf::Kind::enum64: return enumeration(id, t);
      case btf::Kind::fwd: return forward(id, t);
      case btf::Kind::func_proto: return prototype(id, t);
      default: return false;
    }
  }

 private:
  static std::uint8_t int_encoding(const btf::Type& t) {
    const std::uint32_t enc = (t.extra[0] >> 24) & 0xf;  // BTF_INT_SIGNED 1, CHAR 2, BOOL 4
    if (enc & 4) return kAteBoolean;
    if (enc & 2) return (enc & 1) ? kAteSignedChar : kAteUnsignedChar;
    if (t.size_or_type == 1 && (enc & 1)) return kAteSignedChar;  // "char", "signed char"
    if (t.size_or_type == 1) return kAteUnsignedChar;
    return (enc & 1) ? kAteSigned : kAteUnsigned;
  }

  bool base(std::uint32_t id, const btf::Type& t, std::uint8_t encoding) {
    e_.mark(id);
    e_.begin(kTagBaseType, false,
             {{kAtName, kFormStrp}, {kAtEncoding, kFormData1}, {kAtByteSize, kFormUdata}});
    e_.strp(b_.name(t.name_off));
    e_.data1(encoding);
    e_.udata(t.size_or_type);
    return true;
  }

  // A DIE whose only content is an optional name and an optional DW_AT_type.
  bool with_type(std::uint32_t id, std::uint16_t tag, std::uint32_t target, bool pointer = false,
                 bool named = false) {
    const bool typed = e_.resolve(target) != 0;
    AttrList attrs;
    if (named) attrs.push_back({kAtName, kFormStrp});
    if (pointer) attrs.push_back({kAtByteSize, kFormData1});
    if (typed) attrs.push_back({kAtType, kFormRef4});
    e_.mark(id);
    e_.begin(tag, false, attrs);
    if (named) e_.strp(b_.name_of(id));
    if (pointer) e_.data1(8);
    if (typed) e_.ref(target);
    return true;
  }

  bool array(std::uint32_t id, const btf::Type& t) {
    const std::uint32_t elem = t.extra[0], n = t.extra[2];
    const bool typed = e_.resolve(elem) != 0;
    e_.mark(id);
    e_.begin(kTagArray, true, typed ? AttrList{{kAtType, kFormRef4}} : AttrList{});
    if (typed) e_.ref(elem);
    if (n > 0) {
      e_.begin(kTagSubrange, false, {{kAtType, kFormRef4}, {kAtUpperBound, kFormUdata}});
      e_.ref_offset(index_type_);
      e_.udata(n - 1);
    } else {
      e_.begin(kTagSubrange, false, {{kAtType, kFormRef4}, {kAtCount, kFormData1}});
      e_.ref_offset(index_type_);
      e_.data1(0);
    }
    e_.end_children();
    return true;
  }

  // BTF without kind_flag (before pahole 1.16-ish) gives a bitfield's width in its INT type's
  // encoding word (offset bits 16-23, width bits 0-7), not in the member.
  btf::MemberRef bitfield_of(const btf::Type& c, const btf::Item& m) const {
    btf::MemberRef r = b_.member_ref(c, m);
    if (c.kind_flag) return r;
    auto s = b_.strip(m.type);
    if (!s) return r;
    const btf::Type& it = b_.type(*s);
    if (it.kind != btf::Kind::int_) return r;
    const std::uint32_t bits = it.extra[0] & 0xff, off = (it.extra[0] >> 16) & 0xff;
    if (bits != 0 && (bits != it.size_or_type * 8 || off != 0)) {
      r.bitfield_size = bits;
      r.bit_offset += off;
    }
    return r;
  }

  bool composite(std::uint32_t id, const btf::Type& t) {
    const std::string_view name = b_.name(t.name_off);
    AttrList attrs;
    if (!name.empty()) attrs.push_back({kAtName, kFormStrp});
    attrs.push_back({kAtByteSize, kFormUdata});
    e_.mark(id);
    e_.begin(t.kind == btf::Kind::union_ ? kTagUnion : kTagStructure, t.vlen > 0, attrs);
    if (!name.empty()) e_.strp(name);
    e_.udata(t.size_or_type);
    if (t.vlen == 0) return true;
    for (const btf::Item& m : b_.items(t)) {
      const std::string_view mname = b_.name(m.name_off);
      const btf::MemberRef r = bitfield_of(t, m);
      const bool typed = e_.resolve(m.type) != 0;
      AttrList ma;
      if (!mname.empty()) ma.push_back({kAtName, kFormStrp});
      if (typed) ma.push_back({kAtType, kFormRef4});
      if (r.bitfield_size) {
        ma.push_back({kAtDataBitOffset, kFormUdata});
        ma.push_back({kAtBitSize, kFormUdata});
      } else {
        ma.push_back({kAtDataMemberLocation, kFormUdata});
      }
      e_.begin(kTagMember, false, ma);
      if (!mname.empty()) e_.strp(mname);
      if (typed) e_.ref(m.type);
      if (r.bitfield_size) {
        e_.udata(r.bit_offset);
        e_.udata(r.bitfield_size);
      } else {
        e_.udata(r.bit_offset / 8);
      }
    }
    e_.end_children();
    return true;
  }

  bool enumeration(std::uint32_t id, const btf::Type& t) {
    const std::string_view name = b_.name(t.name_off);
    AttrList attrs;
    if (!name.empty()) attrs.push_back({kAtName, kFormStrp});
    attrs.push_back({kAtByteSize, kFormUdata});
    if (t.vlen == 0) attrs.push_back({kAtDeclaration, kFormFlagPresent});
    e_.mark(id);
    e_.begin(kTagEnumeration, t.vlen > 0, attrs);
    if (!name.empty()) e_.strp(name);
    e_.udata(t.size_or_type);
    if (t.vlen == 0) return true;
    // kind_flag: the values are signed (include/uapi/linux/btf.h, 6.0+); else unsigned.
    const std::uint16_t form = t.kind_flag ? kFormSdata : kFormUdata;
    for (const btf::Item& v : b_.items(t)) {
      e_.begin(kTagEnumerator, false, {{kAtName, kFormStrp}, {kAtConstValue, form}});
      e_.strp(b_.name(v.name_off));
      if (t.kind_flag)
        e_.sdata(v.value);
      else
        e_.udata(static_cast<std::uint64_t>(v.value));
    }
    e_.end_children();
    return true;
  }

  bool forward(std::uint32_t id, const btf::Type& t) {
    e_.mark(id);
    e_.begin(t.kind_flag ? kTagUnion : kTagStructure, false,
             {{kAtName, kFormStrp}, {kAtDeclaration, kFormFlagPresent}});
    e_.strp(b_.name(t.name_off));
    return true;
  }

  bool prototype(std::uint32_t id, const btf::Type& t) {
    const bool typed = e_.resolve(t.size_or_type) != 0;
    AttrList attrs{{kAtPrototyped, kFormFlagPresent}};
    if (typed) attrs.push_back({kAtType, kFormRef4});
    e_.mark(id);
    e_.begin(kTagSubroutine, t.vlen > 0, attrs);
    if (typed) e_.ref(t.size_or_type);
    if (t.vlen == 0) return true;
    for (const btf::Item& p : b_.items(t)) {
      if (p.type == 0) {  // a trailing void parameter means "..."
        e_.begin(kTagUnspecifiedParameters, false, {});
        continue;
      }
      e_.begin(kTagFormalParameter, false, {{kAtType, kFormRef4}});
      e_.ref(p.type);
    }
    e_.end_children();
    return true;
  }

  const btf::Btf& b_;
  Emitter& e_;
  std::uint32_t index_type_;
};

}  // namespace

Sections write_dwarf(const btf::Btf& btf, const std::vector<Variable>& variables) {
  Emitter e(btf);
  // Compile unit header, unit_length patched at the end.
  put_le(e.out().info, 0, 4);
  put_le(e.out().info, 4, 2);  // version
  put_le(e.out().info, 0, 4);  // debug_abbrev_offset
  e.out().info.push_back(8);   // address_size
  e.begin(kTagCompileUnit, true,
          {{kAtProducer, kFormStrp}, {kAtLanguage, kFormData1}, {kAtName, kFormStrp}});
  e.strp("tlpstub: DWARF from the kernel's BTF");
  e.data1(kLangC99);
  e.strp("<kernel types from BTF>");
  // The index type of every array (BTF's own is an int with no meaning for gdb).
  const std::uint32_t index_type = e.offset();
  e.begin(kTagBaseType, false,
          {{kAtName, kFormStrp}, {kAtEncoding, kFormData1}, {kAtByteSize, kFormUdata}});
  e.strp("__ARRAY_SIZE_TYPE__");
  e.data1(kAteUnsigned);
  e.udata(4);

  TypeWriter tw(btf, e, index_type);
  std::uint64_t types = 0;
  for (std::uint32_t id = 1; id <= btf.type_count(); ++id) types += tw.write(id) ? 1 : 0;

  std::uint64_t vars = 0;
  for (const Variable& v : variables) {
    if (e.resolve(v.type) == 0) continue;
    e.begin(kTagVariable, false,
            {{kAtName, kFormStrp},
             {kAtType, kFormRef4},
             {kAtExternal, kFormFlagPresent},
             {kAtLocation, kFormExprloc}});
    e.strp(v.name);
    e.ref(v.type);
    e.udata(9);  // exprloc length: DW_OP_addr + 8 address bytes
    e.data1(kOpAddr);
    put_le(e.out().info, v.address, 8);
    ++vars;
  }
  e.end_children();

  Sections s = e.finish();
  const auto unit_length = static_cast<std::uint32_t>(s.info.size() - 4);
  for (int i = 0; i < 4; ++i) s.info[i] = static_cast<std::uint8_t>(unit_length >> (8 * i));
  s.type_dies = types;
  s.variables = vars;
  return s;
}

}  // namespace tlpstub::kernel::dwarf
