// qXfer:features:read (target.xml) and qXfer:threads:read.
#include <gtest/gtest.h>

#include "session_harness.hpp"
#include "stub/target_xml.hpp"

namespace tlpstub::stub::testing {
namespace {

// Reads a whole qXfer object in chunks of `chunk` bytes, as gdb does.
std::string read_all(Harness& h, std::string_view prefix, std::size_t chunk, int* parts = nullptr) {
  std::string doc;
  for (int n = 1;; ++n) {
    std::string r = h.reply(fmt::format("{}{:x},{:x}", prefix, doc.size(), chunk));
    EXPECT_TRUE(!r.empty() && (r[0] == 'm' || r[0] == 'l')) << r;
    if (r.empty()) return doc;
    doc += r.substr(1);
    if (r[0] == 'l' || n > 10000) {
      if (parts) *parts = n;
      return doc;
    }
  }
}

TEST(TargetXml, DescribesAmd64CoreSegmentsAndSystemRegisters) {
  std::string_view xml = target_xml();
  EXPECT_NE(xml.find("<architecture>i386:x86-64</architecture>"), std::string_view::npos);
  EXPECT_NE(xml.find("<feature name=\"org.gnu.gdb.i386.core\">"), std::string_view::npos);
  EXPECT_NE(xml.find("<feature name=\"org.gnu.gdb.i386.segments\">"), std::string_view::npos);
  EXPECT_NE(xml.find("<feature name=\"org.tlpstub.x86.sys\">"), std::string_view::npos);
  EXPECT_NE(xml.find("<flags id=\"i386_eflags\" size=\"4\">"), std::string_view::npos);
  EXPECT_NE(xml.find("<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\" regnum=\"16\"/>"),
            std::string_view::npos);
  EXPECT_NE(xml.find("<reg name=\"eflags\" bitsize=\"32\" type=\"i386_eflags\" regnum=\"17\"/>"),
            std::string_view::npos);
  EXPECT_NE(xml.find("<reg name=\"fs_base\" bitsize=\"64\" type=\"int\" regnum=\"24\"/>"),
            std::string_view::npos);
  EXPECT_NE(
      xml.find("<reg name=\"cr3\" bitsize=\"64\" type=\"uint64\" regnum=\"28\" group=\"system\"/>"),
      std::string_view::npos);
  EXPECT_NE(
      xml.find(
          "<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\" regnum=\"30\" group=\"float\"/>"),
      std::string_view::npos);
  std::size_t regs = 0;
  for (std::size_t p = xml.find("<reg "); p != std::string_view::npos; p = xml.find("<reg ", p + 1))
    ++regs;
  EXPECT_EQ(regs, wire_registers().size());
}

TEST(QXfer, FeaturesWholeAndChunked) {
  Harness h;
  EXPECT_EQ(h.reply("qXfer:features:read:target.xml:0,ffff"), "l" + std::string(target_xml()));
  int parts = 0;
  EXPECT_EQ(read_all(h, "qXfer:features:read:target.xml:", 0x100, &parts), target_xml());
  EXPECT_EQ(parts, static_cast<int>((target_xml().size() + 0xff) / 0x100));
  EXPECT_EQ(h.reply(fmt::format("qXfer:features:read:target.xml:{:x},10", target_xml().size())),
            "l");
}

TEST(QXfer, FeaturesErrors) {
  Harness h;
  EXPECT_EQ(h.reply("qXfer:features:read:i386-64bit.xml:0,fff"), "E02");
  EXPECT_EQ(h.reply(fmt::format("qXfer:features:read:target.xml:{:x},10", target_xml().size() + 1)),
            "E16");
  EXPECT_EQ(h.reply("qXfer:features:read:target.xml:0"), "E01");
  EXPECT_EQ(h.reply("qXfer:features:read:target.xml"), "E01");
  EXPECT_EQ(h.reply("qXfer:features:read:target.xml:zz,10"), "E01");
  EXPECT_EQ(h.reply("qXfer:features:read"), "E01");
  EXPECT_EQ(h.reply("qXfer:features:write:target.xml:0:abc"), "");  // not supported
  EXPECT_EQ(h.reply("qXfer:memory-map:read::0,fff"), "");
}

TEST(QXfer, ReplyFitsThePacketSize) {
  Harness h({.packet_size = 256});
  std::string r = h.reply("qXfer:features:read:target.xml:0,ffff");
  EXPECT_EQ(r, "m" + std::string(target_xml().substr(0, 128)));
}

// Found by fuzz/vfile_qxfer_fuzz: half the packet size of bytes that all need escaping, plus
// the 'm', overran PacketSize by one byte.
TEST(QXfer, EscapedReplyFitsThePacketSize) {
  Harness h({.packet_size = 256});
  h.target.threads_ = {{1, std::string(300, '}'), "#$*"}};
  std::string doc;
  for (int n = 0; n < 100; ++n) {
    const std::string raw = h.ask(fmt::format("qXfer:threads:read::{:x},fff", doc.size()));
    ASSERT_LE(raw.size(), 256u + 4u) << raw;
    const std::string r = gdb_unframe(raw);
    ASSERT_TRUE(r.size() > 1 && (r[0] == 'm' || r[0] == 'l')) << r;
    doc += r.substr(1);
    if (r[0] == 'l') break;
  }
  EXPECT_NE(doc.find("name=\"" + std::string(300, '}') + "\">#$*</thread>"), std::string::npos);
}

TEST(QXfer, Threads) {
  Harness h;
  const std::string doc =
      "<?xml version=\"1.0\"?>\n<threads>\n"
      "<thread id=\"1\" name=\"init\">pid 1 init</thread>\n"
      "<thread id=\"2\" name=\"kthreadd\">pid 2 kthreadd</thread>\n"
      "<thread id=\"10000\" name=\"swapper/0\">pid 0 swapper/0</thread>\n"
      "</threads>\n";
  EXPECT_EQ(h.reply("qXfer:threads:read::0,fff"), "l" + doc);
  EXPECT_EQ(h.reply("qXfer:threads:read:foo:0,fff"), "E02");
}

TEST(QXfer, ThreadsEscapesXmlAndKeepsOneSnapshotPerTransfer) {
  Harness g;
  g.target.threads_ = {{7, "a<b>&\"c'", "x & y"}};
  std::string whole = read_all(g, "qXfer:threads:read::", 0x20);
  EXPECT_NE(whole.find("<thread id=\"7\" name=\"a&lt;b&gt;&amp;&quot;c&apos;\">x &amp; y</thread>"),
            std::string::npos);
  // Offsets after 0 reuse the snapshot taken at offset 0, even if the list changed.
  Harness s;
  s.target.threads_ = {{7, "seven", ""}};
  std::string a = s.reply("qXfer:threads:read::0,10");
  s.target.threads_ = {{8, "eight", ""}};
  std::string b = s.reply("qXfer:threads:read::10,1000");
  EXPECT_NE((a.substr(1) + b.substr(1)).find("seven"), std::string::npos);
}

}  // namespace
}  // namespace tlpstub::stub::testing
