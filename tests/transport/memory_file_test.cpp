#include "transport/memory_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <vector>

using namespace tlpstub;

namespace {

// A temporary file whose byte at offset i is (i * 7 + i / 4096) & 0xff.
struct FileImage {
  std::string path;
  explicit FileImage(std::size_t size) {
    char tmpl[] = "/tmp/tlpstub-memfile-XXXXXX";
    int fd = mkstemp(tmpl);
    path = tmpl;
    std::vector<std::uint8_t> data(size);
    for (std::size_t i = 0; i < size; ++i) data[i] = byte_at(i);
    EXPECT_EQ(write(fd, data.data(), size), static_cast<ssize_t>(size));
    close(fd);
  }
  ~FileImage() { std::remove(path.c_str()); }
  static std::uint8_t byte_at(std::size_t off) { return static_cast<std::uint8_t>(off * 7 + off / 4096); }
};

}  // namespace

TEST(MemoryMap, Parses) {
  auto m = parse_memory_map("4G:2G:1G,0:0:2G").value();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].phys, 0u);
  EXPECT_EQ(m[0].length, 2ull << 30);
  EXPECT_EQ(m[1].phys, 4ull << 30);
  EXPECT_EQ(m[1].offset, 2ull << 30);
}

TEST(MemoryMap, RejectsBadSpecs) {
  EXPECT_FALSE(parse_memory_map("0:0"));
  EXPECT_FALSE(parse_memory_map("0:0:0"));
  EXPECT_FALSE(parse_memory_map("0:0:2G,1G:0:2G"));  // overlap
  EXPECT_FALSE(parse_memory_map("x:0:1G"));
}

TEST(MemoryFile, IdentityReads) {
  FileImage img(64 * 1024);
  auto mf = MemoryFile::open(img.path).value();
  std::vector<std::uint8_t> buf(100);
  ASSERT_TRUE(mf->read_one(PhysAddr(4090), buf));
  for (std::size_t i = 0; i < buf.size(); ++i) EXPECT_EQ(buf[i], FileImage::byte_at(4090 + i));
  EXPECT_EQ(mf->info().max_address, 64u * 1024);
}

TEST(MemoryFile, OutsideIsAnErrorWithTheAddress) {
  FileImage img(8192);
  auto mf = MemoryFile::open(img.path).value();
  std::vector<std::uint8_t> buf(16);
  auto st = mf->read_one(PhysAddr(8190), buf);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::unbacked);
  EXPECT_EQ(st.error().address, 8192u);
}

TEST(MemoryFile, MapSplitsAroundAHole) {
  FileImage img(3 * 4096);
  // file [0,8K) at phys 0, file [8K,12K) at phys 1M.
  auto mf = MemoryFile::open(img.path, parse_memory_map("0:0:8K,1M:8K:4K").value()).value();
  std::vector<std::uint8_t> a(8), b(8), c(8);
  std::vector<ReadRange> rs{{PhysAddr(0x1ff8), a}, {PhysAddr(0x100000), b}, {PhysAddr(0x2000), c}};
  std::vector<ReadStatus> st(3);
  mf->read(rs, st);
  EXPECT_TRUE(st[0]);
  EXPECT_TRUE(st[1]);
  EXPECT_EQ(b[0], FileImage::byte_at(8192));
  ASSERT_FALSE(st[2]);  // the hole
  EXPECT_EQ(st[2].error().address, 0x2000u);
  EXPECT_EQ(mf->view(PhysAddr(0x100000), 4096).size(), 4096u);
  EXPECT_TRUE(mf->view(PhysAddr(0x100000), 4097).empty());
}

TEST(MemoryFile, MapPastEndOfFileIsRejected) {
  FileImage img(4096);
  EXPECT_FALSE(MemoryFile::open(img.path, parse_memory_map("0:0:8K").value()));
  EXPECT_FALSE(MemoryFile::open("/nonexistent/file"));
}

TEST(MemoryFile, SeesWritesAndShrinkingFile) {
  FileImage img(8192);
  auto mf = MemoryFile::open(img.path).value();
  {
    std::fstream f(img.path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put(static_cast<char>(0x5a));
  }
  std::uint8_t b = 0;
  ASSERT_TRUE(mf->read_one(PhysAddr(100), std::span(&b, 1)));
  EXPECT_EQ(b, 0x5a);
  ASSERT_EQ(truncate(img.path.c_str(), 4096), 0);
  // Past the new end: an error, not SIGBUS.
  EXPECT_FALSE(mf->read_one(PhysAddr(5000), std::span(&b, 1)));
}
