#include "stub/target_xml.hpp"

#include <fmt/format.h>

#include <array>
#include <string>

namespace tlpstub::stub {

namespace {

constexpr std::string_view kCore = "org.gnu.gdb.i386.core";
constexpr std::string_view kSegments = "org.gnu.gdb.i386.segments";
constexpr std::string_view kSys = "org.tlpstub.x86.sys";

constexpr WireRegister gpr(std::string_view name, Reg r, std::string_view type = "int64") {
  return {name, 64, type, kCore, {}, r};
}
constexpr WireRegister seg(std::string_view name, Reg r) {
  return {name, 32, "int32", kCore, {}, r};
}
constexpr WireRegister st(std::string_view name) {
  return {name, 80, "i387_ext", kCore, "float", {}};
}
constexpr WireRegister x87(std::string_view name) { return {name, 32, "int", kCore, "float", {}}; }

constexpr std::array<WireRegister, 46> kRegisters = {{
    gpr("rax", Reg::rax),
    gpr("rbx", Reg::rbx),
    gpr("rcx", Reg::rcx),
    gpr("rdx", Reg::rdx),
    gpr("rsi", Reg::rsi),
    gpr("rdi", Reg::rdi),
    gpr("rbp", Reg::rbp, "data_ptr"),
    gpr("rsp", Reg::rsp, "data_ptr"),
    gpr("r8", Reg::r8),
    gpr("r9", Reg::r9),
    gpr("r10", Reg::r10),
    gpr("r11", Reg::r11),
    gpr("r12", Reg::r12),
    gpr("r13", Reg::r13),
    gpr("r14", Reg::r14),
    gpr("r15", Reg::r15),
    gpr("rip", Reg::rip, "code_ptr"),
    {"eflags", 32, "i386_eflags", kCore, {}, Reg::eflags},
    seg("cs", Reg::cs),
    seg("ss", Reg::ss),
    seg("ds", Reg::ds),
    seg("es", Reg::es),
    seg("fs", Reg::fs),
    seg("gs", Reg::gs),
    {"fs_base", 64, "int", kSegments, {}, Reg::fs_base},
    {"gs_base", 64, "int", kSegments, {}, Reg::gs_base},
    {"cr0", 64, "uint64", kSys, "system", Reg::cr0},
    {"cr2", 64, "uint64", kSys, "system", Reg::cr2},
    {"cr3", 64, "uint64", kSys, "system", Reg::cr3},
    {"cr4", 64, "uint64", kSys, "system", Reg::cr4},
    st("st0"),
    st("st1"),
    st("st2"),
    st("st3"),
    st("st4"),
    st("st5"),
    st("st6"),
    st("st7"),
    x87("fctrl"),
    x87("fstat"),
    x87("ftag"),
    x87("fiseg"),
    x87("fioff"),
    x87("foseg"),
    x87("fooff"),
    x87("fop"),
}};

// EFLAGS bits (Intel SDM vol. 1, 3.4.3), as gdb displays them.
constexpr std::string_view kEflagsType = R"(  <flags id="i386_eflags" size="4">
    <field name="CF" start="0" end="0"/>
    <field name="" start="1" end="1"/>
    <field name="PF" start="2" end="2"/>
    <field name="AF" start="4" end="4"/>
    <field name="ZF" start="6" end="6"/>
    <field name="SF" start="7" end="7"/>
    <field name="TF" start="8" end="8"/>
    <field name="IF" start="9" end="9"/>
    <field name="DF" start="10" end="10"/>
    <field name="OF" start="11" end="11"/>
    <field name="NT" start="14" end="14"/>
    <field name="RF" start="16" end="16"/>
    <field name="VM" start="17" end="17"/>
    <field name="AC" start="18" end="18"/>
    <field name="VIF" start="19" end="19"/>
    <field name="VIP" start="20" end="20"/>
    <field name="ID" start="21" end="21"/>
  </flags>
)";

std::string feature_xml(std::string_view feature) {
  std::string out = fmt::format("<feature name=\"{}\">\n", feature);
  if (feature == kCore) out += kEflagsType;
  for (std::size_t i = 0; i < kRegisters.size(); ++i) {
    const WireRegister& r = kRegisters[i];
    if (r.feature != feature) continue;
    out += fmt::format("  <reg name=\"{}\" bitsize=\"{}\" type=\"{}\" regnum=\"{}\"", r.name,
                       r.bits, r.type, i);
    if (!r.group.empty()) out += fmt::format(" group=\"{}\"", r.group);
    out += "/>\n";
  }
  return out + "</feature>\n";
}

std::string build_target_xml() {
  std::string out =
      "<?xml version=\"1.0\"?>\n"
      "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
      "<target version=\"1.0\">\n"
      "<architecture>i386:x86-64</architecture>\n";
  for (std::string_view f : {kCore, kSegments, kSys}) out += feature_xml(f);
  return out + "</target>\n";
}

}  // namespace

std::span<const WireRegister> wire_registers() { return kRegisters; }

std::string_view target_xml() {
  static const std::string doc = build_target_xml();
  return doc;
}

int reg_size(Reg r) {
  int i = static_cast<int>(r);
  if (i < 0 || i >= kRegCount) return 0;
  return kRegisters[static_cast<std::size_t>(i)].bits / 8;
}

}  // namespace tlpstub::stub
