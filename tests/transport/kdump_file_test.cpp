// KdumpFile against dumps built here byte by byte in makedumpfile's layout (diskdump_mod.h),
// with pages stored raw and compressed by the codecs' own libraries. The QEMU test
// (qemu-test/vmcore_test.sh, kdump part) checks the reader against QEMU's dump-guest-memory.
#include "transport/kdump_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#if TLPSTUB_HAVE_LZO
#include <lzo/lzo1x.h>
#endif
#if TLPSTUB_HAVE_SNAPPY
#include <snappy-c.h>
#endif
#if TLPSTUB_HAVE_ZSTD
#include <zstd.h>
#endif

#include "transport/page_codecs.hpp"

namespace tlpstub {
namespace {

constexpr std::size_t kBlock = 4096;

void put32(std::vector<std::uint8_t>& b, std::size_t off, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void put64(std::vector<std::uint8_t>& b, std::size_t off, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::vector<std::uint8_t> pattern(std::uint64_t pfn) {
  std::vector<std::uint8_t> p(kBlock);
  for (std::size_t i = 0; i < kBlock; ++i)
    p[i] = static_cast<std::uint8_t>((i / 16) * 7 + pfn * 31 + (i % 3));
  return p;
}

struct StoredPage {
  std::uint64_t pfn;
  std::uint32_t flags;
  std::vector<std::uint8_t> data;
};

std::vector<std::uint8_t> compress(std::uint32_t flags, const std::vector<std::uint8_t>& in) {
  std::vector<std::uint8_t> out(2 * kBlock + 1024);
  if (flags == kPageZlib) {
    uLongf n = out.size();
    EXPECT_EQ(compress2(out.data(), &n, in.data(), in.size(), 6), Z_OK);
    out.resize(n);
  } else if (flags == kPageLzo) {
#if TLPSTUB_HAVE_LZO
    std::vector<std::uint8_t> wrk(LZO1X_1_MEM_COMPRESS);
    lzo_uint n = out.size();
    EXPECT_EQ(lzo_init(), LZO_E_OK);
    EXPECT_EQ(lzo1x_1_compress(in.data(), in.size(), out.data(), &n, wrk.data()), LZO_E_OK);
    out.resize(n);
#endif
  } else if (flags == kPageSnappy) {
#if TLPSTUB_HAVE_SNAPPY
    std::size_t n = out.size();
    EXPECT_EQ(snappy_compress(reinterpret_cast<const char*>(in.data()), in.size(),
                              reinterpret_cast<char*>(out.data()), &n), SNAPPY_OK);
    out.resize(n);
#endif
  } else if (flags == kPageZstd) {
#if TLPSTUB_HAVE_ZSTD
    out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
#endif
  } else {
    out = in;
  }
  return out;
}

// A dump of `max_mapnr` page frames: `stored` pages dumped (bitmap 2), `exists` frames in
// bitmap 1 only (excluded by the dump level).
struct DumpSpec {
  std::uint64_t max_mapnr = 16;
  std::vector<StoredPage> stored;
  std::vector<std::uint64_t> excluded;
  std::string vmcoreinfo = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\n";
  int version = 6;
  int split = 0;
};

std::vector<std::uint8_t> build_dump(const DumpSpec& s) {
  const std::uint32_t bitmap_blocks = 2;
  std::vector<std::uint8_t> f((1 + 1 + bitmap_blocks) * kBlock);
  std::memcpy(f.data(), "KDUMP   ", 8);
  put32(f, 8, static_cast<std::uint32_t>(s.version));
  std::memcpy(f.data() + 12 + 2 * 65, "6.1.0-test", 10);  // utsname.release
  put32(f, 428, kBlock);
  put32(f, 432, 1);  // sub header blocks
  put32(f, 436, bitmap_blocks);
  put32(f, 440, static_cast<std::uint32_t>(s.max_mapnr));
  put32(f, 460, 2);  // nr_cpus
  const std::size_t sub = kBlock;
  put64(f, sub + 0, 0x1000000);  // phys_base
  put32(f, sub + 8, 31);         // dump_level
  put32(f, sub + 12, static_cast<std::uint32_t>(s.split));
  put64(f, sub + 96, s.max_mapnr);
  const std::size_t bm1 = 2 * kBlock, bm2 = bm1 + kBlock;
  for (const StoredPage& p : s.stored) {
    f[bm1 + p.pfn / 8] |= static_cast<std::uint8_t>(1u << (p.pfn % 8));
    f[bm2 + p.pfn / 8] |= static_cast<std::uint8_t>(1u << (p.pfn % 8));
  }
  for (std::uint64_t pfn : s.excluded) f[bm1 + pfn / 8] |= static_cast<std::uint8_t>(1u << (pfn % 8));
  // Descriptors in pfn order, then the data.
  std::vector<StoredPage> sorted = s.stored;
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.pfn < b.pfn; });
  const std::size_t desc = f.size();
  f.resize(desc + 24 * sorted.size());
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const std::size_t at = f.size();
    f.insert(f.end(), sorted[i].data.begin(), sorted[i].data.end());
    put64(f, desc + 24 * i, at);
    put32(f, desc + 24 * i + 8, static_cast<std::uint32_t>(sorted[i].data.size()));
    put32(f, desc + 24 * i + 12, sorted[i].flags);
  }
  const std::size_t vi = f.size();
  f.insert(f.end(), s.vmcoreinfo.begin(), s.vmcoreinfo.end());
  put64(f, sub + 32, vi);
  put64(f, sub + 40, s.vmcoreinfo.size());
  return f;
}

std::string write_temp(const std::vector<std::uint8_t>& bytes) {
  char name[] = "/tmp/kdump_test_XXXXXX";
  const int fd = mkstemp(name);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
  return name;
}

bool have_codec(std::uint32_t flags) {
  switch (flags) {
    case kPageLzo: return TLPSTUB_HAVE_LZO + 0;
    case kPageSnappy: return TLPSTUB_HAVE_SNAPPY + 0;
    case kPageZstd: return TLPSTUB_HAVE_ZSTD + 0;
    default: return true;
  }
}

class KdumpFileTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  std::unique_ptr<KdumpFile> open(const DumpSpec& s) {
    path_ = write_temp(build_dump(s));
    auto f = KdumpFile::open(path_);
    EXPECT_TRUE(f.has_value()) << (f ? "" : f.error().message);
    return f ? std::move(*f) : nullptr;
  }
  std::string path_;
};

