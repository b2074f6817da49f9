#include "kernel/symbols/btf.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <optional>

#include "common/bytes.hpp"

namespace tlpstub::kernel::btf {

namespace {

std::uint16_t load_le16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}

// Work a single member lookup may do (items visited across anonymous members): a hostile blob
// of anonymous members that each hold many more could otherwise cost exponential time.
constexpr std::uint64_t kMaxVisits = 1u << 20;
// Longest type name rendered; past it the name ends in "...".
constexpr std::size_t kMaxTypeName = 512;
// Types one name may visit: function pointers whose parameters are function pointers would
// otherwise cost exponential time in hostile input.
constexpr int kMaxNameCalls = 256;

constexpr std::uint64_t kMaxKind = 19;

// Bytes that follow the 12-byte record, per kind (btf.h: "extra" data), for one list entry
// (`per_item`) and once (`fixed`).
struct Extra {
  std::uint64_t fixed = 0, per_item = 0;
};
Extra extra_of(Kind k) {
  switch (k) {
    case Kind::int_: return {4, 0};
    case Kind::array: return {12, 0};
    case Kind::struct_:
    case Kind::union_: return {0, 12};
    case Kind::enum_: return {0, 8};
    case Kind::func_proto: return {0, 8};
    case Kind::var: return {4, 0};
    case Kind::datasec: return {0, 12};
    case Kind::decl_tag: return {4, 0};
    case Kind::enum64: return {0, 12};
    default: return {0, 0};
  }
}

bool is_modifier(Kind k) {
  return k == Kind::typedef_ || k == Kind::volatile_ || k == Kind::const_ ||
         k == Kind::restrict_ || k == Kind::type_tag;
}
bool is_composite(Kind k) { return k == Kind::struct_ || k == Kind::union_; }
// Kinds whose size_or_type word is a type id.
bool refers_by_type(Kind k) {
  return is_modifier(k) || k == Kind::ptr || k == Kind::func || k == Kind::func_proto ||
         k == Kind::var || k == Kind::decl_tag;
}

Error bad(std::string msg) { return Error{Errc::malformed, "BTF: " + std::move(msg), 0}; }

}  // namespace

std::string_view kind_name(Kind k) {
  static constexpr std::string_view names[] = {
      "void",  "int",        "ptr", "array",   "struct", "union",    "enum",
      "fwd",   "typedef",    "volatile", "const", "restrict", "func", "func_proto",
      "var",   "datasec",    "float", "decl_tag", "type_tag", "enum64"};
  const auto i = static_cast<std::size_t>(k);
  return i < std::size(names) ? names[i] : "unknown";
}

Result<std::uint64_t> Btf::claimed_size(std::span<const std::uint8_t> h, std::uint64_t available) {
  if (h.size() < kHeaderSize) return std::unexpected(bad("shorter than its 24-byte header"));
  if (load_le16(h.data()) != kMagic)
    return std::unexpected(bad(fmt::format("magic {:#06x}, not 0xeb9f", load_le16(h.data()))));
  if (h[2] != 1) return std::unexpected(bad(fmt::format("version {}, not 1", h[2])));
  const std::uint64_t hdr_len = load_le32(h.data() + 4);
  const std::uint64_t type_off = load_le32(h.data() + 8), type_len = load_le32(h.data() + 12);
  const std::uint64_t str_off = load_le32(h.data() + 16), str_len = load_le32(h.data() + 20);
  if (hdr_len < kHeaderSize) return std::unexpected(bad(fmt::format("hdr_len {} < 24", hdr_len)));
  // u64 sums of u32 fields cannot overflow.
  const std::uint64_t total = hdr_len + std::max(type_off + type_len, str_off + str_len);
  if (total > available)
    return std::unexpected(
        bad(fmt::format("header claims {} bytes, only {} available", total, available)));
  return total;
}

Result<Btf> Btf::parse(std::span<const std::uint8_t> blob) { return parse_impl(blob, nullptr); }

Result<Btf> Btf::parse_split(std::span<const std::uint8_t> blob, const Btf& base) {
  return parse_impl(blob, &base);
}

