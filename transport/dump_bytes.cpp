#include "transport/dump_bytes.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace tlpstub {

namespace {

constexpr std::string_view kFlatSignature = "makedumpfile";
constexpr std::uint64_t kFlatHeaderSize = 4096;
// An index entry per record (about one per dumped page): 8 M records is a 32 GiB dump of
// 4 KiB pages and a 256 MiB index. Beyond that, rearranging on disk is the better tool.
constexpr std::size_t kMaxRecords = 8u << 20;
constexpr std::uint64_t kMaxRecordSize = 1ull << 32;

std::uint64_t load_be64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

Error flat_error(std::string msg) {
  return Error{Errc::malformed, "flattened dump: " + std::move(msg)};
}

}  // namespace

DumpBytes::~DumpBytes() {
  if (fd_ >= 0) ::close(fd_);
}

bool DumpBytes::pread_stream(std::uint64_t at, std::span<std::uint8_t> out) const {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd_, out.data() + done, out.size() - done,
                              static_cast<off_t>(at + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

Result<std::unique_ptr<DumpBytes>> DumpBytes::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return std::unexpected(Error{Errc::io, fmt::format("{}: {}", path, std::strerror(errno))});
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return std::unexpected(Error{Errc::io, fmt::format("{}: {}", path, std::strerror(e))});
  }
  const auto stream_size = static_cast<std::uint64_t>(st.st_size);
  std::unique_ptr<DumpBytes> d(new DumpBytes(fd, stream_size));
  std::uint8_t sig[16] = {};
  if (stream_size >= kFlatHeaderSize && d->pread_stream(0, sig) &&
      std::memcmp(sig, kFlatSignature.data(), kFlatSignature.size()) == 0) {
    if (auto r = d->index(stream_size); !r)
      return std::unexpected(Error{r.error().code, path + ": " + r.error().message});
  }
  return d;
}

Result<void> DumpBytes::index(std::uint64_t stream_size) {
  std::uint8_t h[32];
  if (!pread_stream(0, h)) return std::unexpected(flat_error("header unreadable"));
  const std::uint64_t type = load_be64(h + 16), version = load_be64(h + 24);
  if (type != 1)
    return std::unexpected(flat_error(fmt::format("type {} (1 is the flattened format)", type)));
  if (version != 1)
    return std::unexpected(flat_error(fmt::format("version {} is not one we know", version)));
  std::uint64_t at = kFlatHeaderSize;
  for (std::uint64_t seq = 0;; ++seq) {
    std::uint8_t rh[16];
    if (at + sizeof rh > stream_size || !pread_stream(at, rh))
      return std::unexpected(flat_error(fmt::format("stream ends at {:#x} without its end "
                                                    "marker: truncated", at)));
    const std::uint64_t off = load_be64(rh), size = load_be64(rh + 8);
    at += sizeof rh;
    if (off == ~0ull && size == ~0ull) break;
    if (off >> 63 || size > kMaxRecordSize || size > stream_size - at)
      return std::unexpected(flat_error(fmt::format("record {} at {:#x}: offset {:#x}, size "
                                                    "{:#x} do not fit", seq, at - 16, off, size)));
    if (records_.size() >= kMaxRecords)
      return std::unexpected(flat_error(fmt::format("more than {} records; rearrange it first "
                                                    "('makedumpfile -R DUMP < FLATTENED')",
                                                    kMaxRecords)));
    if (size) records_.push_back({off, size, at, seq});
    size_ = std::max(size_, off + size);
    at += size;
  }
  if (records_.empty()) return std::unexpected(flat_error("no data records"));
  std::stable_sort(records_.begin(), records_.end(),
                   [](const Record& a, const Record& b) { return a.offset < b.offset; });
  end_max_.resize(records_.size());
  std::uint64_t m = 0;
  for (std::size_t i = 0; i < records_.size(); ++i)
    end_max_[i] = m = std::max(m, records_[i].offset + records_[i].size);
  return {};
}

bool DumpBytes::read(std::uint64_t offset, std::span<std::uint8_t> out) const {
  if (offset > size_ || out.size() > size_ - offset) return false;
  if (records_.empty()) return pread_stream(offset, out);
  const std::uint64_t end = offset + out.size();
  std::fill(out.begin(), out.end(), 0);
  // Records starting before `end`, scanned back while one of them may still reach `offset`.
  auto hi = std::lower_bound(records_.begin(), records_.end(), end,
                             [](const Record& r, std::uint64_t e) { return r.offset < e; });
  std::vector<const Record*> hits;
  for (auto i = static_cast<std::size_t>(hi - records_.begin()); i-- > 0;) {
    if (end_max_[i] <= offset) break;
    const Record& r = records_[i];
    if (r.offset + r.size > offset) hits.push_back(&r);
  }
  std::sort(hits.begin(), hits.end(), [](const Record* a, const Record* b) { return a->seq < b->seq; });
  for (const Record* r : hits) {
    const std::uint64_t from = std::max(offset, r->offset);
    const std::uint64_t to = std::min(end, r->offset + r->size);
    if (!pread_stream(r->at + (from - r->offset), out.subspan(from - offset, to - from)))
      return false;
  }
  return true;
}

}  // namespace tlpstub
