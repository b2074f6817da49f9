// Byte-for-byte golden vectors for the framer and the decoder.
#include "stub/packet_codec.hpp"

#include <gtest/gtest.h>

#include <random>

#include "session_harness.hpp"

namespace tlpstub::stub {
namespace {

using Kind = RspEvent::Kind;
using testing::gdb_unframe;

RspEvent packet(std::string p) { return {Kind::packet, std::move(p)}; }
RspEvent bad(std::string p) { return {Kind::bad_checksum, std::move(p)}; }
RspEvent ev(Kind k) { return {k, {}}; }

std::string repeat(char c, std::size_t n) { return std::string(n, c); }

TEST(Frame, Checksums) {
  EXPECT_EQ(rsp_frame("OK"), "$OK#9a");
  EXPECT_EQ(rsp_frame(""), "$#00");
  EXPECT_EQ(rsp_frame("E14"), "$E14#aa");
  EXPECT_EQ(rsp_frame("T02thread:1;"), "$T02thread:1;#d4");
  EXPECT_EQ(rsp_checksum("qSupported"), 0x37);
}

TEST(Frame, EscapesDollarHashBraceStar) {
  EXPECT_EQ(rsp_escape("a$b#c}d*e"),
            "a}\x04"
            "b}\x03"
            "c}]d}\x0a"
            "e");
  EXPECT_EQ(rsp_frame("a$b#c}d*e"),
            "$a}\x04"
            "b}\x03"
            "c}]d}\x0a"
            "e#51");
}

TEST(Frame, RunLengthGolden) {
  EXPECT_EQ(rsp_rle("000"), "000");              // too short to gain
  EXPECT_EQ(rsp_rle("0000"), "0* ");             // 3 repeats -> ' ' (32)
  EXPECT_EQ(rsp_rle(repeat('0', 6)), "0*\"");    // 5 repeats -> '"'
  EXPECT_EQ(rsp_rle(repeat('0', 7)), "0*\"0");   // 6 repeats would be '#'
  EXPECT_EQ(rsp_rle(repeat('0', 8)), "0*\"00");  // 7 repeats would be '$'
  EXPECT_EQ(rsp_rle(repeat('0', 9)), "0*%");
  EXPECT_EQ(rsp_rle(repeat('0', 96)), "0*|");
  EXPECT_EQ(rsp_rle(repeat('0', 97)), "0*|0");  // 96 repeats would be '}'
  EXPECT_EQ(rsp_rle(repeat('0', 98)), "0*~");   // 97 repeats -> '~' (126), the most
  EXPECT_EQ(rsp_rle(repeat('0', 99)), "0*~0");
  EXPECT_EQ(rsp_rle(repeat('0', 102)), "0*~0* ");
  EXPECT_EQ(rsp_rle("12" + repeat('f', 5) + "3"), "12f*!3");
  EXPECT_EQ(rsp_frame(repeat('0', 64), true), "$0*\\#b6");
  EXPECT_EQ(rsp_frame(repeat('0', 8), true), "$0*\"00#dc");
}

TEST(Frame, RunLengthNeverRepeatsEscapes) {
  // "$$$$$" escapes to "}\x04" five times: gdb expands runs before unescaping, so a run of
  // the escaped byte would corrupt the data.
  EXPECT_EQ(rsp_frame("$$$$$", true),
            "$" + repeat(' ', 0) + "}\x04}\x04}\x04}\x04}\x04#" +
                fmt::format("{:02x}", rsp_checksum("}\x04}\x04}\x04}\x04}\x04")));
  EXPECT_EQ(gdb_unframe(rsp_frame("a}}}}}}b", true)), "a}}}}}}b");
}

TEST(Frame, NeverProducesHashOrDollarCounts) {
  for (std::size_t n = 1; n < 400; ++n) {
    std::string f = rsp_frame("x" + repeat('0', n) + "y", true);
    std::string body = f.substr(1, f.size() - 4);
    EXPECT_EQ(body.find_first_of("$#"), std::string::npos) << n;
    EXPECT_EQ(gdb_unframe(f), "x" + repeat('0', n) + "y") << n;
  }
}

TEST(Frame, RandomRoundTripThroughGdbView) {
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; ++i) {
    std::string p;
    std::size_t n = rng() % 64;
    for (std::size_t j = 0; j < n; ++j) p += "0f$#}*a\x03"[rng() % 8];
    EXPECT_EQ(gdb_unframe(rsp_frame(p, true)), p);
    EXPECT_EQ(gdb_unframe(rsp_frame(p, false)), p);
    Decoder d;
    EXPECT_EQ(d.feed(rsp_frame(p)), std::vector<RspEvent>{packet(p)});
  }
}

TEST(Decoder, Packets) {
  Decoder d;
  EXPECT_EQ(d.feed("$OK#9a"), std::vector{packet("OK")});
  EXPECT_EQ(d.feed("$OK#9A"), std::vector{packet("OK")});  // upper-case checksum
  EXPECT_EQ(d.feed("$#00"), std::vector{packet("")});
  EXPECT_EQ(d.feed("$qSupported#37"), std::vector{packet("qSupported")});
}

TEST(Decoder, AcksAndInterrupt) {
  Decoder d;
  EXPECT_EQ(d.feed("+-\x03"), (std::vector{ev(Kind::ack), ev(Kind::nak), ev(Kind::interrupt)}));
}

TEST(Decoder, BadChecksums) {
  Decoder d;
  EXPECT_EQ(d.feed("$OK#9b"), std::vector{bad("OK")});
  EXPECT_EQ(d.feed("$OK#zz"), std::vector{bad("OK")});
  EXPECT_EQ(d.feed("$OK#9"), std::vector<RspEvent>{});  // waits for the second digit
  EXPECT_EQ(d.feed("a"), std::vector{packet("OK")});
}

TEST(Decoder, EscapesAndLiteralStar) {
  Decoder d;
  // X packet data "#}" escaped; '*' inside gdb's packets is data, never a run.
  std::string raw = "X0,2:}\x03}]";
  EXPECT_EQ(d.feed(fmt::format("${}#{:02x}", raw, rsp_checksum(raw))),
            std::vector{packet("X0,2:#}")});
  EXPECT_EQ(d.feed(fmt::format("$a*b#{:02x}", rsp_checksum("a*b"))), std::vector{packet("a*b")});
  // 0x03 inside a packet is data, not an interrupt.
  EXPECT_EQ(d.feed(fmt::format("$a\x03#{:02x}", rsp_checksum("a\x03"))),
            std::vector{packet("a\x03")});
  // A dangling escape before '#' is dropped.
  EXPECT_EQ(d.feed(fmt::format("$a}}#{:02x}", rsp_checksum("a}"))), std::vector{packet("a")});
}

TEST(Decoder, GarbageAndTruncatedPackets) {
  Decoder d;
  EXPECT_EQ(d.feed("junk\r\n$OK#9a garbage"), std::vector{packet("OK")});
  // "$abc" never ended: the next '$' starts over.
  EXPECT_EQ(d.feed("$abc$OK#9a"), std::vector{packet("OK")});
  EXPECT_EQ(d.feed("$unfinished"), std::vector<RspEvent>{});
  EXPECT_EQ(d.feed("+"), std::vector<RspEvent>{});  // '+' is payload here
}

TEST(Decoder, Overflow) {
  Decoder d(8);
  EXPECT_EQ(d.feed("$12345678#a4"), std::vector{packet("12345678")});
  EXPECT_EQ(d.feed("$123456789#dd$OK#9a"), (std::vector{ev(Kind::overflow), packet("OK")}));
  EXPECT_EQ(d.feed("$123456789abc$OK#9a"), (std::vector{ev(Kind::overflow), packet("OK")}));
  EXPECT_EQ(d.feed("$" + repeat('z', 100000) + "#00+"),
            (std::vector{ev(Kind::overflow), ev(Kind::ack)}));
}

TEST(Decoder, AnySplitGivesTheSameEvents) {
  const std::string stream = "+$qSupported:a;b#6f\x03$m1,2#fc-$}\x03#80x$OK#9a$bad#00";
  Decoder whole;
  const std::vector<RspEvent> expected = whole.feed(stream);
  ASSERT_EQ(expected.size(), 8u);
  for (std::size_t a = 0; a <= stream.size(); ++a)
    for (std::size_t b = a; b <= stream.size(); b += 3) {
      Decoder d;
      std::vector<RspEvent> got;
      for (auto part : {stream.substr(0, a), stream.substr(a, b - a), stream.substr(b)})
        for (auto& e : d.feed(part)) got.push_back(e);
      ASSERT_EQ(got, expected) << a << "," << b;
    }
}

}  // namespace
}  // namespace tlpstub::stub
