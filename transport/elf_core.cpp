#include "transport/elf_core.hpp"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <iterator>
#include <map>

#include "common/bytes.hpp"

namespace tlpstub {

namespace {

// Notes per core and bytes per note desc at most: a real core has one note per CPU plus a few
// (QEMU: 2 per CPU); these bound what a hostile file can make us allocate.
constexpr std::size_t kMaxCoreNotes = 65536;

std::uint16_t le16_at(std::span<const std::uint8_t> b, std::size_t off) {
  return static_cast<std::uint16_t>(b[off] | (b[off + 1] << 8));
}
std::uint32_t le32_at(std::span<const std::uint8_t> b, std::size_t off) {
  return load_le32(b.data() + off);
}
std::uint64_t le64_at(std::span<const std::uint8_t> b, std::size_t off) {
  return load_le64(b.data() + off);
}
std::uint64_t align4(std::uint64_t v) { return (v + 3) & ~3ull; }

// Elf64_Nhdr records: u32 namesz (with NUL), u32 descsz, u32 type, name and desc padded to 4.
Result<void> parse_notes(std::span<const std::uint8_t> seg, std::uint64_t seg_off,
                         std::vector<ElfCoreNote>& out) {
  std::uint64_t pos = 0;
  while (pos + 12 <= seg.size()) {
    const std::uint32_t namesz = le32_at(seg, pos), descsz = le32_at(seg, pos + 4);
    const std::uint32_t type = le32_at(seg, pos + 8);
    // /proc/vmcore pads the note segment with zeros; an all-zero header ends the list.
    if (namesz == 0 && descsz == 0 && type == 0) break;
    const std::uint64_t name_at = pos + 12, desc_at = name_at + align4(namesz);
    const std::uint64_t end = desc_at + align4(descsz);
    if (desc_at > seg.size() || end > seg.size() || desc_at + descsz > seg.size())
      return fail(Errc::malformed,
                  fmt::format("ELF core: note at file offset {:#x} (namesz {}, descsz {}) runs past "
                              "its PT_NOTE segment",
                              seg_off + pos, namesz, descsz));
    if (out.size() >= kMaxCoreNotes)
      return fail(Errc::malformed, fmt::format("ELF core: more than {} notes", kMaxCoreNotes));
    ElfCoreNote n;
    n.type = type;
    std::size_t len = namesz;
    while (len > 0 && seg[name_at + len - 1] == 0) --len;  // the NUL (and any padding)
    n.name.assign(reinterpret_cast<const char*>(seg.data() + name_at), len);
    n.desc.assign(seg.begin() + static_cast<std::ptrdiff_t>(desc_at),
                  seg.begin() + static_cast<std::ptrdiff_t>(desc_at + descsz));
    out.push_back(std::move(n));
    pos = end;
  }
  return {};
}

}  // namespace

bool looks_like_elf(std::span<const std::uint8_t> head) {
  return head.size() >= 4 && head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F';
}

Result<ElfCore> parse_elf_core(std::span<const std::uint8_t> f) {
  if (f.size() < kElf64EhdrSize)
    return fail(Errc::malformed, fmt::format("ELF core: {} bytes, shorter than an ELF64 header",
                                             f.size()));
  if (!looks_like_elf(f)) return fail(Errc::malformed, "ELF core: no ELF magic");
  if (f[4] != 2) return fail(Errc::malformed, fmt::format("ELF core: class {} is not ELF64", f[4]));
  if (f[5] != 1)
    return fail(Errc::malformed, fmt::format("ELF core: data encoding {} is not little-endian", f[5]));
  if (f[6] != 1) return fail(Errc::malformed, fmt::format("ELF core: ident version {}", f[6]));
  const std::uint16_t type = le16_at(f, 16), machine = le16_at(f, 18);
  if (type != kEtCore)
    return fail(Errc::malformed, fmt::format("ELF core: e_type {} is not ET_CORE (4)", type));
  if (machine != kEmX86_64)
    return fail(Errc::malformed,
                fmt::format("ELF core: e_machine {} is not x86-64 (62)", machine));
  const std::uint64_t phoff = le64_at(f, 32);
  const std::uint16_t phentsize = le16_at(f, 54), phnum = le16_at(f, 56);
  if (phnum == 0) return fail(Errc::malformed, "ELF core: no program headers");
  if (phnum == 0xffff)  // PN_XNUM: the count lives in section 0, which cores do not have
    return fail(Errc::malformed, "ELF core: extended program header count (PN_XNUM) unsupported");
  if (phentsize != kElf64PhdrSize)
    return fail(Errc::malformed,
                fmt::format("ELF core: e_phentsize {} is not {}", phentsize, kElf64PhdrSize));
  if (phoff > f.size() || std::uint64_t(phnum) * kElf64PhdrSize > f.size() - phoff)
    return fail(Errc::malformed,
                fmt::format("ELF core: {} program headers at {:#x} run past the end of the file "
                            "({:#x} bytes)",
                            phnum, phoff, f.size()));
  ElfCore core;
  core.machine = machine;
  for (std::uint16_t i = 0; i < phnum; ++i) {
    const std::size_t p = phoff + std::size_t(i) * kElf64PhdrSize;
    const std::uint32_t ptype = le32_at(f, p);
    const std::uint64_t off = le64_at(f, p + 8), vaddr = le64_at(f, p + 16),
                        paddr = le64_at(f, p + 24), filesz = le64_at(f, p + 32),
                        memsz = le64_at(f, p + 40);
    if (ptype != kPtLoad && ptype != kPtNote) continue;
    if (off > f.size() || filesz > f.size() - off)
      return fail(Errc::malformed,
                  fmt::format("ELF core: program header {} (offset {:#x}, filesz {:#x}) runs past "
                              "the end of the file ({:#x} bytes); truncated copy?",
                              i, off, filesz, f.size()));
    if (ptype == kPtNote) {
      if (auto r = parse_notes(f.subspan(off, filesz), off, core.notes); !r)
        return std::unexpected(r.error());
      continue;
    }
    if (memsz < filesz)
      return fail(Errc::malformed,
                  fmt::format("ELF core: PT_LOAD {} has p_memsz {:#x} below p_filesz {:#x}", i,
                              memsz, filesz));
    if (paddr != kNoPaddr && paddr + memsz < paddr)
      return fail(Errc::malformed,
                  fmt::format("ELF core: PT_LOAD {} at physical {:#x} size {:#x} wraps around", i,
                              paddr, memsz));
    core.loads.push_back({paddr, vaddr, off, filesz, memsz});
  }
  if (core.loads.empty()) return fail(Errc::malformed, "ELF core: no PT_LOAD segments");
  return core;
}

std::optional<std::string> vmcoreinfo_of(const ElfCore& core) {
  for (const ElfCoreNote& n : core.notes)
    if (n.name == "VMCOREINFO") {
      std::string s(n.desc.begin(), n.desc.end());
      if (auto nul = s.find('\0'); nul != std::string::npos) s.resize(nul);
      return s;
    }
  return std::nullopt;
}

std::vector<MapEntry> elf_core_map(const ElfCore& core) {
  // Covered physical intervals [begin -> end); a new segment contributes only the gaps.
  std::map<std::uint64_t, std::uint64_t> covered;
  std::vector<MapEntry> out;
  for (const ElfCoreLoad& l : core.loads) {
    if (l.paddr == kNoPaddr || l.memsz == 0) continue;
    const std::uint64_t begin = l.paddr, end = l.paddr + l.memsz;
    auto emit = [&](std::uint64_t b, std::uint64_t e) {
      // [b, e) is new: file-backed up to p_filesz, zeros after.
      const std::uint64_t file_end = l.paddr + l.filesz;
      if (b < file_end)
        out.push_back({b, l.offset + (b - l.paddr), std::min(e, file_end) - b});
      if (e > file_end) {
        const std::uint64_t zb = std::max(b, file_end);
        out.push_back({zb, 0, e - zb, true});
      }
    };
    auto it = covered.upper_bound(begin);
    if (it != covered.begin() && std::prev(it)->second > begin) --it;
    std::uint64_t pos = begin;
    while (pos < end) {
      if (it == covered.end() || it->first >= end) {
        emit(pos, end);
        break;
      }
      if (it->first > pos) emit(pos, it->first);
      pos = std::max(pos, it->second);
      ++it;
    }
    // Merge [begin, end) into covered.
    std::uint64_t nb = begin, ne = end;
    auto first = covered.upper_bound(begin);
    if (first != covered.begin() && std::prev(first)->second >= begin) --first;
    auto last = first;
    while (last != covered.end() && last->first <= end) {
      nb = std::min(nb, last->first);
      ne = std::max(ne, last->second);
      ++last;
    }
    covered.erase(first, last);
    covered[nb] = ne;
  }
  std::sort(out.begin(), out.end(), [](const MapEntry& a, const MapEntry& b) { return a.phys < b.phys; });
  return out;
}

}  // namespace tlpstub
