// qXfer:exec-file:read and the vFile: packets (handlers/vfile.cpp) over a FakeTarget serving
// one file: the exchange gdb 13 was seen to make (facts/gdb-rsp.md), then bad descriptors,
// offsets past the end, unknown names, and every write refused.
#include <gtest/gtest.h>

#include "session_harness.hpp"

namespace tlpstub::stub::testing {
namespace {

constexpr std::string_view kPath = "/tlpstub/vmlinux";

std::shared_ptr<const std::vector<std::uint8_t>> sample_bytes(std::size_t n) {
  auto v = std::make_shared<std::vector<std::uint8_t>>(n);
  for (std::size_t i = 0; i < n; ++i) (*v)[i] = static_cast<std::uint8_t>(i * 7 + 3);
  return v;
}

class VfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = sample_bytes(5000);  // every byte value, '$' '#' '}' '*' included
    h_.target.files_[std::string(kPath)] = file_;
  }
  std::string open(std::string_view path, std::string_view flags = "0") {
    return h_.reply(fmt::format("vFile:open:{},{},0", hex_of(path), flags));
  }
  Harness h_;
  std::shared_ptr<const std::vector<std::uint8_t>> file_;
};

TEST_F(VfileTest, QSupportedAdvertisesExecFileOnlyWhenServed) {
  EXPECT_NE(h_.reply("qSupported:multiprocess+").find(";qXfer:exec-file:read+"),
            std::string::npos);
  Harness plain;
  EXPECT_EQ(plain.reply("qSupported:multiprocess+").find("exec-file"), std::string::npos);
  EXPECT_EQ(plain.reply("qXfer:exec-file:read::0,1000"), "E1e");
  EXPECT_EQ(plain.reply("vFile:open:" + hex_of(kPath) + ",0,0"), "");
  EXPECT_EQ(plain.reply("vFile:pwrite:3,0,abc"), "");
}

TEST_F(VfileTest, ExecFileNamesThePathWithOrWithoutPid) {
  EXPECT_EQ(h_.reply("qXfer:exec-file:read::0,1000"), "l/tlpstub/vmlinux");
  EXPECT_EQ(h_.reply("qXfer:exec-file:read:2a:0,1000"), "l/tlpstub/vmlinux");
  EXPECT_EQ(h_.reply("qXfer:exec-file:read::0,4"), "m/tlp");
  EXPECT_EQ(h_.reply("qXfer:exec-file:read::4,100"), "lstub/vmlinux");
  EXPECT_EQ(h_.reply("qXfer:exec-file:read::100,100"), "E16");
  EXPECT_EQ(h_.reply("qXfer:exec-file:read:zz:0,100"), "E02");
}

TEST_F(VfileTest, ExecFileWhileTheTargetIsBusyIsAnError) {
  h_.target.exec_error_ = Error{Errc::busy, "discovery running"};
  EXPECT_EQ(h_.reply("qXfer:exec-file:read::0,1000"), "E0b");
}

TEST_F(VfileTest, GdbSequenceReadsTheWholeFile) {
  EXPECT_EQ(h_.reply("vFile:setfs:0"), "F0");
  EXPECT_EQ(open("just probing", "0"), "F-1,2");
  EXPECT_EQ(open(kPath), "F3");
  const std::string st = h_.reply("vFile:fstat:3");
  ASSERT_EQ(st.size(), 4u + 64u) << st;
  EXPECT_EQ(st.substr(0, 4), "F40;");
  // mode at 8 (big-endian 0100444), size at 28 (u64 5000 = 0x1388)
  EXPECT_EQ(st.substr(4 + 8, 4), std::string("\x00\x00\x81\x24", 4));
  EXPECT_EQ(st.substr(4 + 28, 8), std::string("\x00\x00\x00\x00\x00\x00\x13\x88", 8));
  std::string got;
  while (got.size() < file_->size()) {
    const std::string r = h_.reply(fmt::format("vFile:pread:3,{:x},{:x}", 1000, got.size()));
    const std::size_t semi = r.find(';');
    ASSERT_NE(semi, std::string::npos) << r;
    const std::size_t n = std::stoul(r.substr(1, semi - 1), nullptr, 16);
    ASSERT_EQ(r.size() - semi - 1, n);
    ASSERT_GT(n, 0u);
    got += r.substr(semi + 1);
  }
  EXPECT_EQ(got, std::string(file_->begin(), file_->end()));
  EXPECT_EQ(h_.reply("vFile:close:3"), "F0");
}

