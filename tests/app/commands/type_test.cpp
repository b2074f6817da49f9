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
            "\"partial\":false,\"members\":[{\"offset\":0,\"size\":4,\"type\":\"int\",\"name\":\"es\",\"depth\":0,"
            "\"bit_offset\":0,\"bit_size\":0},{\"offset\":24,\"size\":8,\"type\":\"long unsigned "
            "int\",\"name\":\"sp\",\"depth\":0,\"bit_offset\":192,\"bit_size\":0}]}\n");
}

// Without BTF: the members inference and a profile added (values written here by hand),
// sorted by offset, each with its source, labelled partial, with the missing ones listed.
TEST(TypeCommand, PartialWithoutBtf) {
  AppFixture f;
  f.discovered();
  auto ti = std::make_shared<kernel::TypeInfo>();
  ti->add_member("task_struct", "comm", {2976, 16, 2976 * 8, 0, "char[16]", "inference (data)"});
  ti->add_member("task_struct", "pid", {2432, 4, 2432 * 8, 0, "pid_t", "profile"});
  ti->add_member("task_struct", "thread.sp", {5400, 8, 5400 * 8, 0, "long unsigned int",
                                               "inference (data+code agree)"});
  ti->add_member("mm_struct", "pgd", {120, 8, 960, 0, "pgd_t *", "inference (data)"});
  ti->add_missing("task_struct", "on_cpu", "no inference method for it");
  f.ctx.set_types_status({TypesState::done, {}, ti, std::nullopt});
  EXPECT_EQ(f.run("type struct task_struct"),
            "PARTIAL layout (no BTF): only the 3 member(s) the views use that inference (data), "
            "inference (data+code agree), profile found; the struct has others\n"
            "struct task_struct { /* size unknown */\n"
            "  /*   2432        4 */  pid_t pid;  /* profile */\n"
            "  /*   2976       16 */  char[16] comm;  /* inference (data) */\n"
            "  /*   5400        8 */  long unsigned int thread.sp;  /* inference (data+code agree) */\n"
            "};\n"
            "  missing: on_cpu: no inference method for it\n");
  ti->add_size("mm_struct", 1088, "profile");
  EXPECT_EQ(f.run("type mm_struct --json"),
            "{\"kind\":\"struct\",\"name\":\"mm_struct\",\"size\":1088,\"source\":\"inference "
            "(data), profile\",\"partial\":true,\"members\":[{\"offset\":120,\"size\":8,\"type\":"
            "\"pgd_t *\",\"name\":\"pgd\",\"depth\":0,\"bit_offset\":960,\"bit_size\":0,"
            "\"source\":\"inference (data)\"}],\"missing\":[]}\n");
  EXPECT_EQ(f.run("type rq"),
            "error: no BTF, and neither inference nor a profile knows members of 'rq'\n");
}

// A name that is no struct in BTF but a function (the sample's FUNC do_thing, proto 20).
TEST(TypeCommand, FunctionPrototype) {
  AppFixture f;
  f.discovered();
  publish_sample_types(f.ctx);
  EXPECT_EQ(f.run("type do_thing"), "function do_thing: int do_thing(int x, void *); /* from BTF */\n");
  EXPECT_EQ(f.run("type do_thing --json"),
            "{\"kind\":\"function\",\"name\":\"do_thing\",\"signature\":\"int do_thing(int x, "
            "void *)\",\"source\":\"BTF\"}\n");
}

TEST(TypeCommand, ErrorsAndNeeds) {
  AppFixture f;
  f.discovered();
  f.ctx.set_types_status({TypesState::failed, "no vmlinux BTF", nullptr, std::nullopt});
  EXPECT_EQ(f.run("type task_struct"), "error: kernel types: no vmlinux BTF\n");
  publish_sample_types(f.ctx);
  // Not in vmlinux's BTF: modules would be searched next, and the error says why they were not.
  EXPECT_EQ(f.run("type nothing"), "error: no struct, union or typedef of one named 'nothing'; "
                                   "loaded modules not searched: module list: no kernel symbols\n");
  EXPECT_EQ(f.run("type union task_struct"),
            "error: no union named 'task_struct' in BTF; loaded modules not searched: module "
            "list: no kernel symbols\n");
}

}  // namespace
}  // namespace tlpstub::app::testing
