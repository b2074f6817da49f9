// Execution control on a read-only target: refused with text and a stop reply, or empty.
#include <gtest/gtest.h>

#include "session_harness.hpp"

namespace tlpstub::stub::testing {
namespace {

const std::string kRefusal =
    rsp_frame("O" + hex_of("tlpstub: target is read-only, execution control is not available\n"));

TEST(Resume, ContinueAndStepPrintTextThenStop) {
  Harness h;
  EXPECT_EQ(h.ask("c"), kRefusal + "$T00thread:1;#d2");
  EXPECT_EQ(h.ask("s"), kRefusal + "$T00thread:1;#d2");
  EXPECT_EQ(h.ask("C05"), kRefusal + "$T00thread:1;#d2");
  EXPECT_EQ(h.ask("S05"), kRefusal + "$T00thread:1;#d2");
  EXPECT_EQ(h.ask("cffffffff81000000"), kRefusal + "$T00thread:1;#d2");
}

TEST(Resume, StepReportsTheSelectedThreadAndContinueTheLastStopped) {
  Harness h;
  // gdb 13 selects the stepped thread with Hg before `s`.
  ASSERT_EQ(h.reply("Hg2"), "OK");
  EXPECT_EQ(gdb_unframe(h.ask("s").substr(kRefusal.size())), "T00thread:2;");
  // `info threads` moves Hg around; `c` names no thread: the last stopped one is reported,
  // and the stop reply selects it again for `g` (gdb assumes so).
  ASSERT_EQ(h.reply("Hg10000"), "OK");
  EXPECT_EQ(gdb_unframe(h.ask("c").substr(kRefusal.size())), "T00thread:2;");
  EXPECT_EQ(h.reply("qC"), "QC2");
  // A continue thread named with Hc wins.
  ASSERT_EQ(h.reply("Hc1"), "OK");
  EXPECT_EQ(gdb_unframe(h.ask("c").substr(kRefusal.size())), "T00thread:1;");
}

TEST(Resume, VCont) {
  Harness h;
  EXPECT_EQ(h.ask("vCont?"), "$#00");  // gdb falls back to c/s
  EXPECT_EQ(h.ask("vCont;c"), kRefusal + "$T00thread:1;#d2");
  EXPECT_EQ(gdb_unframe(h.ask("vCont;s:2;c").substr(kRefusal.size())), "T00thread:2;");
  EXPECT_EQ(gdb_unframe(h.ask("vCont;c:10000").substr(kRefusal.size())), "T00thread:2;");
  EXPECT_EQ(gdb_unframe(h.ask("vCont;s:zz").substr(kRefusal.size())), "T00thread:2;");
  EXPECT_EQ(gdb_unframe(h.ask("vCont").substr(kRefusal.size())), "T00thread:2;");
}

TEST(Resume, InterruptAfterARefusalNamesTheSameThread) {
  Harness h;
  ASSERT_EQ(h.reply("Hg2"), "OK");
  h.ask("s");
  EXPECT_EQ(h.raw("\x03"), "$T02thread:2;#d5");
}

TEST(Resume, BreakpointsAreUnsupported) {
  Harness h;
  EXPECT_EQ(h.ask("Z0,ffffffff81000000,1"), "$#00");
  EXPECT_EQ(h.ask("z0,ffffffff81000000,1"), "$#00");
  EXPECT_EQ(h.ask("Z1,ffffffff81000000,1"), "$#00");
  EXPECT_EQ(h.ask("Z2,10000,4"), "$#00");
  EXPECT_EQ(h.ask("Z4,10000,4"), "$#00");
}

TEST(Resume, ProcessControlIsRefused) {
  Harness h;
  EXPECT_EQ(h.ask("vRun;"), "$E1e#db");
  EXPECT_EQ(h.ask("vAttach;1"), "$E1e#db");
  EXPECT_EQ(h.ask("R00"), "$E1e#db");
  EXPECT_FALSE(h.closed());
  EXPECT_EQ(h.reply("m10000,1"), "00");
}

}  // namespace
}  // namespace tlpstub::stub::testing
