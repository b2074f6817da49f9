// monitor type on the hand-built BTF of tests/kernel/btf_sample.hpp: offsets expected here are
// the ones written into that blob by hand, not computed by the code under test.
#include <gtest/gtest.h>

#include "tests/app/app_fixture.hpp"
#include "tests/app/types_fixture.hpp"

namespace tlpstub::app::testing {

namespace {

TEST(TypeCommand, TaskStructText) {
  AppFixture f;
  f.discovered();
  publish_sample_types(f.ctx);
  EXPECT_EQ(f.run("type task_struct"),
            "struct task_struct { /* size 128, from BTF */\n"
            "  /*      0        4 */  const volatile int __state;\n"
            "  /*      4        4 */  int flags;\n"
            "  /*      8       16 */  struct list_head tasks;\n"
            "  /*     24        8 */  union {...};\n"
            "  /*     24        8 */      long unsigned int a;\n"
            "  /*     24        4 */      int b;\n"
            "  /*     32        8 */  struct {...};\n"
            "  /*     32        4 */      int on_cpu;\n"
            "  /*     36        4 */      int cpu;\n"
            "  /*     40:0      1 */  u8 bit_a:1;\n"
            "  /*     40:1      1 */  u8 bit_b:3;\n"
            "  /*     48       16 */  char[16] comm;\n"
            "  /*     64       32 */  struct thread_struct thread;\n"
            "  /*     96        8 */  struct list_head * mm;\n"
            "  /*    104        8 */  void * restrict stack;\n"
            "  /*    112        8 */  int (*)(int, void *) fn;\n"
            "};\n");
  // "struct NAME" and a typedef name give the same layout.
  EXPECT_EQ(f.run("type struct task_struct"), f.run("type task_t"));
}

TEST(TypeCommand, Json) {
  AppFixture f;
  f.discovered();
  publish_sample_types(f.ctx);
  EXPECT_EQ(f.run("type thread_struct --json"),
            "{\"kind\":\"struct\",\"name\":\"thread_struct\",\"size\":32,\"source\":\"BTF\","
            "\"members\":[{\"offset\":0,\"size\":4,\"type\":\"int\",\"name\":\"es\",\"depth\":0,"
            "\"bit_offset\":0,\"bit_size\":0},{\"offset\":24,\"size\":8,\"type\":\"long unsigned "
            "int\",\"name\":\"sp\",\"depth\":0,\"bit_offset\":192,\"bit_size\":0}]}\n");
}

TEST(TypeCommand, ErrorsAndNeeds) {
  AppFixture f;
  f.discovered();
  f.ctx.set_types_status({TypesState::failed, "no vmlinux BTF", nullptr, std::nullopt});
  EXPECT_EQ(f.run("type task_struct"), "error: kernel types: no vmlinux BTF\n");
  publish_sample_types(f.ctx);
  EXPECT_EQ(f.run("type nothing"), "error: no struct, union or typedef of one named 'nothing'\n");
  EXPECT_EQ(f.run("type union task_struct"), "error: no union named 'task_struct' in BTF\n");
}

}  // namespace
}  // namespace tlpstub::app::testing
