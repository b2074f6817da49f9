#include <gtest/gtest.h>

#include "tests/app/app_fixture.hpp"

namespace tlpstub::app::testing {
namespace {

// A small made-up symbol table, as recovery would publish it.
void give_symbols(AppFixture& f) {
  kernel::RecoveredSymbols r;
  r.table = kernel::SymbolTable({{"_text", 0xffffffff9a000000, 'T'},
                                 {"startup_64", 0xffffffff9a000000, 'T'},
                                 {"do_one", 0xffffffff9a000100, 't'},
                                 {"do_two", 0xffffffff9a000200, 'T'},
                                 {"do_one", 0xffffffff9a000300, 't'},
                                 {"runqueues", 0x1a000, 'd', true}});
  r.report.method = "vmcoreinfo";
  r.report.layout = "relative, absolute per-CPU (<= 6.14), ULEB128 name lengths";
  r.report.count = 6;
  r.report.percpu = 1;
  r.report.names_va = 0xffffffff9b100000;
  r.report.token_table_va = 0xffffffff9b200000;
  r.report.addresses_va = 0xffffffff9b300000;
  r.report.reads = 7;
  r.report.bytes = 123456;
  r.report.seconds = 0.125;
  r.report.notes = {"a kallsyms note"};
  f.ctx.set_symbols_status(
      {DiscoveryState::done, {}, std::make_shared<const kernel::RecoveredSymbols>(std::move(r))});
}

TEST(SymCommand, ExactName) {
  AppFixture f;
  f.discovered();
  give_symbols(f);
  EXPECT_EQ(f.run("sym do_two"), "0xffffffff9a000200 T do_two\n"
            "(module symbols not searched: module list: no kernel types (not recovered))\n");
  EXPECT_EQ(f.run("sym do_one"),
            "0xffffffff9a000100 t do_one\n0xffffffff9a000300 t do_one\n"
            "(module symbols not searched: module list: no kernel types (not recovered))\n");
  EXPECT_EQ(f.run("sym runqueues"), "0x000000000001a000 d runqueues  (per-CPU offset)\n"
            "(module symbols not searched: module list: no kernel types (not recovered))\n");
  EXPECT_EQ(f.run("sym do_two --json"),
            "{\"query\":\"do_two\",\"kind\":\"name\","
            "\"modules_note\":\"module symbols not searched: module list: no kernel types "
            "(not recovered)\","
            "\"total\":1,\"symbols\":[{\"name\":"
            "\"do_two\",\"address\":\"0xffffffff9a000200\",\"type\":\"T\",\"percpu\":false}]}\n");
  EXPECT_EQ(f.run("sym nope"),
            "error: no kernel symbol named 'nope' (a pattern: 'monitor sym nope*')\n");
}

TEST(SymCommand, PatternCappedWithCount) {
  AppFixture f;
  f.discovered();
  give_symbols(f);
  EXPECT_EQ(f.run("sym 'do_*'"),
            "0xffffffff9a000100 t do_one\n0xffffffff9a000200 T do_two\n"
            "0xffffffff9a000300 t do_one\n3 matching symbols\n"
            "(module symbols not searched: module list: no kernel types (not recovered))\n");
  EXPECT_EQ(f.run("sym *e* -n 2"),
            "0x000000000001a000 d runqueues  (per-CPU offset)\n"
            "0xffffffff9a000000 T _text\n2 of 4 matching symbols shown (-n N shows more)\n"
            "(module symbols not searched: module list: no kernel types (not recovered))\n");
  EXPECT_EQ(f.run("sym 'zz*'"), "0 matching symbols\n"
            "(module symbols not searched: module list: no kernel types (not recovered))\n");
  EXPECT_EQ(f.run("sym do_t?o --json"),
            "{\"query\":\"do_t?o\",\"kind\":\"pattern\","
            "\"modules_note\":\"module symbols not searched: module list: no kernel types "
            "(not recovered)\","
            "\"total\":1,\"symbols\":[{\"name\":"
            "\"do_two\",\"address\":\"0xffffffff9a000200\",\"type\":\"T\",\"percpu\":false}]}\n");
}

TEST(SymCommand, AddressToSymbolPlusOffset) {
  AppFixture f;
  f.discovered();
  give_symbols(f);
  EXPECT_EQ(f.run("sym 0xffffffff9a000234"),
            "0xffffffff9a000234 = do_two+0x34 (T at 0xffffffff9a000200)\n"
            "(module symbols not searched: module list: no kernel types (not recovered))\n");
  EXPECT_EQ(f.run("sym ffffffff9a000000"),
            "0xffffffff9a000000 = _text+0x0 (T at 0xffffffff9a000000)\n"
            "(module symbols not searched: module list: no kernel types (not recovered))\n");
  EXPECT_EQ(f.run("sym 0xffffffff9a000304 --json"),
            "{\"query\":\"0xffffffff9a000304\",\"kind\":\"address\","
            "\"modules_note\":\"module symbols not searched: module list: no kernel types "
            "(not recovered)\","
            "\"address\":"
            "\"0xffffffff9a000304\",\"symbol\":{\"name\":\"do_one\",\"address\":"
            "\"0xffffffff9a000300\",\"type\":\"t\",\"percpu\":false},\"offset\":\"0x4\"}\n");
  EXPECT_EQ(f.run("sym 0x1000"), "error: no kernel symbol at or below 0x1000\n");
}

TEST(SymCommand, SharedMessagesWhenSymbolsAreMissing) {
  AppFixture f;
  f.give_cr3();
  EXPECT_EQ(f.run("sym _text"),
            "error: no kernel page table known: 'monitor cr3 discover', 'monitor cr3 VALUE', or "
            "'monitor phys on' for physical reads\n");
  f.discovered();
  f.ctx.set_symbols_status({DiscoveryState::failed, "kallsyms tables not found: x", nullptr});
  EXPECT_EQ(f.run("sym _text"),
            "error: kernel symbols could not be recovered: kallsyms tables not found: x\n");
  f.ctx.set_symbols_status({DiscoveryState::running, {}, nullptr});
  // Waits until the request's deadline, then says so.
  f.begin(std::chrono::milliseconds(50));
  EXPECT_EQ(f.run_in_request("sym _text"),
            "error: kernel symbols are still being recovered; try again shortly\n");
  EXPECT_EQ(f.run("sym"), "error: usage: monitor sym NAME|'PATTERN*'|ADDR [-n N]\n");
}

TEST(InfoCommand, ReportsKallsyms) {
  AppFixture f;
  f.discovered();
  give_symbols(f);
  const std::string text = f.run("info");
  EXPECT_NE(text.find("kallsyms: 6 symbols (1 per-CPU) found by vmcoreinfo in 0.125 s, 7 reads, "
                      "123456 bytes\n  layout: relative, absolute per-CPU (<= 6.14), ULEB128 name "
                      "lengths\n  - a kallsyms note\n"),
            std::string::npos)
      << text;
  const std::string json = f.run("info --json");
  EXPECT_NE(json.find(",\"kallsyms\":{\"state\":\"done\",\"count\":6,\"percpu\":1,\"method\":"
                      "\"vmcoreinfo\",\"layout\":\"relative, absolute per-CPU (<= 6.14), ULEB128 "
                      "name lengths\",\"names\":\"0xffffffff9b100000\",\"token_table\":"
                      "\"0xffffffff9b200000\",\"addresses\":\"0xffffffff9b300000\",\"seconds\":"
                      "0.125,\"reads\":7,\"bytes\":123456,\"notes\":[\"a kallsyms note\"]}}\n"),
            std::string::npos)
      << json;
  f.ctx.set_symbols_status({DiscoveryState::failed, "no tables", nullptr});
  EXPECT_NE(f.run("info").find("\nkallsyms: failed: no tables\n"), std::string::npos);
  EXPECT_NE(f.run("info --json").find(",\"kallsyms\":{\"state\":\"failed\",\"message\":\"no "
                                      "tables\"}}\n"),
            std::string::npos);
}

}  // namespace
}  // namespace tlpstub::app::testing
