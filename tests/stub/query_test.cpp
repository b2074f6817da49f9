// qSupported, ?, qAttached, qOffsets, qSymbol, the empty replies.
#include <gtest/gtest.h>

#include "session_harness.hpp"

namespace tlpstub::stub::testing {
namespace {

constexpr std::string_view kGdb13Supported =
    "qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vfork-events+;"
    "exec-events+;vContSupported+;QThreadEvents+;no-resumed+;memory-tagging+;xmlRegisters=i386";

TEST(Query, Supported) {
  Harness h;
  EXPECT_EQ(h.ask(kGdb13Supported),
            "$PacketSize=20000;qXfer:features:read+;qXfer:threads:read+;QStartNoAckMode+#7a");
  Harness small({.packet_size = 0x1000});
  EXPECT_EQ(small.reply("qSupported"),
            "PacketSize=1000;qXfer:features:read+;qXfer:threads:read+;QStartNoAckMode+");
}

TEST(Query, EmptyReplies) {
  Harness h;
  EXPECT_EQ(h.ask("vMustReplyEmpty"), "$#00");
  EXPECT_EQ(h.ask("qTStatus"), "$#00");
}

TEST(Query, HaltReason) {
  Harness h;
  EXPECT_EQ(h.ask("?"), "$T05thread:1;#d7");
}

TEST(Query, Attached) {
  Harness h;
  EXPECT_EQ(h.ask("qAttached"), "$1#31");
  EXPECT_EQ(h.reply("qAttached:1"), "1");
}

TEST(Query, Offsets) {
  Harness h;
  EXPECT_EQ(h.ask("qOffsets"), "$#00");
  h.target.offsets_ = SectionOffsets{0x1e000000, 0x1e000000, 0x1e000000};
  EXPECT_EQ(h.reply("qOffsets"), "Text=1e000000;Data=1e000000;Bss=1e000000");
}

TEST(Query, Symbol) {
  Harness h;
  EXPECT_EQ(h.ask("qSymbol::"), "$OK#9a");
  EXPECT_EQ(h.reply("qSymbol:ffffffff81000000:6a696666696573"), "OK");
}

}  // namespace
}  // namespace tlpstub::stub::testing
