#include "kernel/linux/iomem.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "common/bytes.hpp"

namespace tlpstub::kernel {

namespace {

struct ResourceLayout {
  std::uint64_t start = 0, end = 0, name = 0, sibling = 0, child = 0, span = 0;
};

Result<ResourceLayout> resource_layout(const TypeInfo& t) {
  ResourceLayout L;
  for (auto [dst, path] : {std::pair{&L.start, "start"}, {&L.end, "end"}, {&L.name, "name"},
                           {&L.sibling, "sibling"}, {&L.child, "child"}}) {
    auto f = t.member("resource", path);
    if (!f) return fail(f.error().code, "struct resource." + std::string(path) + ": " +
                                            f.error().message);
    if (f->size != 8)
      return fail(Errc::malformed, fmt::format("struct resource.{} is {} bytes, expected 8", path,
                                               f->size));
    *dst = f->offset;
    L.span = std::max(L.span, f->offset + 8);
  }
  return L;
}

}  // namespace

Result<std::vector<RamRange>> read_system_ram(AddressSpace& as, const SymbolTable& syms,
                                              const TypeInfo& types) {
  const Symbol* root = syms.find_address("iomem_resource");
  if (!root) return fail(Errc::not_found, "no symbol iomem_resource in kallsyms");
  auto L = resource_layout(types);
  if (!L) return std::unexpected(L.error());
  std::vector<std::uint8_t> node(L->span);
  auto read_node = [&](std::uint64_t va) -> Result<void> {
    ReadOutcome o = as.read(VirtAddr(va), node);
    if (!o.complete())
      return fail(Errc::unbacked, fmt::format("struct resource at {:#x}: {}", va,
                                              o.fault->message));
    return {};
  };
  if (auto r = read_node(root->address); !r) return std::unexpected(r.error());
  std::uint64_t next = load_le64(node.data() + L->child);
  std::vector<RamRange> out;
  // "System RAM" as request_resource names it (kernel/resource.c, arch/x86/kernel/e820.c).
  constexpr std::string_view kSystemRam = "System RAM";
  std::size_t visited = 0;
  while (next != 0) {
    if (++visited > kMaxIomemNodes)
      return fail(Errc::malformed, fmt::format("iomem_resource has more than {} top-level "
                                               "entries (a cycle?)",
                                               kMaxIomemNodes));
    if (auto r = read_node(next); !r) return std::unexpected(r.error());
    const std::uint64_t start = load_le64(node.data() + L->start);
    const std::uint64_t end = load_le64(node.data() + L->end);
    const std::uint64_t name_va = load_le64(node.data() + L->name);
    const std::uint64_t sibling = load_le64(node.data() + L->sibling);
    std::array<std::uint8_t, kSystemRam.size() + 1> name{};
    if (name_va && end >= start && as.read(VirtAddr(name_va), name).complete() &&
        std::string_view(reinterpret_cast<const char*>(name.data()), kSystemRam.size()) ==
            kSystemRam &&
        name[kSystemRam.size()] == 0) {
      if (!out.empty() && start < out.back().end)
        return fail(Errc::malformed,
                    fmt::format("iomem_resource: System RAM at {:#x} is not above the previous "
                                "one (ends {:#x}): list changed while read?",
                                start, out.back().end));
      if (end == ~0ull) return fail(Errc::malformed, "iomem_resource: System RAM ends at 2^64");
      out.push_back({start, end + 1});
    }
    next = sibling;
  }
  if (out.empty()) return fail(Errc::not_found, "iomem_resource lists no System RAM");
  return out;
}

}  // namespace tlpstub::kernel