TEST_F(VfileTest, ReadsShrinkToFitThePacketSize) {
  Harness small(SessionOptions{.packet_size = 300});
  small.target.files_[std::string(kPath)] = file_;
  EXPECT_EQ(small.reply(fmt::format("vFile:open:{},0,0", hex_of(kPath))), "F3");
  const std::string raw = small.ask("vFile:pread:3,10000,0");
  EXPECT_LE(raw.size(), 300u + 4u) << raw.size();
  const std::string r = gdb_unframe(raw);
  const std::size_t n = std::stoul(r.substr(1, r.find(';') - 1), nullptr, 16);
  EXPECT_GT(n, 200u);
  EXPECT_EQ(r.substr(r.find(';') + 1), std::string(file_->begin(), file_->begin() + n));
}

TEST_F(VfileTest, OffsetsAtAndPastTheEndReadNothing) {
  ASSERT_EQ(open(kPath), "F3");
  EXPECT_EQ(h_.reply("vFile:pread:3,100,1388"), "F0;");
  EXPECT_EQ(h_.reply("vFile:pread:3,100,ffffffffffffffff"), "F0;");
  const std::string tail = h_.reply("vFile:pread:3,100,1380");
  EXPECT_EQ(tail.substr(0, 3), "F8;");
  EXPECT_EQ(tail.size(), 3u + 8u);
}

TEST_F(VfileTest, BadDescriptorsAndArguments) {
  EXPECT_EQ(h_.reply("vFile:pread:3,10,0"), "F-1,9");
  EXPECT_EQ(h_.reply("vFile:fstat:7"), "F-1,9");
  EXPECT_EQ(h_.reply("vFile:close:3"), "F-1,9");
  ASSERT_EQ(open(kPath), "F3");
  EXPECT_EQ(h_.reply("vFile:close:3"), "F0");
  EXPECT_EQ(h_.reply("vFile:close:3"), "F-1,9");  // closed twice
  EXPECT_EQ(h_.reply("vFile:pread:3,10,0"), "F-1,9");
  EXPECT_EQ(h_.reply("vFile:pread:3,10"), "F-1,16");
  EXPECT_EQ(h_.reply("vFile:pread:x,10,0"), "F-1,16");
  EXPECT_EQ(h_.reply("vFile:pread:3,10,0,5"), "F-1,16");
  EXPECT_EQ(h_.reply("vFile:open:2f7,0,0"), "F-1,16");  // odd hex
  EXPECT_EQ(h_.reply("vFile:open:2f74"), "F-1,16");
  EXPECT_EQ(h_.reply("vFile:setfs:q"), "F-1,16");
}

TEST_F(VfileTest, UnknownNamesAreEnoent) {
  EXPECT_EQ(open("/tlpstub/vmlinuxx"), "F-1,2");
  EXPECT_EQ(open("/usr/lib/debug/.build-id/ab/cdef.debug"), "F-1,2");
  EXPECT_EQ(open(""), "F-1,2");
  EXPECT_EQ(h_.reply("vFile:readlink:" + hex_of("/nope")), "F-1,2");
  EXPECT_EQ(h_.reply("vFile:readlink:" + hex_of(kPath)), "F-1,16");
}

TEST_F(VfileTest, WritesAreRefused) {
  EXPECT_EQ(open(kPath, "1"), "F-1,1e");    // O_WRONLY
  EXPECT_EQ(open(kPath, "2"), "F-1,1e");    // O_RDWR
  EXPECT_EQ(open("/tmp/new", "601"), "F-1,1e");  // CREAT|TRUNC|WRONLY
  ASSERT_EQ(open(kPath), "F3");
  EXPECT_EQ(h_.reply("vFile:pwrite:3,0,abc"), "F-1,1e");
  EXPECT_EQ(h_.reply("vFile:unlink:" + hex_of(kPath)), "F-1,1e");
  // the file is unchanged
  EXPECT_EQ(h_.reply("vFile:pread:3,1,0"), std::string("F1;\x03", 4));
}

TEST_F(VfileTest, DescriptorsAreBounded) {
  for (int i = 0; i < 32; ++i) ASSERT_EQ(open(kPath)[0], 'F');
  EXPECT_EQ(open(kPath), "F-1,18");  // EMFILE
  EXPECT_EQ(h_.reply("vFile:close:3"), "F0");
  EXPECT_EQ(open(kPath).substr(0, 1), "F");
}

}  // namespace
}  // namespace tlpstub::stub::testing
