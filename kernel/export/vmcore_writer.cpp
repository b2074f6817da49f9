#include "kernel/export/vmcore_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <future>

#include "common/bytes.hpp"

namespace tlpstub::kernel {

namespace {

constexpr std::uint64_t kDumpPage = 4096;
constexpr std::uint64_t kEhdrBytes = 64, kPhdrBytes = 56;
// Elf64 constants (include/uapi/linux/elf.h).
constexpr std::uint32_t kElfPtLoad = 1, kElfPtNote = 4, kElfPfRwx = 7;
constexpr std::uint16_t kElfEtCore = 4, kElfEmX86_64 = 62;

std::uint64_t page_down(std::uint64_t v) { return v & ~(kDumpPage - 1); }
std::uint64_t page_up(std::uint64_t v) { return (v + kDumpPage - 1) & ~(kDumpPage - 1); }

void put16(std::vector<std::uint8_t>& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v);
  b[at + 1] = static_cast<std::uint8_t>(v >> 8);
}
void put32(std::vector<std::uint8_t>& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void put64(std::vector<std::uint8_t>& b, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

//   Elf64_Phdr: type u32 @0, flags u32 @4, offset @8, vaddr @16, paddr @24, filesz @32,
//   memsz @40, align @48.
void put_phdr(std::vector<std::uint8_t>& b, std::size_t at, std::uint32_t type,
              std::uint64_t offset, std::uint64_t vaddr, std::uint64_t paddr, std::uint64_t size) {
  put32(b, at, type);
  put32(b, at + 4, type == kElfPtLoad ? kElfPfRwx : 0);
  put64(b, at + 8, offset);
  put64(b, at + 16, vaddr);
  put64(b, at + 24, paddr);
  put64(b, at + 32, size);
  put64(b, at + 40, size);
  put64(b, at + 48, 0);  // p_align 0, as /proc/vmcore (crash then takes it as a kdump core)
}

// Elf64_Nhdr + "VMCOREINFO\0" padded to 12 + text padded to 4.
std::vector<std::uint8_t> vmcoreinfo_note(const std::string& text) {
  constexpr std::string_view name = "VMCOREINFO";
  const std::size_t namesz = name.size() + 1, name_pad = (namesz + 3) & ~std::size_t(3);
  std::vector<std::uint8_t> n(12 + name_pad + ((text.size() + 3) & ~std::size_t(3)), 0);
  put32(n, 0, static_cast<std::uint32_t>(namesz));
  put32(n, 4, static_cast<std::uint32_t>(text.size()));
  put32(n, 8, 0);
  std::memcpy(n.data() + 12, name.data(), name.size());
  std::memcpy(n.data() + 12 + name_pad, text.data(), text.size());
  return n;
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i < n; i += 8) acc |= load_le64(p + i);
  return acc == 0;
}

Result<void> write_all(int fd, const std::uint8_t* p, std::size_t n, std::uint64_t off) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return fail(Errc::io, fmt::format("write at offset {:#x}: {}", off,
                                                  std::strerror(errno)));
    p += w;
    n -= static_cast<std::size_t>(w);
    off += static_cast<std::uint64_t>(w);
  }
  return {};
}

// One chunk read: its bytes and which pages hold data to store.
struct DumpChunk {
  std::vector<std::uint8_t> buf;
  std::vector<bool> store;
  std::uint64_t file_off = 0;
};

// Stores the pages marked in `c` with one pwrite per run of adjacent pages.
Result<std::uint64_t> store_chunk(int fd, const DumpChunk& c) {
  std::uint64_t written = 0;
  for (std::size_t i = 0; i < c.store.size();) {
    if (!c.store[i]) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < c.store.size() && c.store[j]) ++j;
    if (auto r = write_all(fd, c.buf.data() + i * kDumpPage, (j - i) * kDumpPage,
                           c.file_off + i * kDumpPage);
        !r)
      return std::unexpected(r.error());
    written += (j - i) * kDumpPage;
    i = j;
  }
  return written;
}

}  // namespace

