// The unread side of a gdb connection for long-request tests: bytes "arrive" when the
// session has peeked a given number of times (as gdb's next packet arrives while a long
// command runs), and a server-like pump feeds whatever is unread to the Session.
#pragma once

#include <map>
#include <string>

#include "stub/long_request.hpp"

namespace tlpstub::stub::testing {

class FakeConnection final : public InputProbe {
 public:
  // `bytes` arrive just before the n-th peek (1-based); "" with closed = the peer closes.
  void arrive_at_peek(int n, std::string bytes) { script_[n] += bytes; }
  void close_at_peek(int n) { close_at_ = n; }

  PeekedInput peek() override {
    ++peeks;
    if (auto it = script_.find(peeks); it != script_.end()) unread += it->second;
    if (close_at_ && peeks >= close_at_) closed = true;
    // A test that waits for an arrival that never comes ends as a closed connection.
    if (peeks > kGiveUp) closed = true;
    return {unread.substr(0, 4096), closed};
  }
  void discard(std::size_t n) override {
    discarded += unread.substr(0, n);
    unread.erase(0, n);
  }
  void wait(std::chrono::milliseconds) override { ++waits; }

  static constexpr int kGiveUp = 100000;
  std::string unread;     // gdb wrote it, the session has not read it
  std::string discarded;  // taken by a long request (acks, '-', ^C)
  bool closed = false;
  int peeks = 0, waits = 0;

 private:
  std::map<int, std::string> script_;
  int close_at_ = 0;
};

}  // namespace tlpstub::stub::testing