TEST_F(KdumpFileTest, EveryCodecReadsBackItsPage) {
  DumpSpec s;
  const std::uint32_t codecs[] = {0, kPageZlib, kPageLzo, kPageSnappy, kPageZstd};
  for (std::uint64_t i = 0; i < 5; ++i) {
    if (!have_codec(codecs[i])) {
      if (std::getenv("CI")) ADD_FAILURE() << "codec " << codecs[i] << " not built in under CI";
      continue;
    }
    s.stored.push_back({i + 1, codecs[i], compress(codecs[i], pattern(i + 1))});
  }
  auto f = open(s);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->header().release, "6.1.0-test");
  EXPECT_EQ(f->header().dump_level, 31);
  EXPECT_EQ(f->header().phys_base, 0x1000000u);
  EXPECT_EQ(f->vmcoreinfo(), s.vmcoreinfo);
  EXPECT_EQ(f->dumped_pages(), s.stored.size());
  for (const StoredPage& p : s.stored) {
    std::vector<std::uint8_t> got(kBlock);
    auto st = f->read_one(PhysAddr(p.pfn * kBlock), got);
    ASSERT_TRUE(st) << "pfn " << p.pfn << " flags " << p.flags << ": " << st.error().message;
    EXPECT_EQ(got, pattern(p.pfn)) << "pfn " << p.pfn << " flags " << p.flags;
  }
  // A read across a page boundary, from the middle of one page into the next.
  std::vector<std::uint8_t> across(200);
  ASSERT_TRUE(f->read_one(PhysAddr(2 * kBlock - 100), across));
  const auto a = pattern(1), b = pattern(2);
  EXPECT_TRUE(std::equal(a.end() - 100, a.end(), across.begin()));
  EXPECT_TRUE(std::equal(b.begin(), b.begin() + 100, across.begin() + 100));
}