Result<Btf> Btf::parse_impl(std::span<const std::uint8_t> blob, const Btf* base) {
  auto total = claimed_size(blob, blob.size());
  if (!total) return std::unexpected(total.error());
  const std::uint64_t hdr_len = load_le32(blob.data() + 4);
  const std::uint64_t type_off = load_le32(blob.data() + 8), type_len = load_le32(blob.data() + 12);
  const std::uint64_t str_off = load_le32(blob.data() + 16), str_len = load_le32(blob.data() + 20);
  if (type_off % 4) return std::unexpected(bad(fmt::format("type_off {} not 4-aligned", type_off)));
  if (type_off < str_off + str_len && str_off < type_off + type_len)
    return std::unexpected(bad("type and string sections overlap"));
  // A split blob's strings continue the base's (whose offset 0 is already ""): the kernel
  // (btf_parse_str_sec) asks only base BTF to start with NUL, and lets a split one be empty.
  if (str_len == 0 && !base) return std::unexpected(bad("empty string section"));
  const auto strs = blob.subspan(hdr_len + str_off, str_len);
  if (!base && strs.front() != 0)
    return std::unexpected(bad("string section does not start with NUL"));
  if (str_len && strs.back() != 0) return std::unexpected(bad("string section does not end in NUL"));

  Btf b;
  if (base) {
    if (base->first_own_type_ != 1) return std::unexpected(bad("a split BTF's base is split"));
    b = *base;
  } else {
    b.types_.emplace_back();  // id 0: void
  }
  b.blob_size_ = *total;
  b.first_own_type_ = static_cast<std::uint32_t>(b.types_.size());
  b.strings_.append(strs.begin(), strs.end());
  const std::uint64_t all_strings = b.strings_.size();
  const auto ts = blob.subspan(hdr_len + type_off, type_len);
  auto name_ok = [&](std::uint32_t off) { return off < all_strings; };
  for (std::uint64_t pos = 0; pos < ts.size();) {
    const std::uint64_t id = b.types_.size();
    if (ts.size() - pos < 12)
      return std::unexpected(bad(fmt::format("type {} truncated at byte {}", id, pos)));
    const std::uint8_t* p = ts.data() + pos;
    Type t;
    t.name_off = load_le32(p);
    const std::uint32_t info = load_le32(p + 4);
    t.size_or_type = load_le32(p + 8);
    const std::uint32_t kind = (info >> 24) & 0x1f;
    if (kind == 0 || kind > kMaxKind)
      return std::unexpected(bad(fmt::format("type {} has unknown kind {}", id, kind)));
    t.kind = static_cast<Kind>(kind);
    t.vlen = static_cast<std::uint16_t>(info & 0xffff);
    t.kind_flag = (info >> 31) != 0;
    if (!name_ok(t.name_off))
      return std::unexpected(bad(fmt::format("type {} name offset {} past the strings", id,
                                             t.name_off)));
    const Extra ex = extra_of(t.kind);
    const std::uint64_t need = ex.fixed + ex.per_item * t.vlen;
    pos += 12;
    if (need > ts.size() - pos)
      return std::unexpected(bad(fmt::format("type {} ({}, vlen {}) runs past the type section",
                                             id, kind_name(t.kind), t.vlen)));
    p = ts.data() + pos;
    for (std::uint64_t i = 0; i < ex.fixed / 4; ++i) t.extra[i] = load_le32(p + 4 * i);
    p += ex.fixed;
    t.first_item = static_cast<std::uint32_t>(b.items_.size());
    for (std::uint32_t i = 0; i < t.vlen && ex.per_item; ++i, p += ex.per_item) {
      Item it;
      switch (t.kind) {
        case Kind::struct_:
        case Kind::union_:
          it = {load_le32(p), load_le32(p + 4), load_le32(p + 8), 0, 0};
          break;
        case Kind::enum_:
          it.name_off = load_le32(p);
          it.value = t.kind_flag ? static_cast<std::int32_t>(load_le32(p + 4))
                                 : static_cast<std::int64_t>(load_le32(p + 4));
          break;
        case Kind::enum64:
          it.name_off = load_le32(p);
          it.value = static_cast<std::int64_t>(load_le32(p + 4) |
                                               (std::uint64_t{load_le32(p + 8)} << 32));
          break;
        case Kind::func_proto: it = {load_le32(p), load_le32(p + 4), 0, 0, 0}; break;
        case Kind::datasec: it = {0, load_le32(p), load_le32(p + 4), load_le32(p + 8), 0}; break;
        default: break;
      }
      if (!name_ok(it.name_off))
        return std::unexpected(bad(fmt::format("type {} item {} name offset {} past the strings",
                                               id, i, it.name_off)));
      b.items_.push_back(it);
    }
    if (!ex.per_item) t.vlen = 0;  // kinds without a list: vlen means nothing (or is unused)
    pos += need;
    b.types_.push_back(t);
  }

  // Every reference must name an existing type: later walks index without re-checking.
  const std::uint64_t n = b.types_.size();
  auto check = [&](std::uint64_t id, std::uint32_t ref, std::string_view what) -> Result<void> {
    if (ref < n) return {};
    return std::unexpected(
        bad(fmt::format("type {} {} refers to type {}, past the last ({})", id, what, ref, n - 1)));
  };
  for (std::uint64_t id = b.first_own_type_; id < n; ++id) {
    const Type& t = b.types_[id];
    Result<void> r;
    if (refers_by_type(t.kind)) r = check(id, t.size_or_type, "type");
    if (r && t.kind == Kind::array) {
      r = check(id, t.extra[0], "element");
      if (r) r = check(id, t.extra[1], "index");
    }
    if (r && (is_composite(t.kind) || t.kind == Kind::func_proto || t.kind == Kind::datasec))
      for (const Item& it : b.items(t))
        if (!(r = check(id, it.type, "member"))) break;
    if (!r) return std::unexpected(r.error());
  }
  return b;
}

