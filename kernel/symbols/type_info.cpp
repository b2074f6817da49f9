#include "kernel/symbols/type_info.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "kernel/symbols/member_path.hpp"

namespace tlpstub::kernel {

namespace {

constexpr std::string_view kBtf = "BTF";
// Rows describe_struct lists at most (task_struct has ~300 with its anonymous members).
constexpr std::size_t kMaxRows = 4096;

Error no_types() {
  return Error{Errc::not_found, "no kernel type information (BTF not recovered)", 0};
}

// "struct task_struct" -> ("struct", "task_struct"); "task_struct" -> ("", "task_struct").
std::pair<std::string_view, std::string_view> split_tag(std::string_view n) {
  for (std::string_view tag : {"struct ", "union "})
    if (n.starts_with(tag)) return {tag.substr(0, tag.size() - 1), n.substr(tag.size())};
  return {{}, n};
}

}  // namespace

void TypeInfo::add_member(std::string struct_name, std::string path, FieldInfo f) {
  extra_[{std::move(struct_name), std::move(path)}] = std::move(f);
}

void TypeInfo::add_missing(std::string struct_name, std::string path, std::string why) {
  missing_[{std::move(struct_name), std::move(path)}] = std::move(why);
}

void TypeInfo::add_size(std::string struct_name, std::uint64_t size, std::string source) {
  extra_sizes_[std::move(struct_name)] = {size, std::move(source)};
}

std::string TypeInfo::size_source(std::string_view name) const {
  auto it = extra_sizes_.find(split_tag(name).second);
  return it != extra_sizes_.end() ? it->second.second : std::string(kBtf);
}

Result<std::uint32_t> TypeInfo::composite(std::string_view name) const {
  if (!btf_) return std::unexpected(no_types());
  auto [tag, bare] = split_tag(name);
  if (tag == "struct") return btf_->find(btf::Kind::struct_, bare);
  if (tag == "union") return btf_->find(btf::Kind::union_, bare);
  return btf_->find_composite(bare);
}

Result<std::uint64_t> TypeInfo::struct_size(std::string_view name) const {
  if (auto it = extra_sizes_.find(split_tag(name).second); it != extra_sizes_.end())
    return it->second.first;
  auto id = composite(name);
  if (!id) return std::unexpected(id.error());
  return btf_->size_of(*id);
}

Result<FieldInfo> TypeInfo::member(std::string_view struct_name, std::string_view path) const {
  if (auto it = extra_.find(std::pair(std::string(struct_name), std::string(path)));
      it != extra_.end())
    return it->second;
  if (!btf_)
    if (auto it = missing_.find(std::pair(std::string(struct_name), std::string(path)));
        it != missing_.end())
      return std::unexpected(Error{Errc::not_found, it->second, 0});
  auto id = composite(struct_name);
  if (!id) return std::unexpected(id.error());
  std::uint32_t cur = *id;
  btf::MemberRef total{};
  auto parts = split_member_path(path);
  if (!parts) return std::unexpected(parts.error());
  for (std::size_t i = 0; i < parts->size(); ++i) {
    const std::string_view part = (*parts)[i];
    auto m = btf_->member(cur, part);
    if (!m) return std::unexpected(m.error());
    total.bit_offset += m->bit_offset;
    total.bitfield_size = m->bitfield_size;
    total.type = m->type;
    cur = m->type;
    if (i + 1 == parts->size()) break;
    if (m->bitfield_size)
      return std::unexpected(Error{Errc::invalid_argument,
                                   fmt::format("'{}' is a bitfield, it has no members", part), 0});
  }
  auto size = btf_->size_of(total.type);
  if (!size) return std::unexpected(size.error());
  return FieldInfo{total.bit_offset / 8, *size,  total.bit_offset, total.bitfield_size,
                   btf_->type_name(total.type), std::string(kBtf)};
}

Result<StructLayout> TypeInfo::describe_partial(std::string_view name) const {
  auto [tag, bare] = split_tag(name);
  StructLayout L;
  L.kind = tag == "union" ? "union" : "struct";
  L.name = std::string(bare);
  L.partial = true;
  std::set<std::string> sources;
  for (const auto& [key, f] : extra_) {
    if (key.first != bare) continue;
    LayoutRow row;
    row.offset = f.offset;
    row.size = f.size;
    row.bit_offset = f.bit_size ? f.bit_offset : f.offset * 8;
    row.bit_size = f.bit_size;
    row.type_name = f.type_name;
    row.name = key.second;  // the views' path: "thread.sp"
    row.source = f.source;
    sources.insert(f.source);
    L.members.push_back(std::move(row));
  }
  for (const auto& [key, why] : missing_)
    if (key.first == bare) L.missing.emplace_back(key.second, why);
  if (L.members.empty() && L.missing.empty())
    return std::unexpected(Error{
        Errc::not_found,
        fmt::format("no BTF, and neither inference nor a profile knows members of '{}'", bare),
        0});
  std::stable_sort(L.members.begin(), L.members.end(),
                   [](const LayoutRow& a, const LayoutRow& b) { return a.bit_offset < b.bit_offset; });
  if (auto it = extra_sizes_.find(bare); it != extra_sizes_.end()) {
    L.size = it->second.first;
    sources.insert(it->second.second);
  }
  for (const std::string& src : sources) L.source += (L.source.empty() ? "" : ", ") + src;
  if (L.source.empty()) L.source = "nothing";
  return L;
}

Result<StructLayout> TypeInfo::describe_struct(std::string_view name) const {
  if (!btf_) return describe_partial(name);
  auto id = composite(name);
  if (!id) return std::unexpected(id.error());
  const btf::Btf& b = *btf_;
  const btf::Type& t = b.type(*id);
  StructLayout L;
  L.kind = t.kind == btf::Kind::union_ ? "union" : "struct";
  L.name = std::string(b.name(t.name_off));
  auto sz = b.size_of(*id);
  if (!sz) return std::unexpected(sz.error());
  L.size = *sz;
  L.source = std::string(kBtf);

  // Anonymous members are expanded in place (as pahole prints them), depth-bounded.
  auto add = [&](auto& self, std::uint32_t cid, std::uint64_t base_bits,
                 int depth) -> Result<void> {
    if (depth >= btf::kMaxDepth)
      return std::unexpected(Error{Errc::malformed, "BTF: anonymous members nest too deep", 0});
    const btf::Type& c = b.type(cid);
    for (const btf::Item& m : b.items(c)) {
      if (L.members.size() >= kMaxRows)
        return std::unexpected(Error{Errc::malformed, "BTF: too many members to list", 0});
      const btf::MemberRef r = b.member_ref(c, m);
      LayoutRow row;
      row.bit_offset = base_bits + r.bit_offset;
      row.offset = row.bit_offset / 8;
      row.bit_size = r.bitfield_size;
      auto msz = b.size_of(m.type);
      if (!msz) return std::unexpected(msz.error());
      row.size = *msz;
      row.type_name = b.type_name(m.type);
      row.name = std::string(b.name(m.name_off));
      row.depth = depth;
      L.members.push_back(row);
      // Members of an anonymous type are listed in place, whether the member itself is
      // anonymous (`union { ... };`) or named (`struct { ... } lru_gen;`), as pahole does; not
      // through a typedef (atomic_t is a typedef of an anonymous struct: pahole keeps it whole).
      auto inner = b.strip_modifiers(m.type);
      if (!inner) return std::unexpected(inner.error());
      const btf::Type& it = b.type(*inner);
      if ((it.kind == btf::Kind::struct_ || it.kind == btf::Kind::union_) && it.name_off == 0)
        if (auto r2 = self(self, *inner, row.bit_offset, depth + 1); !r2) return r2;
    }
    return {};
  };
  if (auto r = add(add, *id, 0, 0); !r) return std::unexpected(r.error());
  return L;
}

}  // namespace tlpstub::kernel
