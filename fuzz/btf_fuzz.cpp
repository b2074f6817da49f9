// Feeds arbitrary bytes to the BTF parser and, when they parse, walks every type the way
// TypeInfo and `monitor type` do (sizes, names, member lookups, layouts). Must never crash, hang
// or read out of bounds: every count, offset and type reference comes from the input.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "kernel/symbols/btf.hpp"
#include "kernel/symbols/type_info.hpp"

using namespace tlpstub::kernel;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto b = btf::Btf::parse(std::span<const std::uint8_t>(data, size));
  if (!b) return 0;
  auto shared = std::make_shared<const btf::Btf>(std::move(*b));
  const btf::Btf& p = *shared;
  TypeInfo ti(shared);
  const std::uint32_t n = p.type_count() < 4096 ? p.type_count() : 4096;
  for (std::uint32_t id = 0; id <= n; ++id) {
    (void)p.size_of(id);
    (void)p.strip(id);
    (void)p.type_name(id);
    (void)p.member(id, "x");
    const std::string_view nm = p.name_of(id);
    if (!nm.empty() && (p.type(id).kind == btf::Kind::struct_ || p.type(id).kind == btf::Kind::union_)) {
      (void)ti.describe_struct(nm);
      (void)ti.member(nm, "a.b");
    }
  }
  return 0;
}