std::string_view Btf::name(std::uint32_t off) const {
  if (off >= strings_.size()) return {};
  return std::string_view(strings_.c_str() + off);
}

Result<std::uint32_t> Btf::strip_modifiers(std::uint32_t id) const {
  for (int d = 0; d < kMaxDepth; ++d) {
    const Type& t = types_.at(id);
    if (!is_modifier(t.kind) || t.kind == Kind::typedef_) return id;
    id = t.size_or_type;
  }
  return std::unexpected(bad(fmt::format("type chain at {} deeper than {} (a cycle?)", id, kMaxDepth)));
}

Result<std::uint32_t> Btf::strip(std::uint32_t id) const {
  for (int d = 0; d < kMaxDepth; ++d) {
    const Type& t = types_.at(id);
    if (!is_modifier(t.kind)) return id;
    id = t.size_or_type;
  }
  return std::unexpected(bad(fmt::format("type chain at {} deeper than {} (a cycle?)", id, kMaxDepth)));
}

Result<std::uint64_t> Btf::size_of(std::uint32_t id) const {
  // Arrays of arrays multiply; every hop counts towards the depth bound.
  std::uint64_t mult = 1;
  for (int d = 0; d < kMaxDepth; ++d) {
    const Type& t = types_.at(id);
    switch (t.kind) {
      case Kind::int_:
      case Kind::struct_:
      case Kind::union_:
      case Kind::enum_:
      case Kind::enum64:
      case Kind::float_:
      case Kind::datasec: {
        if (t.size_or_type && mult > std::numeric_limits<std::uint64_t>::max() / t.size_or_type)
          return std::unexpected(bad(fmt::format("size of type {} overflows", id)));
        return mult * t.size_or_type;
      }
      case Kind::ptr: return mult * 8;
      case Kind::array:
        if (t.extra[2] && mult > std::numeric_limits<std::uint64_t>::max() / t.extra[2])
          return std::unexpected(bad(fmt::format("size of array type {} overflows", id)));
        mult *= t.extra[2];
        id = t.extra[0];
        break;
      case Kind::typedef_:
      case Kind::volatile_:
      case Kind::const_:
      case Kind::restrict_:
      case Kind::type_tag:
      case Kind::var: id = t.size_or_type; break;
      default: return 0;  // void, FWD, FUNC, FUNC_PROTO, DECL_TAG: no object size
    }
  }
  return std::unexpected(bad(fmt::format("type chain deeper than {} (a cycle?)", kMaxDepth)));
}

Result<std::uint32_t> Btf::find(Kind kind, std::string_view nm) const {
  for (std::uint32_t id = 1; id < types_.size(); ++id)
    if (types_[id].kind == kind && name(types_[id].name_off) == nm) return id;
  return std::unexpected(Error{Errc::not_found, fmt::format("no {} named '{}' in BTF",
                                                            kind_name(kind), nm), 0});
}

Result<std::uint32_t> Btf::find_composite(std::string_view nm) const {
  // A struct with a full definition first; then a union; then a typedef that leads to either.
  if (auto s = find(Kind::struct_, nm)) return s;
  if (auto u = find(Kind::union_, nm)) return u;
  if (auto t = find(Kind::typedef_, nm)) {
    auto s = strip(*t);
    if (!s) return s;
    if (is_composite(types_[*s].kind)) return *s;
  }
  return std::unexpected(
      Error{Errc::not_found, fmt::format("no struct, union or typedef of one named '{}'", nm), 0});
}

MemberRef Btf::member_ref(const Type& c, const Item& m) const {
  if (c.kind_flag) return {m.offset & 0xffffff, m.offset >> 24, m.type};
  return {m.offset, 0, m.type};
}

