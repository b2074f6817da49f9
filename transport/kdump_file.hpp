// PhysicalMemory over a kdump-compressed dump ("KDUMP   " signature): what makedumpfile writes
// by default (Debian's kdump-tools), and QEMU's dump-guest-memory kdump-* formats. Each page is
// stored alone, raw or compressed with zlib, lzo, snappy or zstd; two bitmaps say which page
// frames exist and which were dumped, and a descriptor per dumped page says where it is.
//
// Layout (makedumpfile's diskdump_mod.h; block = the dump's page size):
//   block 0                disk_dump_header  (signature, version, utsname, block_size,
//                                             sub_hdr_size, bitmap_blocks, max_mapnr, ...)
//   block 1..              kdump_sub_header  (phys_base, dump_level, split, VMCOREINFO and
//                                             ELF note offsets, 64-bit max_mapnr from v6)
//   then bitmap_blocks     bitmap 1 (page frame exists) and bitmap 2 (page dumped), halves
//   then                   page_desc_t {offset, size, flags, page_flags} per dumped page
//
// A flattened stream of such a dump (makedumpfile -F; QEMU before 8.2) is read as well
// (dump_bytes.hpp).
// The file is untrusted input: every offset and size is checked against the file, and a page
// whose data does not decompress to exactly one page is an error for that page only.
// A page that exists but was excluded (dump level) is an error naming that, as in crash.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "transport/dump_bytes.hpp"
#include "transport/physical_memory.hpp"

namespace tlpstub {

struct KdumpHeader {
  std::int32_t header_version = 0;
  std::string release;            // utsname.release
  std::uint32_t block_size = 0;   // the page size
  std::uint32_t sub_hdr_blocks = 0;
  std::uint32_t bitmap_blocks = 0;
  std::uint64_t max_mapnr = 0;    // page frames covered by the bitmaps
  std::uint32_t status = 0;       // DUMP_DH_* flags of the whole dump
  std::int32_t nr_cpus = 0;
  std::uint64_t phys_base = 0;
  std::int32_t dump_level = 0;
  std::int32_t split = 0;
  std::uint64_t vmcoreinfo_offset = 0, vmcoreinfo_size = 0;  // 0 if absent (version < 3)
  std::uint64_t note_offset = 0, note_size = 0;              // 0 if absent (version < 4)
};

// Decodes the main header (`main`: the file's first block, at least 464 bytes) and the sub
// header (`sub`: the bytes at offset block_size, up to 104 of them; fewer for old versions);
// a clear error for anything that is not a whole, single-file kdump of `file_size` bytes.
Result<KdumpHeader> parse_kdump_header(std::span<const std::uint8_t> main,
                                       std::span<const std::uint8_t> sub,
                                       std::uint64_t file_size);

// True if `first` (the file's first bytes) starts with the kdump signature.
bool is_kdump(std::span<const std::uint8_t> first);

class KdumpFile final : public PhysicalMemory {
 public:
  static Result<std::unique_ptr<KdumpFile>> open(const std::string& path);
  ~KdumpFile() override;
  KdumpFile(const KdumpFile&) = delete;
  KdumpFile& operator=(const KdumpFile&) = delete;

  MemoryInfo info() const override;
  const KdumpHeader& header() const { return h_; }
  // The VMCOREINFO text the dump carries (sub header), "" if none.
  const std::string& vmcoreinfo() const { return vmcoreinfo_; }
  std::uint64_t dumped_pages() const { return dumped_; }

 protected:
  void do_read(std::span<const ReadRange> ranges, std::span<ReadStatus> results,
               Deadline deadline) override;

 private:
  KdumpFile(std::string path, std::unique_ptr<DumpBytes> bytes, KdumpHeader h);
  Result<void> load_bitmaps();
  bool bit(const std::vector<std::uint8_t>& map, std::uint64_t pfn) const;
  // The page at `pfn`, decompressed (a small cache: gdb reads a page in pieces).
  Result<std::span<const std::uint8_t>> page(std::uint64_t pfn);
  Result<void> decode_page(std::uint64_t pfn, std::span<std::uint8_t> out);

  std::string path_;
  std::unique_ptr<DumpBytes> bytes_;
  std::uint64_t size_ = 0;
  KdumpHeader h_;
  std::string vmcoreinfo_;
  std::vector<std::uint8_t> exists_, dumped_map_;  // bitmaps 1 and 2
  std::vector<std::uint64_t> rank_;  // set bits of bitmap 2 before each 64-bit word
  std::uint64_t desc_offset_ = 0;
  std::uint64_t dumped_ = 0;

  std::mutex mu_;  // the page cache; sessions read concurrently
  struct Cached {
    std::uint64_t pfn = ~0ull;
    std::vector<std::uint8_t> bytes;
  };
  std::vector<Cached> cache_;
  std::size_t next_slot_ = 0;
};

}  // namespace tlpstub
