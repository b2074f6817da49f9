// BTF (BPF Type Format) parser: the kernel's own type information, as it sits in memory between
// __start_BTF and __stop_BTF (include/uapi/linux/btf.h; facts/linux.md section 5).
//
//   header (24 bytes, little-endian on x86-64)
//   +--------+----+-----+---------+----------+----------+---------+---------+
//   | 9F EB  | 01 | flg | hdr_len | type_off | type_len | str_off | str_len |
//   | u16    | u8 | u8  | u32     | u32      | u32      | u32     | u32     |
//   +--------+----+-----+---------+----------+----------+---------+---------+
//   type_off and str_off count from the end of the header (hdr_len).
//
//   type record (12 bytes) then kind-specific bytes:
//   | name_off u32 | info u32: vlen 0-15, kind 24-28, kind_flag 31 | size or type u32 |
//
// The input is hostile (any bytes of a target's RAM): every offset and count is checked
// against the blob before use, every type id against the type count, and every walk along a
// chain of types (typedef -> const -> ...) or into anonymous members is bounded in depth, so a
// malformed blob gives an Error, never an out-of-bounds read or an endless loop.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace tlpstub::kernel::btf {

enum class Kind : std::uint8_t {
  void_ = 0,  // id 0 only
  int_ = 1,
  ptr = 2,
  array = 3,
  struct_ = 4,
  union_ = 5,
  enum_ = 6,
  fwd = 7,
  typedef_ = 8,
  volatile_ = 9,
  const_ = 10,
  restrict_ = 11,
  func = 12,
  func_proto = 13,
  var = 14,
  datasec = 15,
  float_ = 16,
  decl_tag = 17,
  type_tag = 18,
  enum64 = 19,
};
std::string_view kind_name(Kind k);

inline constexpr std::uint16_t kMagic = 0xEB9F;
inline constexpr std::size_t kHeaderSize = 24;
// Hops a walk may take along modifiers, typedefs, pointers, arrays or anonymous members. Real
// kernels need under 10; a cycle in hostile input stops here.
inline constexpr int kMaxDepth = 32;

// One entry of a type's list (what follows the record, vlen of them):
//   STRUCT/UNION member: name, type, offset (bits; with kind_flag: size << 24 | bit offset)
//   ENUM: name, value (val)          ENUM64: name, value (val, 64 bits)
//   FUNC_PROTO param: name, type     DATASEC var: type (a VAR), offset, size
struct Item {
  std::uint32_t name_off = 0;
  std::uint32_t type = 0;
  std::uint32_t offset = 0;  // member offset word / datasec offset
  std::uint32_t size = 0;    // datasec size
  std::int64_t value = 0;    // enum value (signed or not: see Type::kind_flag)
};

struct Type {
  Kind kind = Kind::void_;
  bool kind_flag = false;
  std::uint16_t vlen = 0;
  std::uint32_t name_off = 0;
  std::uint32_t size_or_type = 0;  // size for INT/STRUCT/UNION/ENUM*/FLOAT/DATASEC, else a type
  // INT: the encoding word (encoding 24-27, offset 16-23, bits 0-7). ARRAY: elem type, index
  // type, nelems. VAR: linkage. DECL_TAG: component_idx.
  std::uint32_t extra[3] = {0, 0, 0};
  std::uint32_t first_item = 0;  // index into Btf::items() of its vlen entries
};

// A member found by name, offsets in bits from the start of the outer struct.
struct MemberRef {
  std::uint64_t bit_offset = 0;
  std::uint32_t bitfield_size = 0;  // 0 = not a bitfield
  std::uint32_t type = 0;
};

class Btf {
 public:
  // Parses and validates a whole blob (header, types, strings, every reference). Copies it.
  static Result<Btf> parse(std::span<const std::uint8_t> blob);
  // Split BTF (a module's, CONFIG_DEBUG_INFO_BTF_MODULES; kernel/bpf/btf.c btf_parse_module):
  // its type ids continue after `base`'s last and its string offsets after the end of
  // `base`'s string section, and its types may refer to base types. The result holds both
  // (a copy of `base`, then the split types), so every lookup below works across them.
  static Result<Btf> parse_split(std::span<const std::uint8_t> blob, const Btf& base);
  // Ids of the first type and of the first string offset this blob added (1 and 0 unless split).
  std::uint32_t first_own_type() const { return first_own_type_; }
  // The total size the header claims (header + both sections), or an error if the header is
  // unsound or claims more than `available` bytes: lets a scanner size a candidate cheaply.
  static Result<std::uint64_t> claimed_size(std::span<const std::uint8_t> header,
                                            std::uint64_t available);

  // Type ids run 1..type_count(); id 0 is void.
  std::uint32_t type_count() const { return static_cast<std::uint32_t>(types_.size() - 1); }
  const Type& type(std::uint32_t id) const { return types_.at(id); }
  std::span<const Item> items(const Type& t) const {
    return std::span<const Item>(items_).subspan(t.first_item, t.vlen);
  }
  std::string_view name(std::uint32_t name_off) const;  // validated at parse time
  std::string_view name_of(std::uint32_t id) const { return name(type(id).name_off); }
  std::uint64_t size_bytes() const { return blob_size_; }

  // Follows TYPEDEF/CONST/VOLATILE/RESTRICT/TYPE_TAG to the underlying type.
  Result<std::uint32_t> strip(std::uint32_t id) const;
  // Like strip(), but keeps typedefs (for names).
  Result<std::uint32_t> strip_modifiers(std::uint32_t id) const;
  // Size in bytes of an object of this type (PTR 8; ARRAY nelems * element; void/FUNC 0).
  Result<std::uint64_t> size_of(std::uint32_t id) const;
  // The first STRUCT or UNION (kind) with this name; or a TYPEDEF of that name resolved to one.
  Result<std::uint32_t> find_composite(std::string_view name) const;
  // All ids of a kind with a name (first match wins when several: BTF dedup leaves one).
  Result<std::uint32_t> find(Kind kind, std::string_view name) const;
  // The member `name` of the struct/union `id` (after strip), searching anonymous struct and
  // union members too; offsets add up.
  Result<MemberRef> member(std::uint32_t id, std::string_view name) const;
  // Decoded member offset word of an item of `composite`.
  MemberRef member_ref(const Type& composite, const Item& m) const;
  // C-like name of a type: "int", "struct list_head", "char *", "u8[16]", "void (*)(void)".
  std::string type_name(std::uint32_t id) const;
  // A FUNC's C declaration: "int dummy_xmit(struct sk_buff * skb, struct net_device * dev)".
  std::string function_signature(std::uint32_t func_id) const;

 private:
  static Result<Btf> parse_impl(std::span<const std::uint8_t> blob, const Btf* base);
  Result<MemberRef> member_in(std::uint32_t id, std::string_view name, int depth) const;
  std::string type_name_at(std::uint32_t id, int depth, int& budget) const;

  std::vector<Type> types_;  // [0] is void
  std::vector<Item> items_;
  std::string strings_;      // the string section, ends in NUL
  std::uint64_t blob_size_ = 0;
  std::uint32_t first_own_type_ = 1;
};

}  // namespace tlpstub::kernel::btf
