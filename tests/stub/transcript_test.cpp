// Golden transcript: the exact bytes stock gdb 13.1 sent to a Session over FakeTarget
// (recorded once through tests/stub/tcp_driver.cpp; the session ran `x/4xb 0x10000`,
// `info registers rip`, `monitor help`, `set {int}0x10000 = 1`, `continue`, `stepi`,
// `break *0x10000` + `continue`, `info threads`, `set $rax = 1`, `x/2xb 0x10000`, `detach`),
// and the exact bytes the Session must answer to each, checksums included.
#include <gtest/gtest.h>

#include "session_harness.hpp"
#include "stub/target_xml.hpp"

namespace tlpstub::stub::testing {
namespace {

using namespace std::string_literals;  // the X packets carry NUL bytes

struct Exchange {
  std::string from_gdb;
  std::string reply;
};

const std::vector<Exchange>& gdb13_transcript() {
  static const std::vector<Exchange> t = {
      {"$qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vfork-events+;exec-events+;vContSupported+;QThreadEvents+;no-resumed+;memory-tagging+;xmlRegisters=i386#77"s,
       "+$PacketSize=20000;qXfer:features:read+;qXfer:threads:read+;QStartNoAckMode+#7a"s},
      {"$vMustReplyEmpty#3a"s, "+$#00"s},
      {"$QStartNoAckMode#b0"s, "+$OK#9a"s},
      {"$Hg0#df"s, "$OK#9a"s},
      {"$qXfer:features:read:target.xml:0,1000#0c"s, "$l" + std::string(target_xml()) + "#72"s},
      {"$qTStatus#49"s, "$#00"s},
      {"$?#3f"s, "$T05thread:1;#d7"s},
      {"$qXfer:threads:read::0,1000#92"s,
       "$l<?xml version=\"1.0\"?>\n<threads>\n<thread id=\"1\" name=\"init\">pid 1 init</thread>\n<thread id=\"2\" name=\"kthreadd\">pid 2 kthreadd</thread>\n<thread id=\"10000\" name=\"swapper/0\">pid 0 swapper/0</thread>\n</threads>\n#7f"s},
      {"$qAttached#8f"s, "$1#31"s},
      {"$Hc-1#09"s, "$OK#9a"s},
      {"$g#67"s,
       "$1*,2*,3*,4*,5*,6*,7*,0008010*&9*,a*,b*,c*,d*,e*,f*,1*,040* 81f*\"ff46020* 10*\"0180*\"x*|004023010*\"00x*~x*~x*H#59"s},
      {"$qXfer:threads:read::0,1000#92"s,
       "$l<?xml version=\"1.0\"?>\n<threads>\n<thread id=\"1\" name=\"init\">pid 1 init</thread>\n<thread id=\"2\" name=\"kthreadd\">pid 2 kthreadd</thread>\n<thread id=\"10000\" name=\"swapper/0\">pid 0 swapper/0</thread>\n</threads>\n#7f"s},
      {"$mffffffff81000004,1#87"s, "$90#69"s},
      {"$mffffffff81000004,1#87"s, "$90#69"s},
      {"$m10000,1#bb"s, "$00#60"s},
      {"$m10001,1#bc"s, "$01#61"s},
      {"$m10002,1#bd"s, "$02#62"s},
      {"$m10003,1#be"s, "$03#63"s},
      {"$qRcmd,68656c70#fc"s,
       "$O68656c7020202020202020206c697374206d6f6e69746f7220636f6d6d616e64730a6563686f20574f52445320207072696e742074686520776f7264730a6661696c2020202020202020616c77617973206661696c730a626967204e202020202020207072696e74204e206279746573206f6620746578740a#15$OK#9a"s},
      {"$X10000,0:#df"s, "$E1e#db"s},
      {"$X10000,4:\x01"
       "\x00"
       "\x00"
       "\x00"
       "#e4"s,
       "$E1e#db"s},
      {"$vCont?#49"s, "$#00"s},
      {"$Hc0#db"s, "$OK#9a"s},
      {"$c#63"s,
       "$O746c70737475623a2074617267657420697320726561642d6f6e6c792c20657865637574696f6e20636f6e74726f6c206973206e6f7420617661696c61626c650a#64$T00thread:1;#d2"s},
      {"$g#67"s,
       "$1*,2*,3*,4*,5*,6*,7*,0008010*&9*,a*,b*,c*,d*,e*,f*,1*,040* 81f*\"ff46020* 10*\"0180*\"x*|004023010*\"00x*~x*~x*H#59"s},
      {"$qXfer:threads:read::0,1000#92"s,
       "$l<?xml version=\"1.0\"?>\n<threads>\n<thread id=\"1\" name=\"init\">pid 1 init</thread>\n<thread id=\"2\" name=\"kthreadd\">pid 2 kthreadd</thread>\n<thread id=\"10000\" name=\"swapper/0\">pid 0 swapper/0</thread>\n</threads>\n#7f"s},
      {"$mffffffff81000004,1#87"s, "$90#69"s},
      {"$mffffffff81000004,1#87"s, "$90#69"s},
      {"$s#73"s,
       "$O746c70737475623a2074617267657420697320726561642d6f6e6c792c20657865637574696f6e20636f6e74726f6c206973206e6f7420617661696c61626c650a#64$T00thread:1;#d2"s},
      {"$g#67"s,
       "$1*,2*,3*,4*,5*,6*,7*,0008010*&9*,a*,b*,c*,d*,e*,f*,1*,040* 81f*\"ff46020* 10*\"0180*\"x*|004023010*\"00x*~x*~x*H#59"s},
      {"$qXfer:threads:read::0,1000#92"s,
       "$l<?xml version=\"1.0\"?>\n<threads>\n<thread id=\"1\" name=\"init\">pid 1 init</thread>\n<thread id=\"2\" name=\"kthreadd\">pid 2 kthreadd</thread>\n<thread id=\"10000\" name=\"swapper/0\">pid 0 swapper/0</thread>\n</threads>\n#7f"s},
      {"$mffffffff81000004,1#87"s, "$90#69"s},
      {"$mffffffff81000004,1#87"s, "$90#69"s},
      {"$m10000,1#bb"s, "$00#60"s},
      {"$Z0,10000,1#04"s, "$#00"s},
      {"$m10000,1#bb"s, "$00#60"s},
      {"$X10000,1:\xcc"
       "#ac"s,
       "$E1e#db"s},
      {"$qXfer:threads:read::0,1000#92"s,
       "$l<?xml version=\"1.0\"?>\n<threads>\n<thread id=\"1\" name=\"init\">pid 1 init</thread>\n<thread id=\"2\" name=\"kthreadd\">pid 2 kthreadd</thread>\n<thread id=\"10000\" name=\"swapper/0\">pid 0 swapper/0</thread>\n</threads>\n#7f"s},
      {"$mffffffff81000004,1#87"s, "$90#69"s},
      {"$mffffffff81000004,1#87"s, "$90#69"s},
      {"$Hg2#e1"s, "$OK#9a"s},
      {"$g#67"s, "$x*|8009010*)9010*&x*~x*:10*!81f*\"ffx*~x*~x*~x*n#ec"s},
      {"$mffffffff81000010,1#84"s, "$90#69"s},
      {"$mffffffff81000010,1#84"s, "$90#69"s},
      {"$Hg10000#a0"s, "$OK#9a"s},
      {"$g#67"s, "$x*~x*~x*~x*~x*~x*~x*X#ba"s},
      {"$Hg1#e0"s, "$OK#9a"s},
      {"$mffffffff81000004,1#87"s, "$90#69"s},
      {"$mffffffff81000004,1#87"s, "$90#69"s},
      {"$P0=0100000000000000#be"s, "$E1e#db"s},
      {"$m10000,1#bb"s, "$00#60"s},
      {"$m10001,1#bc"s, "$01#61"s},
      {"$D#44"s, "$OK#9a"s},
  };
  return t;
}

TEST(Transcript, Gdb13SessionByteForByte) {
  Harness h({}, /*ack_mode=*/true);
  for (const Exchange& e : gdb13_transcript()) {
    EXPECT_EQ(h.raw(e.from_gdb), e.reply) << e.from_gdb;
    if (e.from_gdb == "$QStartNoAckMode#b0") {
      EXPECT_EQ(h.raw("+"), "");  // gdb acks the OK
    }
  }
  EXPECT_TRUE(h.closed());
}

TEST(Transcript, Gdb13SessionInOneChunk) {
  std::string in, out;
  for (const Exchange& e : gdb13_transcript()) {
    in += e.from_gdb;
    out += e.reply;
  }
  Harness h({}, true);
  EXPECT_EQ(h.raw(in), out);
}

TEST(Transcript, Gdb13SessionByteByByte) {
  std::string in, out;
  for (const Exchange& e : gdb13_transcript()) {
    in += e.from_gdb;
    out += e.reply;
  }
  Harness h({}, true);
  std::string got;
  for (char c : in) got += h.raw(std::string_view(&c, 1));
  EXPECT_EQ(got, out);
}

}  // namespace
}  // namespace tlpstub::stub::testing
