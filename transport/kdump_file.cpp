#include "transport/kdump_file.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <zlib.h>

#include "transport/page_codecs.hpp"

namespace tlpstub {

namespace {

constexpr std::string_view kKdumpSignature = "KDUMP   ";
constexpr std::size_t kMainHeaderSize = 464;  // struct disk_dump_header on x86-64
constexpr std::size_t kDescSize = 24;         // page_desc_t: offset, size, flags, page_flags
constexpr std::uint32_t kIncomplete = 0x8;    // DUMP_DH_COMPRESSED_INCOMPLETE
constexpr std::size_t kCacheSlots = 64;
// Bitmaps beyond this describe more than 16 TiB of 4 KiB pages (2 x 512 MiB of bits): refused.
constexpr std::uint64_t kMaxBitmapBytes = 1ull << 30;

std::uint32_t u32_at(std::span<const std::uint8_t> b, std::size_t off) {
  return load_le32(b.data() + off);
}
std::uint64_t u64_at(std::span<const std::uint8_t> b, std::size_t off) {
  return load_le64(b.data() + off);
}

Error bad(std::string msg) { return Error{Errc::malformed, "kdump: " + std::move(msg)}; }

}  // namespace

bool is_kdump(std::span<const std::uint8_t> first) {
  return first.size() >= kKdumpSignature.size() &&
         std::memcmp(first.data(), kKdumpSignature.data(), kKdumpSignature.size()) == 0;
}

Result<KdumpHeader> parse_kdump_header(std::span<const std::uint8_t> main,
                                       std::span<const std::uint8_t> sub,
                                       std::uint64_t file_size) {
  if (!is_kdump(main)) return std::unexpected(bad("no \"KDUMP   \" signature"));
  if (main.size() < kMainHeaderSize) return std::unexpected(bad("header truncated"));
  KdumpHeader h;
  h.header_version = static_cast<std::int32_t>(u32_at(main, 8));
  const char* rel = reinterpret_cast<const char*>(main.data() + 12 + 2 * 65);
  h.release.assign(rel, strnlen(rel, 65));
  h.status = u32_at(main, 424);
  h.block_size = u32_at(main, 428);
  h.sub_hdr_blocks = u32_at(main, 432);
  h.bitmap_blocks = u32_at(main, 436);
  h.max_mapnr = u32_at(main, 440);
  h.nr_cpus = static_cast<std::int32_t>(u32_at(main, 460));
  if (h.header_version < 0 || h.header_version > 64)
    return std::unexpected(bad(fmt::format("header version {} is not one we know", h.header_version)));
  // x86-64 pages are 4 KiB; other sizes are other architectures' dumps.
  if (h.block_size != 4096)
    return std::unexpected(bad(fmt::format("block size {} (an x86-64 dump has 4096)", h.block_size)));
  if (h.sub_hdr_blocks == 0 || h.sub_hdr_blocks > 1024)
    return std::unexpected(bad(fmt::format("sub header of {} blocks", h.sub_hdr_blocks)));
  if (h.bitmap_blocks == 0 || h.bitmap_blocks % 2 != 0 ||
      std::uint64_t{h.bitmap_blocks} * h.block_size > 2 * kMaxBitmapBytes)
    return std::unexpected(bad(fmt::format("bitmap of {} blocks", h.bitmap_blocks)));
  const std::uint64_t data_start =
      (1ull + h.sub_hdr_blocks + h.bitmap_blocks) * std::uint64_t{h.block_size};
  if (data_start > file_size)
    return std::unexpected(bad(fmt::format("headers and bitmaps ({} bytes) exceed the file ({} "
                                           "bytes): truncated", data_start, file_size)));
  // The sub header grew field by field with the version.
  auto need = [&](std::size_t end) { return sub.size() >= end; };
  if (!need(16)) return std::unexpected(bad("sub header truncated"));
  h.phys_base = u64_at(sub, 0);
  if (h.header_version >= 1) h.dump_level = static_cast<std::int32_t>(u32_at(sub, 8));
  if (h.header_version >= 2) h.split = static_cast<std::int32_t>(u32_at(sub, 12));
  if (h.split)
    return std::unexpected(bad("one part of a split dump (makedumpfile --split); join the parts "
                               "with 'makedumpfile --reassemble' first"));
  if (h.header_version >= 3 && need(48)) {
    h.vmcoreinfo_offset = u64_at(sub, 32);
    h.vmcoreinfo_size = u64_at(sub, 40);
  }
  if (h.header_version >= 4 && need(64)) {
    h.note_offset = u64_at(sub, 48);
    h.note_size = u64_at(sub, 56);
  }
  if (h.header_version >= 6 && need(104)) {
    if (const std::uint64_t m64 = u64_at(sub, 96)) h.max_mapnr = m64;
  }
  // Each bitmap is half of the bitmap blocks: it must cover every page frame.
  const std::uint64_t half = std::uint64_t{h.bitmap_blocks} * h.block_size / 2;
  if (h.max_mapnr == 0 || h.max_mapnr > half * 8)  // (not (max_mapnr + 7) / 8: it may wrap)
    return std::unexpected(bad(fmt::format("{} page frames do not fit a bitmap of {} bytes",
                                           h.max_mapnr, half)));
  for (auto [off, size, what] : {std::tuple{h.vmcoreinfo_offset, h.vmcoreinfo_size, "VMCOREINFO"},
                                 std::tuple{h.note_offset, h.note_size, "ELF notes"}}) {
    if (size != 0 && (size > (1u << 20) || off > file_size || size > file_size - off))
      return std::unexpected(bad(fmt::format("{} at {:#x}+{:#x} lies outside the file", what,
                                             off, size)));
  }
  return h;
}

KdumpFile::KdumpFile(std::string path, std::unique_ptr<DumpBytes> bytes, KdumpHeader h)
    : path_(std::move(path)), bytes_(std::move(bytes)), size_(bytes_->size()), h_(std::move(h)),
      cache_(kCacheSlots) {}

KdumpFile::~KdumpFile() = default;

Result<std::unique_ptr<KdumpFile>> KdumpFile::open(const std::string& path) {
  auto bytes = DumpBytes::open(path);
  if (!bytes) return std::unexpected(bytes.error());
  DumpBytes& b = **bytes;
  const std::uint64_t size = b.size();
  std::vector<std::uint8_t> main(std::min<std::uint64_t>(size, 4096));
  std::vector<std::uint8_t> sub(std::min<std::uint64_t>(size > 4096 ? size - 4096 : 0, 104));
  if (!b.read(0, main) || !b.read(4096, sub))
    return std::unexpected(Error{Errc::io, fmt::format("{}: short read of the headers", path)});
  // The sub header sits at block_size, which the main header gives; 4096 is the only block
  // size parse_kdump_header accepts, so reading it at 4096 above was right.
  auto h = parse_kdump_header(main, sub, size);
  if (!h) return std::unexpected(Error{h.error().code, path + ": " + h.error().message});
  std::unique_ptr<KdumpFile> f(new KdumpFile(path, std::move(*bytes), std::move(*h)));
  if (auto r = f->load_bitmaps(); !r)
    return std::unexpected(Error{r.error().code, path + ": " + r.error().message});
  if (f->h_.vmcoreinfo_size) {
    std::vector<std::uint8_t> v(f->h_.vmcoreinfo_size);
    if (f->bytes_->read(f->h_.vmcoreinfo_offset, v))
      f->vmcoreinfo_.assign(v.begin(), std::find(v.begin(), v.end(), 0));
  }
  return f;
}

Result<void> KdumpFile::load_bitmaps() {
  const std::uint64_t half = std::uint64_t{h_.bitmap_blocks} * h_.block_size / 2;
  const std::uint64_t start = (1ull + h_.sub_hdr_blocks) * std::uint64_t{h_.block_size};
  const std::size_t used = static_cast<std::size_t>((h_.max_mapnr + 7) / 8);
  exists_.resize(used);
  dumped_map_.resize(used);
  if (!bytes_->read(start, exists_) || !bytes_->read(start + half, dumped_map_))
    return std::unexpected(bad("bitmaps unreadable"));
  // Rank of every 64-bit word of bitmap 2: a dumped page's descriptor index in O(1).
  rank_.assign(used / 8 + 2, 0);
  std::uint64_t n = 0;
  for (std::size_t w = 0; w * 8 < used; ++w) {
    rank_[w] = n;
    std::uint64_t word = 0;
    std::memcpy(&word, dumped_map_.data() + w * 8, std::min<std::size_t>(8, used - w * 8));
    n += static_cast<std::uint64_t>(std::popcount(word));
  }
  rank_.back() = n;
  dumped_ = n;
  desc_offset_ = start + 2 * half;
  if (desc_offset_ + n * kDescSize > size_)
    return std::unexpected(bad(fmt::format("{} page descriptors exceed the file: truncated", n)));
  return {};
}

bool KdumpFile::bit(const std::vector<std::uint8_t>& map, std::uint64_t pfn) const {
  return pfn < h_.max_mapnr && (map[pfn >> 3] >> (pfn & 7) & 1);
}

Result<void> KdumpFile::decode_page(std::uint64_t pfn, std::span<std::uint8_t> out) {
  const std::uint64_t word = pfn / 64;
  std::uint64_t bits = 0;
  const std::size_t byte0 = word * 8;
  std::memcpy(&bits, dumped_map_.data() + byte0, std::min<std::size_t>(8, dumped_map_.size() - byte0));
  const std::uint64_t below = bits & ((1ull << (pfn % 64)) - 1);
  const std::uint64_t index = rank_[word] + static_cast<std::uint64_t>(std::popcount(below));
  std::uint8_t d[kDescSize];
  if (!bytes_->read(desc_offset_ + index * kDescSize, d))
    return std::unexpected(Error{Errc::io, fmt::format("kdump: descriptor of page {:#x} unreadable", pfn)});
  const std::uint64_t off = load_le64(d);
  const std::uint32_t size = load_le32(d + 8), flags = load_le32(d + 12);
  if (size == 0 || size > 2 * h_.block_size || off > size_ || size > size_ - off)
    return std::unexpected(bad(fmt::format("page {:#x}: data {:#x}+{:#x} lies outside the file",
                                           pfn, off, size)));
  std::vector<std::uint8_t> in(size);
  if (!bytes_->read(off, in))
    return std::unexpected(Error{Errc::io, fmt::format("kdump: page {:#x} unreadable", pfn)});
  if (auto r = decompress_page(flags, in, out); !r)
    return std::unexpected(bad(fmt::format("page {:#x}: {}", pfn, r.error().message)));
  return {};
}

Result<std::span<const std::uint8_t>> KdumpFile::page(std::uint64_t pfn) {
  for (Cached& c : cache_)
    if (c.pfn == pfn) return std::span<const std::uint8_t>(c.bytes);
  if (!bit(dumped_map_, pfn)) {
    const std::uint64_t at = pfn * h_.block_size;
    if (bit(exists_, pfn))
      return std::unexpected(Error{Errc::unbacked, fmt::format("physical {:#x}: page excluded "
                                   "from the dump (dump level {})", at, h_.dump_level), at});
    return std::unexpected(Error{Errc::unbacked,
                                 fmt::format("physical {:#x}: not RAM in the dump", at), at});
  }
  Cached& slot = cache_[next_slot_];
  next_slot_ = (next_slot_ + 1) % cache_.size();
  slot.pfn = ~0ull;
  slot.bytes.resize(h_.block_size);
  if (auto r = decode_page(pfn, slot.bytes); !r) return std::unexpected(r.error());
  slot.pfn = pfn;
  return std::span<const std::uint8_t>(slot.bytes);
}

void KdumpFile::do_read(std::span<const ReadRange> ranges, std::span<ReadStatus> results,
                        Deadline /*deadline: local file*/) {
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const ReadRange& r = ranges[i];
    results[i] = {};
    std::uint64_t addr = r.addr.value;
    std::size_t done = 0;
    while (done < r.out.size()) {
      const std::uint64_t pfn = addr / h_.block_size, in_page = addr % h_.block_size;
      const std::size_t n = std::min<std::size_t>(r.out.size() - done, h_.block_size - in_page);
      auto p = page(pfn);
      if (!p) {
        Error e = p.error();
        e.address = addr;
        results[i] = std::unexpected(std::move(e));
        break;
      }
      std::memcpy(r.out.data() + done, p->data() + in_page, n);
      done += n;
      addr += n;
    }
  }
}

MemoryInfo KdumpFile::info() const {
  MemoryInfo mi;
  mi.name = fmt::format("kdump:{} ({}{}, dump level {}, {} of {} pages{})", path_,
                        h_.release, bytes_->flattened() ? ", flattened" : "", h_.dump_level,
                        dumped_, h_.max_mapnr,
                        h_.status & kIncomplete ? ", INCOMPLETE" : "");
  mi.max_address = h_.max_mapnr * h_.block_size;
  mi.preferred_batch = 64;
  return mi;
}

}  // namespace tlpstub
