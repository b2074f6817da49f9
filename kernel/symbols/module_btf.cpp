#include "kernel/symbols/module_btf.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "kernel/symbols/modules.hpp"

namespace tlpstub::kernel {

namespace {

struct MbField {
  std::uint64_t off = 0, size = 0;
};

struct MbLayout {
  MbField list, module, btf;    // struct btf_module
  MbField data, data_size;      // struct btf
  std::uint64_t entry_span = 0, btf_span = 0;
};

Result<MbLayout> mb_layout(const TypeInfo& t) {
  MbLayout L;
  for (auto [dst, s, p] : {std::tuple{&L.list, "btf_module", "list"},
                           {&L.module, "btf_module", "module"}, {&L.btf, "btf_module", "btf"},
                           {&L.data, "btf", "data"}, {&L.data_size, "btf", "data_size"}}) {
    auto f = t.member(s, p);
    if (!f)
      return fail(f.error().code, fmt::format("struct {}.{}: {}", s, p, f.error().message));
    const bool list = dst == &L.list;
    if (list ? f->size < 16 : (f->size == 0 || f->size > 8))
      return fail(Errc::malformed, fmt::format("struct {}.{} is {} bytes", s, p, f->size));
    *dst = {f->offset, f->size};
  }
  auto end = [](const MbField& f) { return f.off + f.size; };
  L.entry_span = std::max({end(L.list), end(L.module), end(L.btf)});
  L.btf_span = std::max(end(L.data), end(L.data_size));
  if (L.entry_span > 4096 || L.btf_span > 4096)
    return fail(Errc::malformed, "struct btf_module or btf larger than any kernel's");
  return L;
}

std::uint64_t mb_value(const std::vector<std::uint8_t>& b, std::uint64_t off, std::uint64_t n) {
  if (off > b.size() || b.size() - off < n || n > 8) return 0;
  std::uint64_t v = 0;
  for (std::uint64_t i = 0; i < n; ++i) v |= std::uint64_t(b[off + i]) << (8 * i);
  return v;
}

bool mb_kernel_pointer(std::uint64_t a) { return a >= 0xff00000000000000ull; }

// Reads n bytes at va; empty on a short read (why says it).
std::vector<std::uint8_t> mb_read(AddressSpace& as, std::uint64_t va, std::uint64_t n,
                                  std::string& why) {
  std::vector<std::uint8_t> b(n);
  const ReadOutcome o = as.read(VirtAddr(va), b);
  if (o.bytes_read < n) {
    why = o.fault ? o.fault->message : "short read";
    return {};
  }
  return b;
}

}  // namespace

Result<void> check_module_btf_types(const TypeInfo& types) {
  auto L = mb_layout(types);
  if (!L) return std::unexpected(L.error());
  return {};
}

Result<ModuleBtfList> list_module_btf(AddressSpace& as, const SymbolTable& core,
                                      const TypeInfo& types) {
  const Symbol* head_sym = nullptr;
  for (const Symbol* s : core.find("btf_modules"))
    if (!s->percpu && std::string_view("dDbB").find(s->type) != std::string_view::npos)
      head_sym = s;
  if (!head_sym)
    return fail(Errc::not_found,
                "no 'btf_modules' list in the kernel's symbols (no CONFIG_DEBUG_INFO_BTF_MODULES?)");
  auto L = mb_layout(types);
  if (!L) return std::unexpected(L.error());
  const std::uint64_t head = head_sym->address;
  std::string why;
  auto hb = mb_read(as, head, 16, why);
  if (hb.empty())
    return fail(Errc::io, fmt::format("reading btf_modules at {:#x}: {}", head, why));
  ModuleBtfList out;
  std::uint64_t node = mb_value(hb, 0, 8), prev = head;
  std::set<std::uint64_t> seen;
  while (node != head) {
    if (out.entries.size() >= kMaxModules) {
      out.warnings.push_back(fmt::format("btf_modules: more than {} entries, cut", kMaxModules));
      break;
    }
    if (!mb_kernel_pointer(node) || node < L->list.off || !seen.insert(node).second) {
      out.warnings.push_back(fmt::format("btf_modules broken at {:#x} (not a kernel address, "
                                         "or seen before)", node));
      break;
    }
    const std::uint64_t entry = node - L->list.off;
    auto e = mb_read(as, entry, L->entry_span, why);
    if (e.empty()) {
      out.warnings.push_back(fmt::format("btf_modules: reading entry {:#x}: {}", entry, why));
      break;
    }
    if (mb_value(e, L->list.off + 8, 8) != prev) {
      out.warnings.push_back(fmt::format("btf_modules: entry {:#x} does not link back to {:#x}",
                                         entry, prev));
      break;
    }
    ModuleBtfRef r;
    r.module = mb_value(e, L->module.off, L->module.size);
    const std::uint64_t btf = mb_value(e, L->btf.off, L->btf.size);
    if (mb_kernel_pointer(btf)) {
      auto b = mb_read(as, btf, L->btf_span, why);
      if (!b.empty()) {
        r.data = mb_value(b, L->data.off, L->data.size);
        r.size = mb_value(b, L->data_size.off, L->data_size.size);
      } else {
        out.warnings.push_back(fmt::format("btf_modules: reading struct btf {:#x}: {}", btf, why));
      }
    }
    out.entries.push_back(r);
    prev = node;
    node = mb_value(e, L->list.off, 8);
  }
  return out;
}

Result<btf::Btf> read_module_btf(AddressSpace& as, const ModuleBtfRef& ref,
                                 const std::string& name, const btf::Btf& vmlinux) {
  if (ref.data == 0 || ref.size == 0)
    return fail(Errc::not_found, fmt::format("module {} has no BTF", name));
  if (!mb_kernel_pointer(ref.data) || ref.size > kMaxModuleBtf)
    return fail(Errc::malformed, fmt::format("module {}: implausible BTF ({} bytes at {:#x})",
                                             name, ref.size, ref.data));
  std::vector<std::uint8_t> blob(ref.size);
  const ReadOutcome o = as.read(VirtAddr(ref.data), blob);
  if (o.bytes_read < blob.size())
    return fail(o.fault ? o.fault->code : Errc::io,
                fmt::format("module {}: reading its BTF at {:#x}: {}", name, ref.data,
                            o.fault ? o.fault->message : "short read"));
  auto b = btf::Btf::parse_split(blob, vmlinux);
  if (!b) return fail(b.error().code, fmt::format("module {}: {}", name, b.error().message));
  return b;
}

}  // namespace tlpstub::kernel
