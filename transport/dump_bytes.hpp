// The bytes of a dump file, as positioned reads. Either the file itself, or a makedumpfile
// "flattened" stream (what makedumpfile -F and QEMU before 8.2 write for kdump formats, so that
// a dump can go through a pipe): a 4096-byte header ("makedumpfile", type 1, version 1, all
// big-endian), then records {offset, size} (big-endian int64) each followed by `size` bytes to
// place at `offset` of the real file, ending with {-1, -1}. The records are indexed once; a
// read assembles the bytes from them (later records win where two overlap; gaps read as zero,
// as a file's holes do).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace tlpstub {

class DumpBytes {
 public:
  // Opens `path`; a flattened stream is recognised by its signature and indexed.
  static Result<std::unique_ptr<DumpBytes>> open(const std::string& path);
  ~DumpBytes();
  DumpBytes(const DumpBytes&) = delete;
  DumpBytes& operator=(const DumpBytes&) = delete;

  // Fills `out` from `offset`; false if any byte lies beyond size() or the file read fails.
  bool read(std::uint64_t offset, std::span<std::uint8_t> out) const;
  std::uint64_t size() const { return size_; }
  bool flattened() const { return !records_.empty(); }
  std::size_t record_count() const { return records_.size(); }

 private:
  struct Record {
    std::uint64_t offset;  // in the real file
    std::uint64_t size;
    std::uint64_t at;      // where the bytes are in the stream
    std::uint64_t seq;     // order in the stream: a later record overrides an earlier one
  };
  DumpBytes(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
  Result<void> index(std::uint64_t stream_size);
  bool pread_stream(std::uint64_t at, std::span<std::uint8_t> out) const;

  int fd_ = -1;
  std::uint64_t size_ = 0;         // of the real file
  std::vector<Record> records_;    // sorted by offset; empty for a plain file
  std::vector<std::uint64_t> end_max_;  // max(offset + size) over records_[0..i]
};

}  // namespace tlpstub
