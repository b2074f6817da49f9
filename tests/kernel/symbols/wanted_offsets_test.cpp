// The wanted list (kernel/symbols/wanted_offsets.hpp) is the one source of the members the
// views read: a TypeInfo holding only the list's members (as a profile or inference leaves it,
// with no BTF behind) must satisfy every view's layout. A view that starts reading a member the
// list lacks makes this fail, so `monitor offsets`, profiles and the views cannot drift apart.
#include <gtest/gtest.h>

#include <map>

#include "kernel/linux/orc.hpp"
#include "kernel/linux/page_classes.hpp"
#include "kernel/linux/printk.hpp"
#include "kernel/linux/task_layout.hpp"
#include "kernel/symbols/module_btf.hpp"
#include "kernel/symbols/modules.hpp"
#include "kernel/symbols/wanted_offsets.hpp"

namespace tlpstub::kernel {
namespace {

// Every wanted member (first alternative) at distinct 8-byte slots of its struct, 8 bytes
// wide, but where a view checks shapes: xa_node.slots is an array of 64 pointers, list_heads
// are 16 bytes, orc_entry's members are bitfields of its flags u16 (bits 32-47).
TypeInfo types_from_wanted_list_only() {
  TypeInfo ti;
  std::map<std::string, std::uint64_t> next;
  for (const WantedMember& w : wanted_members()) {
    const std::string s(w.struct_name), p(w.paths.front());
    std::uint64_t size = 8;
    if (s == "xa_node" && p == "slots") size = 512;
    if (p == "list" || p == "tasks" || p == "thread_node" || p == "thread_head") size = 16;
    const std::uint64_t off = next[s];
    next[s] += size;
    FieldInfo f{off, size, off * 8, 0, "test", "test"};
    ti.add_member(s, p, f);
  }
  const std::pair<const char*, std::pair<unsigned, unsigned>> orc_bits[] = {
      {"sp_reg", {32, 4}}, {"type", {40, 3}}, {"signal", {43, 1}}, {"end", {44, 1}}};
  for (auto [name, bits] : orc_bits)
    ti.add_member("orc_entry", name, FieldInfo{4, 2, bits.first, bits.second, "test", "test"});
  for (std::string_view s : wanted_sizes()) ti.add_size(std::string(s), 4096, "test");
  return ti;
}

TEST(WantedOffsets, TheListAloneSatisfiesTheTaskWalk) {
  auto l = task_layout(types_from_wanted_list_only());
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(l->what_is_missing, "");
  EXPECT_TRUE(l->has_idr());
  EXPECT_TRUE(l->has_runqueues());
  EXPECT_TRUE(l->has_frame());
}

TEST(WantedOffsets, TheListAloneSatisfiesThePrintkRing) {
  auto l = prb_layout(types_from_wanted_list_only());
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_TRUE(l->has_caller_id);
}

TEST(WantedOffsets, TheListAloneSatisfiesTheModuleWalk) {
  auto r = check_module_types(types_from_wanted_list_only());
  EXPECT_TRUE(r) << r.error().message;
}

TEST(WantedOffsets, TheListAloneSatisfiesTheModuleBtfWalk) {
  auto r = check_module_btf_types(types_from_wanted_list_only());
  EXPECT_TRUE(r) << r.error().message;
}

TEST(WantedOffsets, TheListAloneGivesTheOrcFormat) {
  const TypeInfo ti = types_from_wanted_list_only();
  auto f = orc_format(&ti, "6.1.0");
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->source, "test");  // from the types, not from the release
  EXPECT_EQ(f->type_shift, 8u);
}

TEST(WantedOffsets, TheListAloneGivesThePageLayout) {
  // VMCOREINFO without OFFSET(page.*): the offsets come from the types.
  Vmcoreinfo vi;
  vi.entries = {{"SIZE(page)", "64"}, {"NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", "-129"}};
  const TypeInfo ti = types_from_wanted_list_only();
  auto l = page_layout(vi, &ti, 16);
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(l->source, "types (test)");
}

TEST(WantedOffsets, EveryEntryIsResolvedAndNamed) {
  const TypeInfo ti = types_from_wanted_list_only();
  for (const WantedResult& r : resolve_wanted(ti)) {
    EXPECT_TRUE(r.field) << r.struct_name << "." << r.wanted;
    EXPECT_FALSE(r.user.empty()) << r.struct_name << "." << r.wanted;
  }
  for (const WantedSize& z : resolve_sizes(ti)) EXPECT_EQ(z.size, 4096u) << z.struct_name;
}

}  // namespace
}  // namespace tlpstub::kernel