Result<VmcoreLayout> vmcore_layout(const VmcorePlan& plan) {
  if (plan.ram.empty()) return fail(Errc::invalid_argument, "vmcore: no RAM ranges to dump");
  for (std::size_t i = 0; i < plan.ram.size(); ++i) {
    const VmcoreSegment& s = plan.ram[i];
    if (s.size == 0 || s.paddr + s.size < s.paddr)
      return fail(Errc::invalid_argument, fmt::format("vmcore: bad RAM range {:#x}+{:#x}",
                                                      s.paddr, s.size));
    if (i && page_down(s.paddr) < page_up(plan.ram[i - 1].paddr + plan.ram[i - 1].size))
      return fail(Errc::invalid_argument,
                  fmt::format("vmcore: RAM ranges at {:#x} and {:#x} share a page or are out of "
                              "order",
                              plan.ram[i - 1].paddr, s.paddr));
  }
  // The image shares the file bytes of the RAM range that holds it, if one does.
  std::optional<std::size_t> image_in;
  if (plan.image)
    for (std::size_t i = 0; i < plan.ram.size(); ++i)
      if (plan.image->paddr >= plan.ram[i].paddr &&
          plan.image->paddr + plan.image->size <= plan.ram[i].paddr + plan.ram[i].size)
        image_in = i;
  if (plan.image && !image_in)
    return fail(Errc::invalid_argument,
                fmt::format("vmcore: the kernel image at physical {:#x} is in no RAM range",
                            plan.image->paddr));
  const std::vector<std::uint8_t> note = vmcoreinfo_note(plan.vmcoreinfo);
  const std::size_t phnum = 1 + (plan.image ? 1 : 0) + plan.ram.size();
  if (phnum >= 0xffff) return fail(Errc::invalid_argument, "vmcore: too many RAM ranges");
  const std::uint64_t head_end = page_up(kEhdrBytes + phnum * kPhdrBytes);
  const std::uint64_t notes_end = head_end + page_up(note.size());
  VmcoreLayout L;
  L.head.assign(notes_end, 0);
  std::uint64_t off = notes_end;
  for (const VmcoreSegment& s : plan.ram) {
    L.ram_offset.push_back(off);
    off += page_up(s.paddr + s.size) - page_down(s.paddr);
  }
  L.file_size = off;
  // Elf64_Ehdr.
  auto& h = L.head;
  const std::uint8_t ident[] = {0x7f, 'E', 'L', 'F', 2 /*64*/, 1 /*LSB*/, 1 /*EV_CURRENT*/};
  std::memcpy(h.data(), ident, sizeof ident);
  put16(h, 16, kElfEtCore);
  put16(h, 18, kElfEmX86_64);
  put32(h, 20, 1);              // e_version
  put64(h, 32, kEhdrBytes);     // e_phoff
  put16(h, 52, kEhdrBytes);     // e_ehsize
  put16(h, 54, kPhdrBytes);     // e_phentsize
  put16(h, 56, static_cast<std::uint16_t>(phnum));
  std::size_t at = kEhdrBytes;
  put_phdr(h, at, kElfPtNote, head_end, 0, 0, note.size());
  at += kPhdrBytes;
  auto file_of = [&](std::size_t i, std::uint64_t paddr) {
    return L.ram_offset[i] + (paddr - page_down(plan.ram[i].paddr));
  };
  if (plan.image) {
    put_phdr(h, at, kElfPtLoad, file_of(*image_in, plan.image->paddr), plan.image->vaddr,
             plan.image->paddr, plan.image->size);
    at += kPhdrBytes;
  }
  for (std::size_t i = 0; i < plan.ram.size(); ++i, at += kPhdrBytes)
    put_phdr(h, at, kElfPtLoad, file_of(i, plan.ram[i].paddr), plan.ram[i].vaddr,
             plan.ram[i].paddr, plan.ram[i].size);
  std::memcpy(h.data() + head_end, note.data(), note.size());
  return L;
}