TEST_F(KdumpFileTest, ExcludedAndAbsentPagesAreClearErrors) {
  DumpSpec s;
  s.stored.push_back({1, 0, pattern(1)});
  s.excluded = {3};
  auto f = open(s);
  ASSERT_TRUE(f);
  std::vector<std::uint8_t> buf(8);
  auto ex = f->read_one(PhysAddr(3 * kBlock + 8), buf);
  ASSERT_FALSE(ex);
  EXPECT_EQ(ex.error().code, Errc::unbacked);
  EXPECT_EQ(ex.error().message, "physical 0x3000: page excluded from the dump (dump level 31)");
  EXPECT_EQ(ex.error().address, 3 * kBlock + 8);
  auto absent = f->read_one(PhysAddr(5 * kBlock), buf);
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().message, "physical 0x5000: not RAM in the dump");
  auto beyond = f->read_one(PhysAddr(1ull << 40), buf);
  ASSERT_FALSE(beyond);
  // The readable page still reads after the errors.
  EXPECT_TRUE(f->read_one(PhysAddr(kBlock), buf));
}

TEST_F(KdumpFileTest, ACorruptPageFailsAloneAndTheRestReads) {
  DumpSpec s;
  s.stored.push_back({1, kPageZlib, compress(kPageZlib, pattern(1))});
  auto garbage = compress(kPageZlib, pattern(2));
  for (std::size_t i = 2; i < garbage.size(); ++i) garbage[i] ^= 0x5a;
  s.stored.push_back({2, kPageZlib, garbage});
  s.stored.push_back({4, 0, std::vector<std::uint8_t>(100, 1)});  // "raw" but not a page
  auto f = open(s);
  ASSERT_TRUE(f);
  std::vector<std::uint8_t> page(kBlock);
  EXPECT_TRUE(f->read_one(PhysAddr(kBlock), page));
  auto bad = f->read_one(PhysAddr(2 * kBlock), page);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::malformed);
  EXPECT_NE(bad.error().message.find("page 0x2"), std::string::npos) << bad.error().message;
  auto raw = f->read_one(PhysAddr(4 * kBlock), page);
  ASSERT_FALSE(raw);
  EXPECT_NE(raw.error().message.find("raw page of 100 bytes"), std::string::npos);
}

TEST(KdumpHeader, RefusesWhatItCannotRead) {
  DumpSpec s;
  s.stored.push_back({1, 0, pattern(1)});
  const auto good = build_dump(s);
  auto parse = [](std::vector<std::uint8_t> b, std::uint64_t size = 0) {
    return parse_kdump_header(std::span(b).subspan(0, 4096), std::span(b).subspan(4096, 104),
                              size ? size : b.size());
  };
  ASSERT_TRUE(parse(good));
  auto b = good;
  b[0] = 'X';
  EXPECT_EQ(parse(b).error().message, "kdump: no \"KDUMP   \" signature");
  b = good;
  put32(b, 428, 65536);
  EXPECT_EQ(parse(b).error().message, "kdump: block size 65536 (an x86-64 dump has 4096)");
  b = good;
  put32(b, 4096 + 12, 1);  // split
  EXPECT_NE(parse(b).error().message.find("--reassemble"), std::string::npos);
  b = good;
  put64(b, 4096 + 96, 1ull << 40);  // more frames than the bitmap holds
  EXPECT_NE(parse(b).error().message.find("do not fit a bitmap"), std::string::npos);
  b = good;
  put64(b, 4096 + 96, ~0ull - 3);  // (max_mapnr + 7) / 8 would wrap to 0 (found by kdump_fuzz)
  EXPECT_NE(parse(b).error().message.find("do not fit a bitmap"), std::string::npos);
  b = good;
  put64(b, 4096 + 40, 1ull << 19);  // VMCOREINFO past the end
  EXPECT_NE(parse(b).error().message.find("VMCOREINFO at"), std::string::npos);
  EXPECT_NE(parse(good, 3 * 4096).error().message.find("truncated"), std::string::npos);
}

