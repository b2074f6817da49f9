#include "kernel/symbols/vmlinux_profile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>

#include "common/bytes.hpp"
#include "kernel/banner.hpp"
#include "kernel/symbols/btf.hpp"
#include "kernel/symbols/dwarf_types.hpp"
#include "kernel/symbols/type_info.hpp"
#include "kernel/symbols/wanted_offsets.hpp"

namespace tlpstub::kernel {

namespace {

// ELF64 (System V gABI): the header fields read here and a section header's.
//   e_ident[16] | e_type u16 @16 | e_machine u16 @18 | ... | e_shoff u64 @40 |
//   e_shentsize u16 @58 | e_shnum u16 @60 | e_shstrndx u16 @62
//   Elf64_Shdr (64 bytes): sh_name u32 @0, sh_type u32 @4, sh_offset u64 @24, sh_size u64 @32
constexpr std::uint64_t kVmlElfHeader = 64, kVmlShdrSize = 64;
constexpr std::uint16_t kVmlMachineX8664 = 62;
constexpr std::uint32_t kVmlShtNote = 7, kVmlShtNobits = 8;
// Bounds: a vmlinux has ~80 sections; .BTF is ~5 MB, .rodata ~10 MB on distribution kernels.
constexpr std::uint64_t kVmlMaxSections = 4096;
constexpr std::uint64_t kVmlMaxSection = 256u << 20;
// Debian 6.1's -dbg vmlinux has 163 MB of .debug_info; read whole, once.
constexpr std::uint64_t kVmlMaxDebug = 2ull << 30;
constexpr std::uint64_t kVmlShfCompressed = 0x800;constexpr std::uint64_t kVmlMaxNote = 64u << 10;
constexpr std::uint32_t kVmlNtGnuBuildId = 3;

struct VmlSection {
  std::string name;
  std::uint32_t type = 0;
  std::uint64_t flags = 0, offset = 0, size = 0;
};

Error vml_bad(const std::string& file, const std::string& what) {
  return Error{Errc::malformed, fmt::format("{}: {}", file, what), 0};
}

Result<std::vector<VmlSection>> vml_sections(const FileReadAt& read, std::uint64_t file_size,
                                             const std::string& file) {
  if (file_size < kVmlElfHeader) return std::unexpected(vml_bad(file, "too short for ELF"));
  auto h = read(0, kVmlElfHeader);
  if (!h) return std::unexpected(h.error());
  const std::uint8_t* e = h->data();
  if (std::string_view(reinterpret_cast<const char*>(e), 4) != "\x7f" "ELF")
    return std::unexpected(vml_bad(file, "not an ELF file"));
  if (e[4] != 2 || e[5] != 1)
    return std::unexpected(vml_bad(file, "not a little-endian 64-bit ELF file"));
  const std::uint16_t machine = static_cast<std::uint16_t>(e[18] | e[19] << 8);
  if (machine != kVmlMachineX8664)
    return std::unexpected(vml_bad(file, fmt::format("ELF machine {}, not x86-64", machine)));
  const std::uint64_t shoff = load_le64(e + 40);
  const std::uint64_t shentsize = e[58] | e[59] << 8, shnum = e[60] | e[61] << 8;
  const std::uint64_t shstrndx = e[62] | e[63] << 8;
  if (shnum == 0 || shnum > kVmlMaxSections || shentsize < kVmlShdrSize)
    return std::unexpected(vml_bad(file, fmt::format("{} section headers of {} bytes", shnum,
                                                     shentsize)));
  if (shoff > file_size || (file_size - shoff) / shentsize < shnum)
    return std::unexpected(vml_bad(file, "section headers past the end of the file"));
  if (shstrndx >= shnum)
    return std::unexpected(vml_bad(file, fmt::format("section name table index {} of {}",
                                                     shstrndx, shnum)));
  auto sh = read(shoff, shnum * shentsize);
  if (!sh) return std::unexpected(sh.error());
  std::vector<VmlSection> out(shnum);
  for (std::uint64_t i = 0; i < shnum; ++i) {
    const std::uint8_t* s = sh->data() + i * shentsize;
    out[i].type = load_le32(s + 4);
    out[i].flags = load_le64(s + 8);
    out[i].offset = load_le64(s + 24);
    out[i].size = load_le64(s + 32);
    if (out[i].type != kVmlShtNobits &&
        (out[i].offset > file_size || file_size - out[i].offset < out[i].size))
      return std::unexpected(vml_bad(file, fmt::format("section {} runs past the end", i)));
  }
  const VmlSection& names = out[shstrndx];
  if (names.size > kVmlMaxSection || names.type == kVmlShtNobits)
    return std::unexpected(vml_bad(file, "bad section name table"));
  auto strs = read(names.offset, names.size);
  if (!strs) return std::unexpected(strs.error());
  for (std::uint64_t i = 0; i < shnum; ++i) {
    const std::uint64_t off = load_le32(sh->data() + i * shentsize);
    if (off >= strs->size()) continue;  // nameless: never one of ours
    const char* p = reinterpret_cast<const char*>(strs->data() + off);
    out[i].name.assign(p, strnlen(p, strs->size() - off));
  }
  return out;
}

Result<std::vector<std::uint8_t>> vml_section_bytes(const FileReadAt& read,
                                                    const std::vector<VmlSection>& secs,
                                                    std::string_view name, std::uint64_t max,
                                                    const std::string& file) {
  for (const VmlSection& s : secs) {
    if (s.name != name) continue;
    if (s.type == kVmlShtNobits || s.size == 0)
      return std::unexpected(vml_bad(file, fmt::format("section {} is empty", name)));
    if (s.size > max)
      return std::unexpected(
          vml_bad(file, fmt::format("section {} is {} bytes, over {}", name, s.size, max)));
    return read(s.offset, s.size);
  }
  return std::unexpected(Error{Errc::not_found, fmt::format("{}: no {} section", file, name), 0});
}

// Notes: namesz u32, descsz u32, type u32, name, desc (each padded to 4 bytes); the build id
// is the one of type NT_GNU_BUILD_ID named "GNU". A note that runs past the section ends the
// search.
std::optional<std::string> vml_build_id(std::span<const std::uint8_t> n) {
  std::uint64_t pos = 0;
  while (n.size() - pos >= 12) {
    const std::uint64_t namesz = load_le32(n.data() + pos), descsz = load_le32(n.data() + pos + 4);
    const std::uint32_t type = load_le32(n.data() + pos + 8);
    const std::uint64_t name_at = pos + 12, desc_at = name_at + ((namesz + 3) & ~3ull);
    const std::uint64_t next = desc_at + ((descsz + 3) & ~3ull);
    if (namesz > n.size() || descsz > n.size() || next > n.size()) return std::nullopt;
    if (type == kVmlNtGnuBuildId && namesz == 4 &&
        std::string_view(reinterpret_cast<const char*>(n.data() + name_at), 4) ==
            std::string_view("GNU\0", 4)) {
      std::string hex;
      for (std::uint64_t i = 0; i < descsz; ++i) hex += fmt::format("{:02x}", n[desc_at + i]);
      return hex;
    }
    pos = next;
  }
  return std::nullopt;
}

// The wanted members and sizes (wanted_offsets.hpp) from the DWARF sections, added to `ti`
// as another source would add them, so make_profile writes them as it writes BTF's.
Result<void> vml_dwarf_types(const FileReadAt& read, const std::vector<VmlSection>& secs,
                             const std::string& file, TypeInfo& ti, VmlinuxProfile& out) {
  for (const VmlSection& s : secs) {
    if (s.name.starts_with(".zdebug_"))
      return std::unexpected(vml_bad(file, fmt::format(
          "{}: GNU-compressed DWARF is not supported (objcopy --decompress-debug-sections)",
          s.name)));
    if (s.name.starts_with(".debug_") && (s.flags & kVmlShfCompressed))
      return std::unexpected(vml_bad(file, fmt::format(
          "{} is compressed (SHF_COMPRESSED), which is not supported (objcopy "
          "--decompress-debug-sections)", s.name)));
  }
  // Optional sections: a producer that uses no such form has none of them.
  auto optional = [&](std::string_view name) -> Result<std::vector<std::uint8_t>> {
    auto b = vml_section_bytes(read, secs, name, kVmlMaxDebug, file);
    if (!b && b.error().code == Errc::not_found) return std::vector<std::uint8_t>{};
    if (!b && b.error().message.ends_with("is empty")) return std::vector<std::uint8_t>{};
    return b;
  };
  auto info = vml_section_bytes(read, secs, ".debug_info", kVmlMaxDebug, file);
  if (!info)
    return fail(info.error().code,
                info.error().message + " (neither .BTF nor DWARF: not a -dbg vmlinux?)");
  auto abbrev = vml_section_bytes(read, secs, ".debug_abbrev", kVmlMaxDebug, file);
  if (!abbrev) return std::unexpected(abbrev.error());
  auto str = optional(".debug_str");
  if (!str) return std::unexpected(str.error());
  auto line_str = optional(".debug_line_str");
  if (!line_str) return std::unexpected(line_str.error());
  auto str_offsets = optional(".debug_str_offsets");
  if (!str_offsets) return std::unexpected(str_offsets.error());

  std::vector<std::string_view> names;
  for (const WantedMember& w : wanted_members()) names.push_back(w.struct_name);
  for (std::string_view s : wanted_sizes()) names.push_back(s);
  auto dw =
      dwarf_read::DwarfTypes::load({*info, *abbrev, *str, *line_str, *str_offsets}, names);
  if (!dw) return fail(dw.error().code, file + ": DWARF: " + dw.error().message);
  const std::string source = "vmlinux DWARF";
  for (const WantedMember& w : wanted_members())
    for (std::string_view p : w.paths) {
      auto f = dw->member(w.struct_name, p);
      if (!f && f.error().code == Errc::malformed)
        return fail(f.error().code, fmt::format("{}: DWARF: {}.{}: {}", file, w.struct_name, p,
                                                f.error().message));
      if (!f) continue;
      f->source = source;
      ti.add_member(std::string(w.struct_name), std::string(p), std::move(*f));
      break;
    }
  for (std::string_view s : wanted_sizes())
    if (auto z = dw->struct_size(s)) ti.add_size(std::string(s), *z, source);
  out.types_from = "DWARF";
  out.dwarf_units = dw->stats().units;
  out.dwarf_dies = dw->stats().dies;
  out.dwarf_bytes = info->size();
  return {};
}

}  // namespace

Result<VmlinuxProfile> profile_from_vmlinux(const FileReadAt& read, std::uint64_t file_size,
                                            const std::string& file, VmlinuxTypes from) {
  auto secs = vml_sections(read, file_size, file);
  if (!secs) return std::unexpected(secs.error());

  VmlinuxProfile out;
  TypeInfo ti;
  const bool has_btf = std::any_of(secs->begin(), secs->end(),
                                   [](const VmlSection& s) { return s.name == ".BTF"; });
  if (from == VmlinuxTypes::dwarf || (from == VmlinuxTypes::auto_ && !has_btf)) {
    auto r = vml_dwarf_types(read, *secs, file, ti, out);
    if (!r) return std::unexpected(r.error());
  } else {
    auto btf_bytes = vml_section_bytes(read, *secs, ".BTF", kVmlMaxSection, file);
    if (!btf_bytes)
      return fail(btf_bytes.error().code,
                  btf_bytes.error().message + " (a kernel built without CONFIG_DEBUG_INFO_BTF?)");
    auto btf = btf::Btf::parse(*btf_bytes);
    if (!btf) return fail(btf.error().code, file + ": .BTF: " + btf.error().message);
    auto shared = std::make_shared<const btf::Btf>(std::move(*btf));
    out.types_from = "BTF";
    out.btf_types = shared->type_count();
    out.btf_bytes = shared->size_bytes();
    ti = TypeInfo(shared);
  }

  auto rodata = vml_section_bytes(read, *secs, ".rodata", kVmlMaxSection, file);
  if (!rodata) return std::unexpected(rodata.error());
  KernelImage img;
  for (const BannerCandidate& c : find_banner_candidates(*rodata, 0)) {
    if (c.kind == BannerKind::copy || !c.nul_before) continue;
    if (!img.release.empty() && img.release != c.release)
      return std::unexpected(vml_bad(file, fmt::format("two kernel banners in .rodata, releases "
                                                       "'{}' and '{}'", img.release, c.release)));
    img.release = c.release;
    if (c.kind == BannerKind::real || img.banner.empty()) img.banner = c.text;
  }
  if (img.release.empty())
    return std::unexpected(vml_bad(file, "no linux_banner (\"Linux version ...\") in .rodata"));

  // The kernel's linker script gathers every .note.* into one ".notes" (Debian 6.1: Xen notes,
  // then the GNU build id), so every SHT_NOTE section is searched. Without a build id the
  // profile still works (check_profile then compares releases only).
  for (const VmlSection& sec : *secs) {
    if (sec.type != kVmlShtNote || !img.build_id.empty()) continue;
    if (sec.size > kVmlMaxNote)
      return std::unexpected(vml_bad(file, fmt::format("note section {} is {} bytes, over {}",
                                                       sec.name, sec.size, kVmlMaxNote)));
    auto note = read(sec.offset, sec.size);
    if (!note) return std::unexpected(note.error());
    if (auto id = vml_build_id(*note)) img.build_id = *id;
  }

  out.profile = make_profile(ti, img);
  // make_profile keeps each member's source ("BTF"): say it was a file's, not memory's.
  const std::string source = "vmlinux " + out.types_from;
  for (ProfileMember& m : out.profile.members) m.field.source = source;
  for (ProfileSize& z : out.profile.sizes) z.source = source;
  return out;
}

Result<VmlinuxProfile> profile_from_vmlinux_file(const std::string& path, VmlinuxTypes from) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return fail(Errc::io, fmt::format("{}: cannot open it", path));
  if (std::fseek(f.get(), 0, SEEK_END) != 0) return fail(Errc::io, path + ": cannot seek");
  const long end = std::ftell(f.get());
  if (end < 0) return fail(Errc::io, path + ": not a regular file");
  FileReadAt read = [&](std::uint64_t off, std::uint64_t n) -> Result<std::vector<std::uint8_t>> {
    std::vector<std::uint8_t> b(n);
    if (std::fseek(f.get(), static_cast<long>(off), SEEK_SET) != 0 ||
        std::fread(b.data(), 1, n, f.get()) != n)
      return fail(Errc::io, fmt::format("{}: cannot read {} bytes at {:#x}", path, n, off));
    return b;
  };
  return profile_from_vmlinux(read, static_cast<std::uint64_t>(end), path, from);
}

}  // namespace tlpstub::kernel