Result<DumpReport> write_vmcore(PhysicalMemory& mem, const VmcorePlan& plan,
                                const std::string& path, const DumpOptions& opts) {
  auto L = vmcore_layout(plan);
  if (!L) return std::unexpected(L.error());
  const auto t0 = std::chrono::steady_clock::now();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail(Errc::io, fmt::format("cannot create {}: {}", path, std::strerror(errno)));
  auto abandon = [&](Error e) -> Result<DumpReport> {
    ::close(fd);
    ::unlink(path.c_str());
    e.message = fmt::format("{} ({} removed)", e.message, path);
    return std::unexpected(std::move(e));
  };
  // Unwritten pages stay holes: the file gets its final size first.
  if (::ftruncate(fd, static_cast<off_t>(L->file_size)) != 0)
    return abandon(Error{Errc::io, fmt::format("cannot size {} to {:#x} bytes: {}", path,
                                               L->file_size, std::strerror(errno)), 0});
  if (auto r = write_all(fd, L->head.data(), L->head.size(), 0); !r) return abandon(r.error());

  DumpReport rep;
  for (const VmcoreSegment& s : plan.ram) rep.ram_bytes += s.size;
  DumpProgress prog{0, rep.ram_bytes, 0};
  auto last_report = t0;
  const std::size_t chunk_pages = std::max<std::size_t>(opts.chunk / kDumpPage, 1);
  std::future<Result<std::uint64_t>> pending;  // the previous chunk's write
  auto finish_pending = [&]() -> Result<void> {
    if (!pending.valid()) return {};
    auto w = pending.get();
    if (!w) return std::unexpected(w.error());
    rep.bytes_written += *w;
    return {};
  };
  DumpChunk chunks[2];
  int cur = 0;
  std::vector<ReadRange> ranges;
  std::vector<ReadStatus> results;
  std::vector<std::size_t> range_page;
  for (std::size_t si = 0; si < plan.ram.size(); ++si) {
    const VmcoreSegment& s = plan.ram[si];
    const std::uint64_t first = page_down(s.paddr), last = page_up(s.paddr + s.size);
    for (std::uint64_t pa = first; pa < last; pa += chunk_pages * kDumpPage) {
      if (opts.cancelled && opts.cancelled()) {
        (void)finish_pending();
        return abandon(Error{Errc::deadline, "dump cancelled", 0});
      }
      const std::size_t n = static_cast<std::size_t>(
          std::min<std::uint64_t>(chunk_pages, (last - pa) / kDumpPage));
      DumpChunk& c = chunks[cur];
      c.buf.resize(n * kDumpPage);
      c.store.assign(n, false);
      c.file_off = L->ram_offset[si] + (pa - first);
      // One range per run of adjacent pages to read (the transport cuts it into requests);
      // a run that fails is read again page by page, so one bad page costs only itself.
      ranges.clear();
      range_page.clear();
      for (std::size_t p = 0; p < n;) {
        if (opts.excluded && opts.excluded((pa >> 12) + p)) {
          ++rep.excluded_pages;
          ++p;
          continue;
        }
        std::size_t q = p + 1;
        while (q < n && !(opts.excluded && opts.excluded((pa >> 12) + q))) ++q;
        ranges.push_back({PhysAddr(pa + p * kDumpPage),
                          std::span<std::uint8_t>(c.buf.data() + p * kDumpPage,
                                                  (q - p) * kDumpPage)});
        range_page.push_back(p);
        p = q;
      }
      results.assign(ranges.size(), ReadStatus{});
      mem.read(ranges, results);
      std::vector<bool> bad(n, false);
      std::vector<ReadRange> retry;
      std::vector<std::size_t> retry_page;
      for (std::size_t k = 0; k < ranges.size(); ++k) {
        if (results[k]) continue;
        for (std::size_t i = 0; i < ranges[k].out.size() / kDumpPage; ++i) {
          const std::size_t p = range_page[k] + i;
          retry.push_back({PhysAddr(pa + p * kDumpPage),
                           std::span<std::uint8_t>(c.buf.data() + p * kDumpPage, kDumpPage)});
          retry_page.push_back(p);
        }
      }
      if (!retry.empty()) {
        std::vector<ReadStatus> rr(retry.size());
        mem.read(retry, rr);
        for (std::size_t k = 0; k < retry.size(); ++k)
          if (!rr[k]) bad[retry_page[k]] = true;
      }
      for (std::size_t k = 0; k < ranges.size(); ++k) {
        for (std::size_t i = 0; i < ranges[k].out.size() / kDumpPage; ++i) {
          const std::size_t p = range_page[k] + i;
          if (bad[p]) {
            if (!rep.unreadable_pages) rep.first_unreadable = pa + p * kDumpPage;
            ++rep.unreadable_pages;
          } else if (all_zero(c.buf.data() + p * kDumpPage, kDumpPage)) {
            ++rep.zero_pages;
          } else {
            c.store[p] = true;
            ++rep.data_pages;
          }
        }
      }
      rep.pages += n;
      if (auto r = finish_pending(); !r) return abandon(r.error());
      pending = std::async(std::launch::async, [fd, &c] { return store_chunk(fd, c); });
      cur ^= 1;
      prog.done = std::min<std::uint64_t>(prog.done + n * kDumpPage, prog.total);
      const auto now = std::chrono::steady_clock::now();
      if (opts.progress && now - last_report >= std::chrono::milliseconds(500)) {
        last_report = now;
        prog.seconds = std::chrono::duration<double>(now - t0).count();
        opts.progress(prog);
      }
    }
  }
  if (auto r = finish_pending(); !r) return abandon(r.error());
  if (::fsync(fd) != 0 && errno != EINVAL)
    return abandon(Error{Errc::io, fmt::format("fsync {}: {}", path, std::strerror(errno)), 0});
  ::close(fd);
  rep.file_size = L->file_size;
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (opts.progress) {
    prog.done = prog.total;
    prog.seconds = rep.seconds;
    opts.progress(prog);
  }
  return rep;
}

}  // namespace tlpstub::kernel
