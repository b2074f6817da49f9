// End to end with the real gdb (Debian gdb 13.1, /usr/bin/gdb) over TCP: what stock gdb
// prints for each of our replies, and that the session stays usable after every refusal.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "fake_target.hpp"
#include "server_harness.hpp"
#include "tcp_driver.hpp"

namespace tlpstub::stub::testing {
namespace {

bool have_gdb() { return std::system("gdb --version >/dev/null 2>&1") == 0; }

// CI installs gdb and a C compiler (.ci/deps): there a missing tool is a failure, so that a
// green CI run means these tests ran. Elsewhere it is a skip.
bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string_view(ci) == "true";
}

std::size_t count(const std::string& s, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

class GdbE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_gdb()) {
      if (in_ci()) FAIL() << "gdb not installed (CI=true: .ci/deps installs it)";
      GTEST_SKIP() << "gdb not installed";
    }
  }
  std::string run(const std::vector<std::string>& commands, const std::string& file = {}) {
    TcpDriver driver(target);
    std::string out = run_gdb(driver.port(), commands, file);
    driver.join();
    return out;
  }
  FakeTarget target;
};

constexpr std::string_view kReadOnly =
    "tlpstub: target is read-only, execution control is not available\n";
constexpr std::string_view kFourBytes = "0x10000:\t0x00\t0x01\t0x02\t0x03\n";

TEST_F(GdbE2E, RefusalsAreClearAndTheSessionStaysUsable) {
  std::string out = run({"x/4xb 0x10000", "info registers rip", "monitor help",
                         "set {int}0x10000 = 1", "continue", "stepi", "break *0x10000", "continue",
                         "delete", "set $rax = 1", "jump *0x10000", "x/4xb 0x10000"});
  EXPECT_EQ(count(out, kFourBytes), 2u) << out;
  EXPECT_NE(out.find("rip            0xffffffff81000004  0xffffffff81000004\n"), std::string::npos);
  EXPECT_NE(out.find("help        list monitor commands\n"), std::string::npos);
  // set {int}: our E1e to X.
  EXPECT_NE(out.find("Cannot access memory at address 0x10000\n"), std::string::npos);
  // continue and stepi: the O text, then T00.
  EXPECT_EQ(count(out, std::string(kReadOnly) +
                           "\nThread 1 \"init\" stopped.\n0xffffffff81000004 in ?? ()\n"),
            2u)
      << out;
  // break + continue: Z0 unsupported, gdb's int3 write refused, `c` never sent.
  EXPECT_NE(out.find("Breakpoint 1 at 0x10000\nWarning:\nCannot insert breakpoint 1.\n"
                     "Cannot access memory at address 0x10000\n\nCommand aborted.\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("Could not write register \"rax\"; remote failure reply 'E1e'\n"),
            std::string::npos);
  EXPECT_NE(out.find("Could not write register \"rip\"; remote failure reply 'E1e'\n"),
            std::string::npos);
  EXPECT_EQ(out.find("Remote connection closed"), std::string::npos);
  EXPECT_EQ(out.find("Protocol error"), std::string::npos);
  EXPECT_NE(out.find("[Inferior 1 (Remote target) detached]"), std::string::npos) << out;
}

TEST_F(GdbE2E, HardwareBreakpointsAndWatchpointsCannotBeInserted) {
  std::string out =
      run({"hbreak *0x10000", "continue", "delete", "watch *(int*)0x10000", "continue", "delete",
           "rwatch *(int*)0x10000", "continue", "delete", "x/4xb 0x10000"});
  EXPECT_EQ(count(out, "You may have requested too many hardware breakpoints/watchpoints.\n"), 3u)
      << out;
  EXPECT_EQ(count(out, kReadOnly), 0u);  // gdb gave up before resuming
  EXPECT_NE(out.find(kFourBytes), std::string::npos);
}

TEST_F(GdbE2E, SoftwareWatchpointStepsOnceAndStops) {
  std::string out =
      run({"set can-use-hw-watchpoints 0", "watch *(int*)0x10000", "continue", "x/4xb 0x10000"});
  EXPECT_NE(out.find("Watchpoint 1: *(int*)0x10000\n"), std::string::npos) << out;
  EXPECT_EQ(count(out, kReadOnly), 1u) << out;
  EXPECT_NE(out.find(kFourBytes), std::string::npos);
}