TEST(KdumpFileOpen, TruncatedDescriptorsAreRefused) {
  DumpSpec s;
  s.vmcoreinfo.clear();
  for (std::uint64_t pfn = 0; pfn < 8; ++pfn) s.stored.push_back({pfn, 0, pattern(pfn)});
  auto bytes = build_dump(s);
  bytes.resize(4 * kBlock + 24 * 3);  // only 3 of the 8 descriptors
  const std::string path = write_temp(bytes);
  auto f = KdumpFile::open(path);
  ::unlink(path.c_str());
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("8 page descriptors exceed the file"), std::string::npos)
      << f.error().message;
}

void put_be64(std::vector<std::uint8_t>& b, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

// `plain` as a flattened stream: 4096-byte header, then records of `chunk` bytes in reverse
// order, a first record with wrong bytes that a later one overrides, the end marker.
std::vector<std::uint8_t> flatten(const std::vector<std::uint8_t>& plain, std::size_t chunk) {
  std::vector<std::uint8_t> s(16, 0);
  std::memcpy(s.data(), "makedumpfile", 12);
  put_be64(s, 1);
  put_be64(s, 1);
  s.resize(4096);
  put_be64(s, 0);
  put_be64(s, 8);
  s.insert(s.end(), 8, 0xee);  // overridden below by the real signature
  for (std::size_t off = (plain.size() - 1) / chunk * chunk;; off -= chunk) {
    const std::size_t n = std::min(chunk, plain.size() - off);
    put_be64(s, off);
    put_be64(s, n);
    s.insert(s.end(), plain.begin() + off, plain.begin() + off + n);
    if (off == 0) break;
  }
  put_be64(s, ~0ull);
  put_be64(s, ~0ull);
  return s;
}

TEST(KdumpFlattened, ReadsLikeThePlainDump) {
  DumpSpec s;
  for (std::uint64_t pfn = 1; pfn < 6; ++pfn)
    s.stored.push_back({pfn, kPageZlib, compress(kPageZlib, pattern(pfn))});
  const auto plain = build_dump(s);
  for (std::size_t chunk : {std::size_t{1000}, std::size_t{4096}, std::size_t{100000}}) {
    const std::string path = write_temp(flatten(plain, chunk));
    auto f = KdumpFile::open(path);
    ::unlink(path.c_str());
    ASSERT_TRUE(f) << "chunk " << chunk << ": " << f.error().message;
    EXPECT_NE((*f)->info().name.find("flattened"), std::string::npos);
    EXPECT_EQ((*f)->vmcoreinfo(), s.vmcoreinfo);
    for (std::uint64_t pfn = 1; pfn < 6; ++pfn) {
      std::vector<std::uint8_t> got(kBlock);
      ASSERT_TRUE((*f)->read_one(PhysAddr(pfn * kBlock), got)) << "chunk " << chunk;
      EXPECT_EQ(got, pattern(pfn)) << "chunk " << chunk << " pfn " << pfn;
    }
  }
}

TEST(KdumpFlattened, TruncatedOrHostileStreamsAreRefused) {
  DumpSpec s;
  s.stored.push_back({1, 0, pattern(1)});
  const auto good = flatten(build_dump(s), 4096);
  auto open_bytes = [](const std::vector<std::uint8_t>& b) {
    const std::string path = write_temp(b);
    auto f = KdumpFile::open(path);
    ::unlink(path.c_str());
    return f;
  };
  ASSERT_TRUE(open_bytes(good));
  auto cut = good;
  cut.resize(cut.size() - 16);  // no end marker
  auto r = open_bytes(cut);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("without its end marker: truncated"), std::string::npos)
      << r.error().message;
  auto huge = good;
  for (int i = 0; i < 8; ++i) huge[4096 + 8 + i] = 0x7f;  // first record's size
  r = open_bytes(huge);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("do not fit"), std::string::npos) << r.error().message;
  auto type = good;
  type[23] = 2;
  r = open_bytes(type);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("type 2"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace tlpstub