Result<MemberRef> Btf::member(std::uint32_t id, std::string_view nm) const {
  std::uint64_t visits = 0;
  struct Walk {
    const Btf& b;
    std::string_view nm;
    std::uint64_t& visits;
    Result<std::optional<MemberRef>> in(std::uint32_t id, int depth) {
      if (depth >= kMaxDepth)
        return std::unexpected(bad(fmt::format("anonymous members nest deeper than {}", kMaxDepth)));
      auto s = b.strip(id);
      if (!s) return std::unexpected(s.error());
      const Type& t = b.types_[*s];
      if (!is_composite(t.kind))
        return std::unexpected(Error{Errc::invalid_argument,
                                     fmt::format("type {} is a {}, not a struct or union", *s,
                                                 kind_name(t.kind)), 0});
      for (const Item& m : b.items(t)) {
        if (++visits > kMaxVisits)
          return std::unexpected(bad("member lookup visited too many anonymous members"));
        const MemberRef r = b.member_ref(t, m);
        const std::string_view mn = b.name(m.name_off);
        if (mn == nm) return std::optional(r);
        if (!mn.empty()) continue;
        auto inner = b.strip(m.type);
        if (!inner || !is_composite(b.types_[*inner].kind)) continue;
        auto found = in(*inner, depth + 1);
        if (!found) return found;
        if (*found) {
          MemberRef f = **found;
          f.bit_offset += r.bit_offset;
          return std::optional(f);
        }
      }
      return std::optional<MemberRef>();
    }
  };
  Walk w{*this, nm, visits};
  auto r = w.in(id, 0);
  if (!r) return std::unexpected(r.error());
  if (!*r)
    return std::unexpected(Error{Errc::not_found,
                                 fmt::format("{} has no member '{}'", type_name(id), nm), 0});
  return **r;
}

std::string Btf::type_name(std::uint32_t id) const {
  int budget = kMaxNameCalls;
  std::string s = type_name_at(id, 0, budget);
  if (s.size() > kMaxTypeName) s = s.substr(0, kMaxTypeName) + "...";
  return s;
}

std::string Btf::function_signature(std::uint32_t id) const {
  if (id >= types_.size() || types_[id].kind != Kind::func) return type_name(id);
  const Type& proto = types_[types_[id].size_or_type];
  if (proto.kind != Kind::func_proto) return std::string(name_of(id)) + "(?)";
  std::string s = type_name(proto.size_or_type) + " " + std::string(name_of(id)) + "(";
  const auto ps = items(proto);
  for (std::size_t i = 0; i < ps.size() && s.size() <= kMaxTypeName; ++i) {
    s += i ? ", " : "";
    if (ps[i].type == 0) {  // a trailing void parameter means "..." (btf.h)
      s += "...";
      continue;
    }
    s += type_name(ps[i].type);
    if (!name(ps[i].name_off).empty()) s += " " + std::string(name(ps[i].name_off));
  }
  return s + (ps.empty() ? "void)" : ")");
}

std::string Btf::type_name_at(std::uint32_t id, int depth, int& budget) const {
  if (depth >= kMaxDepth || --budget < 0) return "...";
  if (id >= types_.size()) return "?";
  const Type& t = types_[id];
  const std::string_view nm = name(t.name_off);
  auto tagged = [&](std::string_view tag) {
    return nm.empty() ? fmt::format("{} {{...}}", tag) : fmt::format("{} {}", tag, nm);
  };
  switch (t.kind) {
    case Kind::void_: return "void";
    case Kind::struct_: return tagged("struct");
    case Kind::union_: return tagged("union");
    case Kind::enum_:
    case Kind::enum64: return tagged("enum");
    case Kind::fwd: return tagged(t.kind_flag ? "union" : "struct");
    case Kind::const_: return "const " + type_name_at(t.size_or_type, depth + 1, budget);
    case Kind::volatile_: return "volatile " + type_name_at(t.size_or_type, depth + 1, budget);
    case Kind::restrict_: return type_name_at(t.size_or_type, depth + 1, budget) + " restrict";
    case Kind::type_tag: return type_name_at(t.size_or_type, depth + 1, budget);
    case Kind::ptr: {
      const Type& to = types_[t.size_or_type];
      if (to.kind == Kind::func_proto) {
        std::string s = type_name_at(to.size_or_type, depth + 1, budget) + " (*)(";
        const auto ps = items(to);
        for (std::size_t i = 0; i < ps.size() && s.size() <= kMaxTypeName; ++i)
          s += (i ? ", " : "") + (ps[i].type ? type_name_at(ps[i].type, depth + 1, budget) : "...");
        return s + (ps.empty() ? "void)" : ")");
      }
      return type_name_at(t.size_or_type, depth + 1, budget) + " *";
    }
    case Kind::array: {
      // int a[2][3] is ARRAY(2) of ARRAY(3) of int: the dimensions read outside in.
      std::string dims;
      std::uint32_t cur = id;
      for (int d = depth; d < kMaxDepth && types_[cur].kind == Kind::array; ++d) {
        dims += fmt::format("[{}]", types_[cur].extra[2]);
        cur = types_[cur].extra[0];
      }
      return type_name_at(cur, depth + 1, budget) + dims;
    }
    case Kind::func_proto: return type_name_at(t.size_or_type, depth + 1, budget) + " (...)";
    default: return nm.empty() ? std::string(kind_name(t.kind)) : std::string(nm);
  }
}

}  // namespace tlpstub::kernel::btf