TEST_F(GdbE2E, RegistersAndThreads) {
  std::string out = run({"info registers", "p $fs_base", "p/x $cr3", "info threads", "thread 2",
                         "p/x $pc", "thread 3", "info registers rip"});
  EXPECT_NE(out.find("eflags         0x246               [ PF ZF IF ]\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("ds             <unavailable>\n"), std::string::npos);
  EXPECT_NE(out.find("cr3            0x1234000           19087360\n"), std::string::npos);
  EXPECT_NE(out.find("$1 = <unavailable>\n$2 = 0x1234000\n"), std::string::npos);
  EXPECT_NE(out.find("* 1    Thread 1 \"init\" (pid 1 init)"), std::string::npos);
  EXPECT_NE(out.find("  3    Thread 65536 \"swapper/0\" (pid 0 swapper/0) <unavailable> in ?? ()"),
            std::string::npos);
  EXPECT_NE(out.find("$3 = 0xffffffff81000010\n"), std::string::npos);
  EXPECT_NE(out.find("rip            <unavailable>\n"), std::string::npos);
}

TEST_F(GdbE2E, MonitorErrorsPrintTheMessageAndKeepGoing) {
  std::string out =
      run({"monitor fail", "monitor nosuch", "monitor echo still here", "monitor big 5000"});
  EXPECT_NE(out.find("partial output\nerror: fail was asked to fail\n"), std::string::npos) << out;
  EXPECT_NE(out.find("error: unknown monitor command 'nosuch'; try 'monitor help'\n"),
            std::string::npos);
  EXPECT_NE(out.find("still here \n"), std::string::npos);
  EXPECT_EQ(out.find("Protocol error"), std::string::npos);
  EXPECT_NE(out.find("xyzabc"), std::string::npos);
}

// With line information, a SIGTRAP stop would make `next` step forever (pc never leaves the
// line); our T00 stops it at once.
TEST_F(GdbE2E, SourceSteppingStopsInsteadOfLooping) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / fmt::format("tlpstub_e2e_{}", ::getpid());
  fs::create_directories(dir);
  std::ofstream(dir / "k.c") << "int counter;\nvoid start_kernel(void) {\n  int a = 1;\n"
                                "  a += 2;\n  counter = a;\n  for (;;) counter++;\n}\n";
  std::string cc = fmt::format(
      "cc -g -O0 -mcmodel=kernel -fno-pic -no-pie -nostdlib -static -ffreestanding "
      "-Wl,-Ttext={:#x} -Wl,-e,start_kernel -o {}/k.elf {}/k.c >/dev/null 2>&1",
      kKernelText, dir.string(), dir.string());
  if (std::system(cc.c_str()) != 0) {
    if (in_ci()) FAIL() << "cannot build the test ELF (CI=true): " << cc;
    GTEST_SKIP() << "cannot build the test ELF";
  }
  std::string out =
      run({"next", "step", "until", "advance 6", "x/4xb 0x10000"}, (dir / "k.elf").string());
  fs::remove_all(dir);
  EXPECT_EQ(
      count(out, std::string(kReadOnly) + "\nThread 1 \"init\" stopped.\nstart_kernel () at "), 3u)
      << out;
  EXPECT_NE(out.find("Cannot insert breakpoint 0.\n"), std::string::npos);  // advance
  EXPECT_NE(out.find(kFourBytes), std::string::npos);
}

// Long monitor commands through the real server (stub/long_request.hpp). gdb 13 gets SIGINT
// (as from Ctrl-C) 1 s into a 20 s command: it prints "Quit" on the next packet. Then the
// user pauses 2.5 s: a stub that kept streaming would leave packets in gdb's socket that the
// next commands take as their replies. They must get their own.
TEST_F(GdbE2E, CtrlCStopsALongMonitorCommandAndNothingStaleIsLeft) {
  LogCapture log;
  ServerRig rig({}, [] { return std::make_unique<SlowTarget>(); });
  SlowTarget::stopped_at = -1;
  const std::string out = run_gdb(
      rig.port(),
      {"python import threading, os, signal; threading.Timer(1.0, lambda: "
       "os.kill(os.getpid(), signal.SIGINT)).start()",
       "monitor slow 2000", "python import time; time.sleep(2.5)", "x/4xb 0x10000",
       "monitor echo after"});
  const std::size_t quit = out.find("Quit");
  ASSERT_NE(quit, std::string::npos) << out;
  EXPECT_NE(out.find("slow 0\n"), std::string::npos) << out;  // progress came before
  EXPECT_EQ(out.find("slow ", quit), std::string::npos) << out;
  EXPECT_EQ(count(out, kFourBytes), 1u) << out;
  EXPECT_NE(out.find("after \n", quit), std::string::npos) << out;
  EXPECT_EQ(out.find("Invalid hex"), std::string::npos) << out;
  EXPECT_GT(SlowTarget::stopped_at.load(), 0);
  EXPECT_LT(SlowTarget::stopped_at.load(), 2000);
  EXPECT_TRUE(log.has("monitor slow 2000 abandoned (gdb sent its next request): no reply sent"))
      << log.text();
}

// Past gdb's 2 s timeout, the whole output arrives, in order, with no complaint from gdb.
TEST_F(GdbE2E, LongMonitorCommandOutlivesTheTimeout) {
  ServerRig rig({}, [] { return std::make_unique<SlowTarget>(); });
  const std::string out = run_gdb(
      rig.port(), {"python import time; t0 = time.monotonic()", "monitor slow 350",
                   "python print('took %.1f s' % (time.monotonic() - t0))", "x/4xb 0x10000"});
  std::string want;
  for (int i = 0; i < 350; ++i) want += fmt::format("slow {}\n", i);
  EXPECT_NE(out.find(want), std::string::npos) << out;
  EXPECT_EQ(out.find("Ignoring packet error"), std::string::npos) << out;
  EXPECT_EQ(count(out, kFourBytes), 1u) << out;
  EXPECT_EQ(SlowTarget::stopped_at.load(), 350);
  EXPECT_EQ(out.find("took 0."), std::string::npos) << out;
  EXPECT_EQ(out.find("took 1."), std::string::npos) << out;
  EXPECT_EQ(out.find("took 2.0"), std::string::npos) << out;
}

}  // namespace
}  // namespace tlpstub::stub::testing
