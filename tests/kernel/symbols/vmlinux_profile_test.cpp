// A profile from a vmlinux (kernel/symbols/vmlinux_profile.hpp) on an ELF file laid out here
// byte by byte from the ELF64 gABI (not by our ELF writer), holding the hand-built BTF of
// tests/kernel/btf_sample.hpp, a .rodata with a weak placeholder banner and the real one, and a
// GNU build id note. Expected offsets are the ones written into the sample blob by hand.
#include <gtest/gtest.h>

#include <cstring>

#include "kernel/symbols/vmlinux_profile.hpp"
#include "tests/kernel/btf_sample.hpp"
#include "tests/kernel/dwarf_sample.hpp"

namespace tlpstub::kernel {
namespace {

using namespace std::string_view_literals;

struct TinySection {
  std::string name;
  std::vector<std::uint8_t> bytes;
  std::uint32_t type = 1;  // SHT_PROGBITS
  std::uint64_t flags = 0;
};

void put(std::vector<std::uint8_t>& b, std::size_t at, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

// ELF header (64 bytes), the sections' bytes, .shstrtab, then the section headers.
std::vector<std::uint8_t> tiny_elf(const std::vector<TinySection>& secs) {
  std::vector<std::uint8_t> f(64, 0);
  std::memcpy(f.data(), "\x7f" "ELF", 4);
  f[4] = 2;  // ELFCLASS64
  f[5] = 1;  // little-endian
  f[6] = 1;
  put(f, 16, 2, 2);   // ET_EXEC
  put(f, 18, 62, 2);  // EM_X86_64
  std::string shstr(1, '\0');
  std::vector<std::pair<std::uint64_t, std::uint64_t>> where;  // offset, size
  std::vector<std::uint32_t> names;
  for (const TinySection& s : secs) {
    names.push_back(static_cast<std::uint32_t>(shstr.size()));
    shstr += s.name + '\0';
    where.emplace_back(f.size(), s.bytes.size());
    f.insert(f.end(), s.bytes.begin(), s.bytes.end());
  }
  const std::uint32_t shstr_name = static_cast<std::uint32_t>(shstr.size());
  shstr += ".shstrtab";
  shstr += '\0';
  const std::uint64_t shstr_off = f.size();
  f.insert(f.end(), shstr.begin(), shstr.end());
  while (f.size() % 8) f.push_back(0);
  const std::uint64_t shoff = f.size();
  const std::uint64_t shnum = secs.size() + 2;  // null, ours, .shstrtab
  f.resize(f.size() + shnum * 64, 0);
  auto shdr = [&](std::uint64_t i, std::uint32_t name, std::uint32_t type, std::uint64_t off,
                  std::uint64_t size, std::uint64_t flags = 0) {
    const std::size_t at = shoff + i * 64;
    put(f, at, name, 4);
    put(f, at + 4, type, 4);
    put(f, at + 8, flags, 8);
    put(f, at + 24, off, 8);
    put(f, at + 32, size, 8);
  };
  for (std::size_t i = 0; i < secs.size(); ++i)
    shdr(i + 1, names[i], secs[i].type, where[i].first, where[i].second, secs[i].flags);
  shdr(shnum - 1, shstr_name, 3 /* SHT_STRTAB */, shstr_off, shstr.size());
  put(f, 40, shoff, 8);
  put(f, 58, 64, 2);
  put(f, 60, shnum, 2);
  put(f, 62, shnum - 1, 2);
  return f;
}

std::uint64_t load_le64_for_test(const std::vector<std::uint8_t>& b, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{b[at + i]} << (8 * i);
  return v;
}

std::vector<std::uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

std::vector<std::uint8_t> build_id_note() {
  std::vector<std::uint8_t> n(12 + 4 + 20, 0);
  put(n, 0, 4, 4);   // namesz
  put(n, 4, 20, 4);  // descsz
  put(n, 8, 3, 4);   // NT_GNU_BUILD_ID
  std::memcpy(n.data() + 12, "GNU", 4);
  for (int i = 0; i < 20; ++i) n[16 + i] = static_cast<std::uint8_t>(0xa0 + i);
  return n;
}

// As in Debian's vmlinux: other notes (Xen's) come first in ".notes".
std::vector<std::uint8_t> xen_note_then(std::vector<std::uint8_t> gnu) {
  // Sized once (inserting at the end trips a false -Warray-bounds in g++ 12 at -O2).
  std::vector<std::uint8_t> n(12 + 4 + 8 + gnu.size(), 0);
  put(n, 0, 4, 4);  // namesz "Xen\0"
  put(n, 4, 6, 4);  // descsz 6 ("linux\0"), padded to 8
  put(n, 8, 6, 4);
  std::memcpy(n.data() + 12, "Xen", 4);
  std::memcpy(n.data() + 16, "linux", 6);
  std::copy(gnu.begin(), gnu.end(), n.begin() + 24);
  return n;
}

constexpr std::string_view kRodata =
    "\0\0junk\0Linux version 6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 "
    "(Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) # SMP PREEMPT_DYNAMIC "
    "Debian 6.1.192-3 (2026-11-20)\n\0more\0Linux version 6.1.0-57-cloud-amd64 "
    "(debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils "
    "for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-20)\n\0tail"sv;

FileReadAt reader(const std::vector<std::uint8_t>& f) {
  return [&f](std::uint64_t off, std::uint64_t n) -> Result<std::vector<std::uint8_t>> {
    if (off > f.size() || f.size() - off < n) return fail(Errc::io, "read past the end");
    return std::vector<std::uint8_t>(f.begin() + off, f.begin() + off + n);
  };
}

std::vector<TinySection> good_sections() {
  return {{".text", {0xc3}},
          {".rodata", bytes_of(kRodata)},
          {".BTF", tlpstub::test::sample_btf().bytes()},
          {".notes", xen_note_then(build_id_note()), 7 /* SHT_NOTE */}};
}

const ProfileMember* find_member(const Profile& p, std::string_view s, std::string_view path) {
  for (const ProfileMember& m : p.members)
    if (m.struct_name == s && m.path == path) return &m;
  return nullptr;
}

TEST(VmlinuxProfile, ReleaseBuildIdAndOffsetsFromTheFile) {
  const auto f = tiny_elf(good_sections());
  auto vp = profile_from_vmlinux(reader(f), f.size(), "vmlinux-test");
  ASSERT_TRUE(vp) << vp.error().message;
  EXPECT_EQ(vp->profile.release, "6.1.0-57-cloud-amd64");
  EXPECT_EQ(vp->profile.build_id, "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3");
  // Offsets as written into tests/kernel/btf_sample.hpp.
  const ProfileMember* comm = find_member(vp->profile, "task_struct", "comm");
  ASSERT_NE(comm, nullptr);
  EXPECT_EQ(comm->field.offset, 48u);
  EXPECT_EQ(comm->field.size, 16u);
  EXPECT_EQ(comm->field.source, "vmlinux BTF");
  const ProfileMember* sp = find_member(vp->profile, "task_struct", "thread.sp");
  ASSERT_NE(sp, nullptr);
  EXPECT_EQ(sp->field.offset, 64u + 24u);
  bool task_size = false;
  for (const ProfileSize& z : vp->profile.sizes)
    task_size = task_size || (z.struct_name == "task_struct" && z.size == 128);
  EXPECT_TRUE(task_size);
  // What the file gives, saved, loads as a profile.
  EXPECT_TRUE(parse_profile(profile_to_json(vp->profile)));
}

TEST(VmlinuxProfile, NoBuildIdNoteLeavesItEmpty) {
  auto secs = good_sections();
  secs.pop_back();
  const auto f = tiny_elf(secs);
  auto vp = profile_from_vmlinux(reader(f), f.size(), "v");
  ASSERT_TRUE(vp) << vp.error().message;
  EXPECT_EQ(vp->profile.build_id, "");
}

TEST(VmlinuxProfile, BadFilesGiveErrors) {
  auto err = [](const std::vector<std::uint8_t>& f) {
    auto vp = profile_from_vmlinux(reader(f), f.size(), "v");
    return vp ? std::string("ok") : vp.error().message;
  };
  EXPECT_EQ(err(bytes_of("short")), "v: too short for ELF");
  std::vector<std::uint8_t> notelf(100, 0);
  EXPECT_EQ(err(notelf), "v: not an ELF file");

  auto secs = good_sections();
  secs.erase(secs.begin() + 2);  // no .BTF, and no DWARF either
  EXPECT_EQ(err(tiny_elf(secs)),
            "v: no .debug_info section (neither .BTF nor DWARF: not a -dbg vmlinux?)");
  const auto nobtf = tiny_elf(secs);
  auto only_btf = profile_from_vmlinux(reader(nobtf), nobtf.size(), "v", VmlinuxTypes::btf);
  ASSERT_FALSE(only_btf);
  EXPECT_EQ(only_btf.error().message,
            "v: no .BTF section (a kernel built without CONFIG_DEBUG_INFO_BTF?)");

  secs = good_sections();
  secs[1].bytes = bytes_of("no banner here");
  EXPECT_EQ(err(tiny_elf(secs)), "v: no linux_banner (\"Linux version ...\") in .rodata");

  secs = good_sections();
  secs[2].bytes.resize(30);  // a BTF header claiming more than the section holds
  EXPECT_NE(err(tiny_elf(secs)).find("v: .BTF: BTF: header claims"), std::string::npos);

  // A section that claims to run past the end of the file.
  auto f = tiny_elf(good_sections());
  const std::uint64_t shoff = load_le64_for_test(f, 40);
  put(f, shoff + 2 * 64 + 32, 1ull << 40, 8);  // .rodata's sh_size
  EXPECT_EQ(err(f), "v: section 2 runs past the end");

  // Section headers past the end.
  f = tiny_elf(good_sections());
  put(f, 40, f.size() - 10, 8);
  EXPECT_EQ(err(f), "v: section headers past the end of the file");

  // A note whose sizes run past the section: no build id, not a read past it.
  secs = good_sections();
  put(secs[3].bytes, 4, 0xffffff, 4);  // the Xen note's descsz
  const auto bent = tiny_elf(secs);
  auto vp = profile_from_vmlinux(reader(bent), bent.size(), "v");
  ASSERT_TRUE(vp) << vp.error().message;
  EXPECT_EQ(vp->profile.build_id, "");
}

TEST(VmlinuxProfile, MissingFile) {
  auto vp = profile_from_vmlinux_file("/nonexistent/vmlinux");
  ASSERT_FALSE(vp);
  EXPECT_EQ(vp.error().message, "/nonexistent/vmlinux: cannot open it");
}

}  // namespace
}  // namespace tlpstub::kernel

namespace tlpstub::kernel {
namespace {

// The DWARF of tests/kernel/dwarf_sample.hpp in place of (or beside) .BTF.
std::vector<TinySection> dwarf_sections(int version, bool with_btf) {
  auto d = dwarf_sample::make(version);
  std::vector<TinySection> secs = {{".text", {0xc3}}, {".rodata", bytes_of(kRodata)}};
  if (with_btf) secs.push_back({".BTF", tlpstub::test::sample_btf().bytes()});
  secs.push_back({".debug_info", d.info});
  secs.push_back({".debug_abbrev", d.abbrev});
  if (!d.str.empty()) secs.push_back({".debug_str", d.str});
  if (!d.line_str.empty()) secs.push_back({".debug_line_str", d.line_str});
  if (!d.str_offsets.empty()) secs.push_back({".debug_str_offsets", d.str_offsets});
  secs.push_back({".notes", build_id_note(), 7});
  return secs;
}

TEST(VmlinuxProfileDwarf, WithoutBtfTheDwarfGivesTheProfile) {
  for (int version : {4, 5}) {
    const auto f = tiny_elf(dwarf_sections(version, false));
    auto vp = profile_from_vmlinux(reader(f), f.size(), "v");
    ASSERT_TRUE(vp) << vp.error().message;
    EXPECT_EQ(vp->types_from, "DWARF");
    EXPECT_EQ(vp->profile.release, "6.1.0-57-cloud-amd64");
    EXPECT_EQ(vp->dwarf_units, 1u);
    // Offsets as written into tests/kernel/dwarf_sample.hpp.
    const ProfileMember* pid = find_member(vp->profile, "task_struct", "pid");
    ASSERT_NE(pid, nullptr);
    EXPECT_EQ(pid->field.offset, 4u);
    EXPECT_EQ(pid->field.type_name, "pid_t");
    EXPECT_EQ(pid->field.source, "vmlinux DWARF");
    const ProfileMember* state = find_member(vp->profile, "task_struct", "__state");
    ASSERT_NE(state, nullptr);
    EXPECT_EQ(state->field.size, 4u);
    const ProfileMember* flags = find_member(vp->profile, "task_struct", "flags");
    ASSERT_NE(flags, nullptr);
    EXPECT_EQ(flags->field.bit_offset, 192u);
    EXPECT_EQ(flags->field.bit_size, 5u);
    EXPECT_EQ(find_member(vp->profile, "task_struct", "thread.sp"), nullptr);  // not in it
    bool task_size = false;
    for (const ProfileSize& z : vp->profile.sizes)
      task_size = task_size || (z.struct_name == "task_struct" && z.size == 56 &&
                                z.source == "vmlinux DWARF");
    EXPECT_TRUE(task_size);
    EXPECT_TRUE(parse_profile(profile_to_json(vp->profile)));
  }
}

TEST(VmlinuxProfileDwarf, FromChoosesTheSource) {
  const auto f = tiny_elf(dwarf_sections(5, true));
  auto btf = profile_from_vmlinux(reader(f), f.size(), "v");
  ASSERT_TRUE(btf) << btf.error().message;
  EXPECT_EQ(btf->types_from, "BTF");
  EXPECT_EQ(find_member(btf->profile, "task_struct", "comm")->field.offset, 48u);
  auto dw = profile_from_vmlinux(reader(f), f.size(), "v", VmlinuxTypes::dwarf);
  ASSERT_TRUE(dw) << dw.error().message;
  EXPECT_EQ(dw->types_from, "DWARF");
  EXPECT_EQ(find_member(dw->profile, "task_struct", "comm")->field.offset, 32u);
}

TEST(VmlinuxProfileDwarf, CompressedAndBrokenDwarfIsRefusedByName) {
  auto secs = dwarf_sections(5, false);
  secs[2].flags = 0x800;  // SHF_COMPRESSED on .debug_info
  auto f = tiny_elf(secs);
  auto vp = profile_from_vmlinux(reader(f), f.size(), "v");
  ASSERT_FALSE(vp);
  EXPECT_EQ(vp.error().message, "v: .debug_info is compressed (SHF_COMPRESSED), which is not "
                                "supported (objcopy --decompress-debug-sections)");
  secs = dwarf_sections(5, false);
  secs[2].bytes[4] = 7;  // DWARF version 7
  f = tiny_elf(secs);
  vp = profile_from_vmlinux(reader(f), f.size(), "v");
  ASSERT_FALSE(vp);
  EXPECT_EQ(vp.error().message,
            "v: DWARF: unit at 0x0: DWARF version 7 (this reader knows 4 and 5)");
}

}  // namespace
}  // namespace tlpstub::kernel
