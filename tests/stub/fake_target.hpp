// A Target for tests: memory from a map of 4 KiB pages, a few threads with partly known
// registers, and monitor commands through a MonitorRegistry.
#pragma once

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <map>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "stub/monitor.hpp"
#include "stub/target.hpp"

namespace tlpstub::stub::testing {

inline constexpr std::uint64_t kKernelText = 0xffffffff81000000ull;
inline constexpr std::uint64_t kDataPage = 0x10000;

class FakeTarget : public Target {
 public:
  FakeTarget() {
    auto& text = add_page(kKernelText);
    for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<std::uint8_t>(0x90);
    text[0] = 0x55;  // push rbp
    auto& data = add_page(kDataPage);
    for (std::size_t i = 0; i < 16; ++i) data[i] = static_cast<std::uint8_t>(i);
    add_page(kDataPage + kPageSize);  // zeros, then a hole at kDataPage + 2 pages

    threads_ = {{1, "init", "pid 1 init"},
                {2, "kthreadd", "pid 2 kthreadd"},
                {0x10000, "swapper/0", "pid 0 swapper/0"}};

    RegisterSet r1;
    for (int i = 0; i < 16; ++i) r1.value[i] = 0x1111111111111111ull * (i % 15 + 1);
    r1.set(Reg::rip, kKernelText + 4);
    r1.set(Reg::rsp, kDataPage + 0x800);
    r1.set(Reg::eflags, 0x246);
    r1.set(Reg::cs, 0x10);
    r1.set(Reg::ss, 0x18);
    r1.set(Reg::cr3, 0x1234000);
    regs_[1] = r1;
    RegisterSet r2;  // a sleeping task: only what its saved frame gives
    r2.set(Reg::rip, kKernelText + 0x10);
    r2.set(Reg::rsp, kDataPage + 0x900);
    r2.set(Reg::rbp, kDataPage + 0x980);
    regs_[2] = r2;
    regs_[0x10000] = RegisterSet{};

    monitor_.add(
        {"echo", "echo WORDS", "print the words",
         [](const MonitorArgs& args, const OutputFn& out) -> Result<void> {
           std::string s;
           for (auto a : args.words) s += std::string(a) + " ";
           out(s + "\n");
           return {};
         },
         0, 16});
    monitor_.add({"fail", "fail", "always fails",
                  [](const MonitorArgs&, const OutputFn& out) -> Result<void> {
                    out("partial output\n");
                    return fail(Errc::invalid_argument, "fail was asked to fail");
                  }});
    monitor_.add(
        {"big", "big N", "print N bytes of text",
         [](const MonitorArgs& args, const OutputFn& out) -> Result<void> {
           std::size_t n = args.words.empty() ? 100 : std::stoul(std::string(args.words[0]));
           std::string s;
           for (std::size_t i = 0; i < n; ++i) s += static_cast<char>('a' + i % 26);
           out(s);
           return {};
         },
         0, 1});
  }

  std::array<std::uint8_t, kPageSize>& add_page(std::uint64_t addr) {
    return pages_[addr & ~kPageMask];
  }

  MemoryReadResult read_memory(std::uint64_t addr, std::span<std::uint8_t> out) override {
    ++reads;
    MemoryReadResult r;
    while (r.bytes_read < out.size()) {
      std::uint64_t a = addr + r.bytes_read;
      auto it = pages_.find(a & ~kPageMask);
      if (it == pages_.end()) {
        r.fault = Error{Errc::not_present, fmt::format("no page at {:#x}", a), a};
        return r;
      }
      std::size_t in_page = kPageSize - (a & kPageMask);
      std::size_t n = std::min(in_page, out.size() - r.bytes_read);
      std::memcpy(out.data() + r.bytes_read, it->second.data() + (a & kPageMask), n);
      r.bytes_read += n;
    }
    return r;
  }

  std::vector<ThreadInfo> threads() override { return threads_; }

  Result<RegisterSet> registers(std::int64_t id) override {
    auto it = regs_.find(id);
    if (it == regs_.end()) return fail(Errc::not_found, "no such thread");
    return it->second;
  }

  std::optional<SectionOffsets> offsets() override { return offsets_; }

  Result<void> monitor(std::string_view command, const OutputFn& out) override {
    return monitor_.run(command, out);
  }
  bool monitor_is_long(std::string_view command) override { return monitor_.is_long(command); }
  Result<void> monitor_long(std::string_view command, const OutputFn& out,
                            const StopFn& stop) override {
    return monitor_.run(command, out, stop);
  }

  void begin_request(Deadline d) override {
    ++requests;
    deadline = d;
  }
  std::string attach_message() override { return attach_message_; }

  bool serves_files() const override { return !files_.empty() || exec_error_.has_value(); }
  Result<std::string> exec_file() override {
    if (exec_error_) return std::unexpected(*exec_error_);
    if (files_.empty()) return fail(Errc::unsupported, "no files");
    return files_.begin()->first;
  }
  Result<FileBytes> open_file(std::string_view path) override {
    auto it = files_.find(std::string(path));
    if (it == files_.end()) return fail(Errc::not_found, "no such file");
    return it->second;
  }

  std::map<std::uint64_t, std::array<std::uint8_t, kPageSize>> pages_;
  std::vector<ThreadInfo> threads_;
  std::map<std::int64_t, RegisterSet> regs_;
  std::optional<SectionOffsets> offsets_;
  std::string attach_message_;
  std::map<std::string, FileBytes> files_;    // served files, by path
  std::optional<Error> exec_error_;           // exec_file() fails with this when set
  MonitorRegistry monitor_;
  int requests = 0;
  Deadline deadline = kNoDeadline;  // of the last request
  int reads = 0;
};

// A FakeTarget with one long command (stub/long_request.hpp), for the server and gdb tests.
class SlowTarget : public FakeTarget {
 public:
  SlowTarget() {
    // slow N: a long command (stub/long_request.hpp), N steps of 10 ms, a line each; stops
    // when gdb moves on and records where.
    MonitorCommand slow{"slow", "slow N", "a long command",
                        [](const MonitorArgs& args, const OutputFn& out) -> Result<void> {
                          const int n = std::stoi(std::string(args.words.at(0)));
                          for (int i = 0; i < n; ++i) {
                            if (args.stop_requested()) {
                              SlowTarget::stopped_at = i;
                              return fail(Errc::deadline, fmt::format("slow: stopped at {}", i));
                            }
                            std::this_thread::sleep_for(std::chrono::milliseconds(10));
                            out(fmt::format("slow {}\n", i));
                          }
                          SlowTarget::stopped_at = n;
                          return {};
                        },
                        1, 1};
    slow.long_running = true;
    monitor_.add(std::move(slow));
  }
  static inline std::atomic<int> stopped_at{-1};
};

}  // namespace tlpstub::stub::testing
