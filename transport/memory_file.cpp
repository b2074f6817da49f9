#include "transport/memory_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <memory>

#include "common/parse.hpp"
#include "transport/elf_core.hpp"

namespace tlpstub {

Result<std::vector<MapEntry>> parse_memory_map(std::string_view spec) {
  std::vector<MapEntry> out;
  for (std::string_view item : split(spec, ',')) {
    auto f = split(item, ':');
    if (f.size() != 3)
      return fail(Errc::invalid_argument,
                  fmt::format("map entry '{}' is not PHYS:OFFSET:LEN", item));
    auto p = parse_size(f[0]), o = parse_size(f[1]), l = parse_size(f[2]);
    if (!p || !o || !l)
      return fail(Errc::invalid_argument, fmt::format("map entry '{}' has a bad number", item));
    if (*l == 0) return fail(Errc::invalid_argument, fmt::format("map entry '{}' is empty", item));
    if (*p + *l < *p || *o + *l < *o)
      return fail(Errc::invalid_argument, fmt::format("map entry '{}' overflows", item));
    out.push_back({*p, *o, *l});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.phys < b.phys; });
  for (std::size_t i = 1; i < out.size(); ++i)
    if (out[i - 1].phys + out[i - 1].length > out[i].phys)
      return fail(Errc::invalid_argument, "map entries overlap in physical space");
  return out;
}

Result<std::unique_ptr<MemoryFile>> MemoryFile::open(const std::string& path,
                                                     std::vector<MapEntry> map) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(Errc::io, fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    return fail(Errc::io, fmt::format("{} is empty or cannot be read", path));
  }
  auto size = static_cast<std::uint64_t>(st.st_size);
  void* base = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    ::close(fd);
    return fail(Errc::io, fmt::format("cannot mmap {}: {}", path, std::strerror(errno)));
  }
  const std::span<const std::uint8_t> bytes(static_cast<const std::uint8_t*>(base), size);
  bool elf = false;
  std::string vmcoreinfo;
  if (looks_like_elf(bytes)) {
    auto core = parse_elf_core(bytes);
    if (!core) {
      munmap(base, size);
      ::close(fd);
      return fail(core.error().code, fmt::format("{}: {}", path, core.error().message));
    }
    if (!map.empty()) {
      munmap(base, size);
      ::close(fd);
      return fail(Errc::invalid_argument,
                  fmt::format("{} is an ELF core: its program headers place the memory, --map "
                              "does not apply",
                              path));
    }
    map = elf_core_map(*core);
    if (map.empty()) {
      munmap(base, size);
      ::close(fd);
      return fail(Errc::malformed,
                  fmt::format("{}: ELF core has no PT_LOAD with a physical address", path));
    }
    vmcoreinfo = vmcoreinfo_of(*core).value_or("");
    elf = true;
  }
  if (map.empty()) map.push_back({0, 0, size});
  std::sort(map.begin(), map.end(), [](auto& a, auto& b) { return a.phys < b.phys; });
  for (auto& e : map)
    if (!e.zero && e.offset + e.length > size)
      return (munmap(base, size), ::close(fd),
              fail(Errc::invalid_argument,
                   fmt::format("map entry at file offset {:#x} length {:#x} is past the end of "
                               "{} ({:#x} bytes)",
                               e.offset, e.length, path, size)));
  std::unique_ptr<MemoryFile> mf(
      new MemoryFile(path, fd, static_cast<const std::uint8_t*>(base), size, std::move(map)));
  mf->elf_core_ = elf;
  mf->vmcoreinfo_ = std::move(vmcoreinfo);
  return mf;
}

MemoryFile::MemoryFile(std::string path, int fd, const std::uint8_t* base, std::uint64_t size,
                       std::vector<MapEntry> map)
    : path_(std::move(path)), fd_(fd), base_(base), mapped_size_(size), map_(std::move(map)) {}

MemoryFile::~MemoryFile() {
  munmap(const_cast<std::uint8_t*>(base_), mapped_size_);
  ::close(fd_);
}

// The file may shrink while we run (a guest restarted); touching mapped pages past its end would
// raise SIGBUS, so every batch checks the size first.
std::uint64_t MemoryFile::current_size() const {
  struct stat st {};
  if (fstat(fd_, &st) != 0) return 0;
  return std::min<std::uint64_t>(static_cast<std::uint64_t>(st.st_size), mapped_size_);
}

std::span<const std::uint8_t> MemoryFile::view(PhysAddr phys, std::size_t len) const {
  auto it = std::upper_bound(map_.begin(), map_.end(), phys.value,
                             [](std::uint64_t a, const MapEntry& e) { return a < e.phys; });
  if (it == map_.begin()) return {};
  const MapEntry& e = *--it;
  std::uint64_t rel = phys.value - e.phys;
  if (rel >= e.length || len > e.length - rel || e.zero) return {};
  std::uint64_t off = e.offset + rel;
  if (off + len > current_size()) return {};
  return {base_ + off, len};
}

// A mapped file answers in microseconds: the deadline never matters here.
void MemoryFile::do_read(std::span<const ReadRange> ranges, std::span<ReadStatus> results,
                         Deadline) {
  const std::uint64_t size = current_size();
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const ReadRange& r = ranges[i];
    std::uint64_t addr = r.addr.value;
    std::size_t done = 0;
    results[i] = {};
    while (done < r.out.size()) {
      auto it = std::upper_bound(map_.begin(), map_.end(), addr,
                                 [](std::uint64_t a, const MapEntry& e) { return a < e.phys; });
      const MapEntry* e = it == map_.begin() ? nullptr : &*std::prev(it);
      if (!e || addr - e->phys >= e->length) {
        results[i] = fail(Errc::unbacked, fmt::format("no memory at physical {:#x}", addr), addr);
        break;
      }
      std::uint64_t rel = addr - e->phys;
      std::uint64_t n = std::min<std::uint64_t>(r.out.size() - done, e->length - rel);
      std::uint64_t off = e->offset + rel;
      if (e->zero) {
        std::memset(r.out.data() + done, 0, n);
        done += n;
        addr += n;
        continue;
      }
      if (off + n > size) {
        results[i] = fail(Errc::unbacked,
                          fmt::format("physical {:#x} is past the end of {}", addr, path_), addr);
        break;
      }
      std::memcpy(r.out.data() + done, base_ + off, n);
      done += n;
      addr += n;
    }
  }
}

MemoryInfo MemoryFile::info() const {
  MemoryInfo mi;
  mi.name = (elf_core_ ? "elf-core:" : "file:") + path_;
  for (auto& e : map_) mi.max_address = std::max(mi.max_address, e.phys + e.length);
  mi.preferred_batch = 1024;
  return mi;
}

}  // namespace tlpstub
