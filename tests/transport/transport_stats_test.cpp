#include "transport/transport_stats.hpp"

#include <gtest/gtest.h>

using namespace tlpstub;
using namespace std::chrono_literals;

TEST(TransportStats, RttBucketsAreLog2Microseconds) {
  EXPECT_EQ(TransportStats::rtt_bucket(500ns), 0u);
  EXPECT_EQ(TransportStats::rtt_bucket(1us), 1u);
  EXPECT_EQ(TransportStats::rtt_bucket(3us), 2u);
  EXPECT_EQ(TransportStats::rtt_bucket(12us), 4u);  // 8..15 us
  EXPECT_EQ(TransportStats::rtt_bucket(16us), 5u);
  EXPECT_EQ(TransportStats::rtt_bucket(3600s), TransportStats::kRttBuckets - 1);
  EXPECT_EQ(TransportStats::rtt_bucket(-5us), 0u);
}

TEST(TransportStats, FormatNamesEveryCounter) {
  TransportStats s;
  EXPECT_NE(s.format().find("round trips (0): none"), std::string::npos);
  TransportStats::add(s.requests, 10);
  TransportStats::add(s.bytes, 5120);
  s.drop(tlp::Drop::wrong_tag);
  s.drop(tlp::Drop::wrong_tag);
  s.record_rtt(12us);
  s.record_rtt(13us);
  s.record_rtt(40us);
  s.note_inflight(7);
  s.note_inflight(3);
  const std::string f = s.format();
  EXPECT_NE(f.find("requests 10"), std::string::npos) << f;
  EXPECT_NE(f.find("bytes 5120"), std::string::npos) << f;
  EXPECT_NE(f.find("dropped 2  wrong_tag 2"), std::string::npos) << f;
  EXPECT_NE(f.find("in flight peak 7"), std::string::npos) << f;
  EXPECT_NE(f.find("8-15 us"), std::string::npos) << f;
  EXPECT_NE(f.find("32-63 us"), std::string::npos) << f;
  s.reset();
  EXPECT_EQ(s.requests.load(), 0u);
  EXPECT_EQ(s.total_drops(), 0u);
}
