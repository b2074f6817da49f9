#include <gtest/gtest.h>

#include "tests/app/app_fixture.hpp"
#include "tests/app/types_fixture.hpp"

namespace tlpstub::app::testing {
namespace {

TEST(InfoCommand, DiscoveredKernelText) {
  AppFixture f;
  f.discovered();
  EXPECT_EQ(f.run("info"),
            "memory: fake\n"
            "page table: 0x100000 (4-level) from discovery (scan)\n"
            "kernel: 6.1.0-test\n"
            "  banner: Linux version 6.1.0-test (dev@example) #1 SMP\n"
            "  found by: scan in 0.250 s, 12 reads, 3456 bytes\n"
            "  _text 0xffffffff9a000000, KASLR slide 0x19000000, phys_base 0x1000000\n"
            "  linux_banner 0xffffffff9b000100 (physical 0x2000100)\n"
            "  init_top_pgt 0xffffffff9c000000 (physical 0x100000), 4-level paging\n"
            "  page_offset_base 0xffff888000000000, vmalloc_base unknown, vmemmap_base unknown\n"
            "  - a note\n"
            "symbols: qOffsets relocates only .text/.data/.bss of a vmlinux loaded before "
            "connecting;\n  load it instead with (after 'symbol-file' with no argument if gdb "
            "already has one):\n  add-symbol-file vmlinux -o 0x19000000 -s .data..percpu 0\n"
            "types: not recovered\n");
}

TEST(InfoCommand, DiscoveredKernelJson) {
  AppFixture f;
  f.discovered();
  EXPECT_EQ(f.run("info --json"),
            "{\"memory\":\"fake\",\"page_table\":{\"table\":\"0x100000\",\"levels\":4,"
            "\"source\":\"discovery (scan)\",\"this_session\":false},"
            "\"discovery\":{\"state\":\"done\"},\"kernel\":{\"release\":\"6.1.0-test\","
            "\"banner\":\"Linux version 6.1.0-test (dev@example) #1 SMP\",\"build_id\":\"\","
            "\"method\":\"scan\",\"seconds\":0.25,\"reads\":12,\"bytes\":3456,"
            "\"text\":\"0xffffffff9a000000\",\"kaslr_slide\":\"0x19000000\","
            "\"phys_base\":\"0x1000000\",\"linux_banner\":\"0xffffffff9b000100\","
            "\"linux_banner_phys\":\"0x2000100\",\"init_top_pgt\":\"0xffffffff9c000000\","
            "\"init_top_pgt_phys\":\"0x100000\",\"levels\":4,\"sme_mask\":\"0x0\","
            "\"page_offset_base\":\"0xffff888000000000\",\"vmalloc_base\":null,"
            "\"vmemmap_base\":null,\"vmcoreinfo_phys\":null,\"vmcoreinfo_entries\":0,"
            "\"notes\":[\"a note\"],\"symbol_file_command\":\"add-symbol-file vmlinux -o "
            "0x19000000 -s .data..percpu 0\"},\"types\":{\"state\":\"not_run\",\"profile\":null,\"message\":\"\"},\"kallsyms\":null}\n");
}

TEST(InfoCommand, BeforeAndWithoutDiscovery) {
  AppFixture f;
  f.give_cr3();
  EXPECT_EQ(f.run("info"),
            "memory: fake\npage table: 0x100000 (4-level) from --cr3\n"
            "discovery: not run (--cr3 given)\n");
  EXPECT_EQ(f.run("info --json"),
            "{\"memory\":\"fake\",\"page_table\":{\"table\":\"0x100000\",\"levels\":4,"
            "\"source\":\"--cr3\",\"this_session\":false},\"discovery\":{\"state\":\"not_run\","
            "\"message\":\"\"},\"kernel\":null,\"types\":{\"state\":\"not_run\",\"profile\":null,\"message\":\"\"},\"kallsyms\":null}\n");
  AppFixture g;
  g.ctx.set_discovery_status({DiscoveryState::failed, "no kernel image", nullptr});
  EXPECT_EQ(g.run("info"), "memory: fake\ndiscovery: failed: no kernel image\n");
}

TEST(InfoCommand, TypesWhereFoundAndCost) {
  AppFixture f;
  f.discovered();
  publish_sample_types(f.ctx);
  const std::string size = std::to_string(tlpstub::test::sample_btf().bytes().size());
  const std::string t = f.run("info");
  EXPECT_EQ(t.substr(t.find("types:")),
            "types: BTF at 0xffffffff9b6bec58 (physical 0x26bec58), " + size +
                " bytes, 30 types\n  located by: header scan in 0.125 s, 7 reads, 4096 bytes\n");
  const std::string j = f.run("info --json");
  EXPECT_EQ(j.substr(j.find(",\"types\":")),
            ",\"types\":{\"state\":\"done\",\"profile\":null,\"source\":\"BTF\",\"btf\":\"0xffffffff9b6bec58\","
            "\"btf_phys\":\"0x26bec58\",\"size\":" + size + ",\"type_count\":30,\"how\":\"header "
            "scan\",\"seconds\":0.125,\"reads\":7,\"bytes\":4096},\"kallsyms\":null}\n");
  f.ctx.set_types_status({TypesState::failed, "no vmlinux BTF", nullptr, std::nullopt});
  const std::string t2 = f.run("info");
  EXPECT_EQ(t2.substr(t2.find("types:")), "types: failed: no vmlinux BTF\n");
}

}  // namespace
}  // namespace tlpstub::app::testing
