// TypeInfo: the one view of kernel structure layouts that the Linux views use (design.md),
// whichever source filled it: BTF (kernel/symbols/btf.hpp), offset inference
// (offset_inference.hpp) or a profile (profile.hpp). Inference and profiles add entries with
// add_member()/add_size(), which win over BTF, and every answer says where it came from.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "kernel/symbols/btf.hpp"

namespace tlpstub::kernel {

// A member found by a dotted path ("thread.sp"): where it is inside the outer struct.
struct FieldInfo {
  std::uint64_t offset = 0;       // bytes from the start of the outer struct (bitfields: the
                                  // byte holding the first bit)
  std::uint64_t size = 0;         // bytes of the member's type (bitfields: of the storage type)
  std::uint64_t bit_offset = 0;   // bits from the start of the outer struct
  std::uint32_t bit_size = 0;     // 0 unless a bitfield
  std::string type_name;          // "struct list_head", "char[16]"
  std::string source;             // "BTF", later "inference", "profile"
};

// One row of describe_struct: a member as pahole lists it. A member of an anonymous struct or
// union type (`union { ... };`, or named: `struct { ... } lru_gen;`) gets a row of its own
// followed by the type's members one `depth` deeper, offsets counted from the start of the
// outer struct.
struct LayoutRow {
  std::uint64_t offset = 0, size = 0;
  std::uint64_t bit_offset = 0;  // bits from the start of the outer struct
  std::uint32_t bit_size = 0;    // 0 unless a bitfield
  std::string type_name, name;
  int depth = 0;
  std::string source;  // partial layouts only: where this member came from
};

struct StructLayout {
  std::string kind;  // "struct" or "union"
  std::string name;  // as asked ("task_struct"), or the typedef resolved
  std::uint64_t size = 0;
  std::vector<LayoutRow> members;
  std::string source;
  // Without BTF: only the members inference or a profile know (the views' members), by offset;
  // `size` is 0 when no source gave the struct's size. `missing`: members the views want that
  // no source found, with why.
  bool partial = false;
  std::vector<std::pair<std::string, std::string>> missing;
};

class TypeInfo {
 public:
  TypeInfo() = default;
  explicit TypeInfo(std::shared_ptr<const btf::Btf> btf) : btf_(std::move(btf)) {}

  bool has_btf() const { return btf_ != nullptr; }
  const btf::Btf* btf() const { return btf_.get(); }

  // sizeof(struct NAME) ("task_struct", "struct task_struct", a typedef of a struct).
  Result<std::uint64_t> struct_size(std::string_view name) const;
  // The member at a dotted path inside a struct: member("task_struct", "thread.sp").
  Result<FieldInfo> member(std::string_view struct_name, std::string_view path) const;
  // A pahole-like layout of a struct or union (NAME, "struct NAME", "union NAME", a typedef).
  // Without BTF, the partial layout the added members give (partial = true).
  Result<StructLayout> describe_struct(std::string_view name) const;

  // An offset from another source (inference, a profile); wins over BTF for member().
  void add_member(std::string struct_name, std::string path, FieldInfo f);
  // Why another source could not find a member: member() says so when BTF does not know it.
  void add_missing(std::string struct_name, std::string path, std::string why);
  // A struct size from another source (a profile); wins over BTF for struct_size().
  void add_size(std::string struct_name, std::uint64_t size, std::string source);
  // Where struct_size(name) comes from: the added size's source, else "BTF".
  std::string size_source(std::string_view name) const;
  // Members added with add_member(), by (struct, path).
  const std::map<std::pair<std::string, std::string>, FieldInfo, std::less<>>& added_members()
      const {
    return extra_;
  }

 private:
  Result<std::uint32_t> composite(std::string_view name) const;
  Result<StructLayout> describe_partial(std::string_view name) const;

  std::shared_ptr<const btf::Btf> btf_;
  std::map<std::pair<std::string, std::string>, FieldInfo, std::less<>> extra_;
  std::map<std::string, std::pair<std::uint64_t, std::string>, std::less<>> extra_sizes_;
  std::map<std::pair<std::string, std::string>, std::string, std::less<>> missing_;
};

}  // namespace tlpstub::kernel
