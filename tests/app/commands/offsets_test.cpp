// monitor offsets on the hand-built BTF of tests/kernel/btf_sample.hpp: found members with
// their hand-written offsets, alternatives (__state, thread_info.cpu -> cpu), missing members
// with the view that wants them.
#include <gtest/gtest.h>

#include "tests/app/app_fixture.hpp"
#include "tests/app/types_fixture.hpp"

namespace tlpstub::app::testing {

namespace {

std::string line_of(const std::string& text, std::string_view start) {
  const auto p = text.find(std::string("\n") + std::string(start));
  if (p == std::string::npos) return "";
  return text.substr(p + 1, text.find('\n', p + 1) - p - 1);
}

TEST(OffsetsCommand, Text) {
  AppFixture f;
  f.discovered();
  publish_sample_types(f.ctx);
  const std::string t = "\n" + f.run("offsets");
  EXPECT_EQ(line_of(t, "sizeof(task_struct)"), "sizeof(task_struct) = 128 (BTF)");
  EXPECT_EQ(line_of(t, "sizeof(mm_struct)"), "sizeof(mm_struct) = 256 (BTF)");
  EXPECT_EQ(line_of(t, "sizeof(prb_desc)"), "sizeof(prb_desc) missing");
  EXPECT_EQ(line_of(t, "task_struct.tasks "),
            "task_struct.tasks                         8 size 16   struct list_head (BTF)");
  EXPECT_EQ(line_of(t, "task_struct.__state"),
            "task_struct.__state                       0 size 4    const volatile int (BTF)");
  EXPECT_EQ(line_of(t, "task_struct.thread.sp"),
            "task_struct.thread.sp                    88 size 8    long unsigned int (BTF)");
  EXPECT_EQ(line_of(t, "task_struct.cpu"),
            "task_struct.cpu                          36 size 4    int (BTF)");
  EXPECT_EQ(line_of(t, "task_struct.comm"),
            "task_struct.comm                         48 size 16   char[16] (BTF)");
  EXPECT_EQ(line_of(t, "mm_struct.pgd"),
            "mm_struct.pgd                           120 size 8    void * (BTF)");
  EXPECT_EQ(line_of(t, "task_struct.pid"),
            "task_struct.pid                      missing (tasks): struct task_struct has no member 'pid'");
  EXPECT_EQ(line_of(t, "task_struct.thread_node"),
            "task_struct.thread_node|thread_group missing (tasks): struct task_struct has no member "
            "'thread_node'");
  EXPECT_EQ(line_of(t, "12 of 98"), "12 of 98 members found, 86 missing");  // + list_head
}

TEST(OffsetsCommand, JsonRows) {
  AppFixture f;
  f.discovered();
  publish_sample_types(f.ctx);
  const std::string j = f.run("offsets --json");
  EXPECT_EQ(j.substr(0, 60), "{\"sizes\":[{\"struct\":\"task_struct\",\"size\":128,\"source\":\"BTF\"}");
  EXPECT_NE(j.find("{\"struct\":\"task_struct\",\"wanted\":\"__state|state\",\"user\":\"tasks\",\"when\":\"\",\"member\":\"__state\","
                   "\"offset\":0,\"size\":4,\"bit_offset\":0,\"bit_size\":0,\"type\":\"const "
                   "volatile int\",\"source\":\"BTF\"}"),
            std::string::npos);
  EXPECT_NE(j.find("{\"struct\":\"task_struct\",\"wanted\":\"thread_info.cpu|cpu\",\"user\":\"tasks\",\"when\":\"\",\"member\":"
                   "\"cpu\",\"offset\":36,"),
            std::string::npos);
  EXPECT_NE(j.find("{\"struct\":\"task_struct\",\"wanted\":\"pid\",\"user\":\"tasks\",\"when\":\"\",\"member\":null,\"offset\":null,"
                   "\"size\":null,\"bit_offset\":null,\"bit_size\":null,\"type\":null,\"source\":"
                   "null,\"missing\":\"struct task_struct has no member 'pid'\"}"),
            std::string::npos);
}

TEST(OffsetsCommand, NeedsTypes) {
  AppFixture f;
  f.discovered();
  f.ctx.set_types_status({TypesState::running, "recovering BTF", nullptr, std::nullopt});
  // Still running after the request's budget: a clear "try again", not a hang.
  f.begin(std::chrono::milliseconds(20));
  EXPECT_EQ(f.run_in_request("offsets"),
            "error: kernel types: BTF recovery still running; try again\n");
}

}  // namespace
}  // namespace tlpstub::app::testing
