// The code method of offset inference (offset_inference.hpp): displacements read off small
// kernel functions, disassembled with capstone. Each pattern was checked on the Debian 6.1 and
// 6.12 kernels' own code (qemu-test/infer_test.sh compares the result with BTF):
//  - __switch_to_asm (arch/x86/entry/entry_64.S, 4.9+): `movq %rsp, TASK_threadsp(%rdi)` then
//    `movq TASK_threadsp(%rsi), %rsp`; both displacements are thread.sp.
//  - get_task_mm(task) (kernel/fork.c): `task->flags & PF_KTHREAD` is a test of bit 5 of the
//    third byte of flags (or of the whole word), and the first 8-byte load from task is
//    task->mm.
//  - kick_process(p) (kernel/sched/core.c): the first 4-byte load from p is task_cpu(p), i.e.
//    thread_info.cpu (5.16+) or task_struct.cpu.
//  - task_call_func(p, ...) (kernel/sched/core.c, 5.16+): __task_needs_rq_lock(p), inlined,
//    ends in smp_cond_load_acquire(&p->on_cpu, !VAL): a loop of `pause` then a 4-byte load
//    of p->on_cpu. The load right after the first `pause` is on_cpu.
#include <capstone/capstone.h>
#include <fmt/format.h>

#include <set>

#include "kernel/symbols/offset_inference_detail.hpp"

namespace tlpstub::kernel::infer {

namespace {

// Instructions looked at per function at most (the patterns sit in the first dozen).
constexpr std::size_t kMaxInsns = 48;
constexpr std::uint32_t kPfKthreadBit = 0x00200000;

struct CodeOperand {
  bool mem = false;
  x86_reg reg = X86_REG_INVALID;   // register operand
  x86_reg base = X86_REG_INVALID;  // memory: base register (no index)
  std::int64_t disp = 0;
  std::int64_t imm = 0;
  bool is_imm = false;
  std::uint8_t size = 0;
};

struct CodeInsn {
  unsigned id = 0;
  std::vector<CodeOperand> ops;
};

// Disassembles at most kMaxInsns instructions, stopping at the first ret/int3.
std::vector<CodeInsn> disassemble_fn(std::span<const std::uint8_t> code, std::uint64_t va) {
  std::vector<CodeInsn> out;
  csh h;
  if (code.empty() || cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK) return out;
  cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
  cs_insn* insn = cs_malloc(h);
  const std::uint8_t* p = code.data();
  std::size_t left = code.size();
  std::uint64_t addr = va;
  while (out.size() < kMaxInsns && cs_disasm_iter(h, &p, &left, &addr, insn)) {
    if (insn->id == X86_INS_RET || insn->id == X86_INS_INT3) break;
    CodeInsn in{insn->id, {}};
    const cs_x86& x = insn->detail->x86;
    for (std::uint8_t i = 0; i < x.op_count; ++i) {
      const cs_x86_op& o = x.operands[i];
      CodeOperand op;
      op.size = o.size;
      if (o.type == X86_OP_REG) {
        op.reg = o.reg;
      } else if (o.type == X86_OP_MEM && o.mem.index == X86_REG_INVALID &&
                 o.mem.segment == X86_REG_INVALID) {
        op.mem = true;
        op.base = o.mem.base;
        op.disp = o.mem.disp;
      } else if (o.type == X86_OP_IMM) {
        op.is_imm = true;
        op.imm = o.imm;
      } else {
        op.mem = true;  // indexed or segment-relative: never a field of the argument
        op.base = X86_REG_INVALID;
      }
      in.ops.push_back(op);
    }
    out.push_back(std::move(in));
  }
  cs_free(insn, 1);
  cs_close(&h);
  return out;
}

Finding infer_no_code(std::string why) { return Finding{std::nullopt, std::move(why)}; }

Finding switch_to_sp(const CodeInputs& in) {
  if (in.switch_to_asm.empty()) return infer_no_code("no __switch_to_asm symbol");
  std::optional<std::int64_t> save, load;
  for (const CodeInsn& i : disassemble_fn(in.switch_to_asm, in.switch_to_asm_va)) {
    if (i.id != X86_INS_MOV || i.ops.size() != 2) continue;
    const CodeOperand &d = i.ops[0], &s = i.ops[1];
    if (!save && d.mem && d.base == X86_REG_RDI && !s.mem && s.reg == X86_REG_RSP) save = d.disp;
    if (save && !load && !d.mem && d.reg == X86_REG_RSP && s.mem && s.base == X86_REG_RSI)
      load = s.disp;
  }
  if (!save || !load) return infer_no_code("__switch_to_asm: no rsp save/load through rdi/rsi");
  if (*save != *load || *save <= 0)
    return infer_no_code(fmt::format("__switch_to_asm: save at {} and load at {} differ", *save, *load));
  return Finding{static_cast<std::uint64_t>(*save), "__switch_to_asm saves and loads rsp there"};
}

// Registers holding the first argument (rdi), as `mov reg, rdi` copies it, until rdi is
// overwritten. Calls to the locking helpers do not change callee-saved copies.
struct CodeArgTracker {
  std::set<x86_reg> alias{X86_REG_RDI};
  void step(const CodeInsn& i) {
    if (i.ops.empty() || i.ops[0].mem || i.ops[0].is_imm) return;
    const x86_reg dst = i.ops[0].reg;
    if (i.id == X86_INS_MOV && i.ops.size() == 2 && !i.ops[1].mem && !i.ops[1].is_imm &&
        alias.contains(i.ops[1].reg) && i.ops[0].size == 8) {
      alias.insert(dst);
      return;
    }
    if (i.id == X86_INS_CMP || i.id == X86_INS_TEST) return;
    alias.erase(dst);  // any other write to a register ends its aliasing
  }
  bool is_arg(const CodeOperand& o) const { return o.mem && alias.contains(o.base); }
};

void get_task_mm_fields(const CodeInputs& in, Findings& out) {
  if (in.get_task_mm.empty()) {
    out[kMm] = out[kFlags] = infer_no_code("no get_task_mm symbol");
    return;
  }
  std::optional<std::int64_t> flags, mm;
  CodeArgTracker t;
  for (const CodeInsn& i : disassemble_fn(in.get_task_mm, in.get_task_mm_va)) {
    if (i.id == X86_INS_CALL) t.alias.erase(X86_REG_RDI);  // clobbered by the callee
    if (i.id == X86_INS_TEST && i.ops.size() == 2 && t.is_arg(i.ops[0]) && i.ops[1].is_imm &&
        !flags) {
      const CodeOperand& m = i.ops[0];
      const std::uint64_t imm = static_cast<std::uint64_t>(i.ops[1].imm);
      if (m.size == 1 && imm == (kPfKthreadBit >> 16)) flags = m.disp - 2;
      if (m.size == 4 && imm == kPfKthreadBit) flags = m.disp;
    }
    if (i.id == X86_INS_MOV && i.ops.size() == 2 && !i.ops[0].mem && i.ops[0].size == 8 &&
        t.is_arg(i.ops[1]) && !mm)
      mm = i.ops[1].disp;
    t.step(i);
  }
  out[kFlags] = flags && *flags >= 0
                    ? Finding{static_cast<std::uint64_t>(*flags),
                              "get_task_mm tests PF_KTHREAD there"}
                    : infer_no_code("get_task_mm: no PF_KTHREAD test of its argument");
  out[kMm] = mm && *mm > 0 ? Finding{static_cast<std::uint64_t>(*mm),
                                     "get_task_mm's first 8-byte load from its argument"}
                           : infer_no_code("get_task_mm: no 8-byte load from its argument");
}

Finding kick_process_cpu(const CodeInputs& in) {
  if (in.kick_process.empty()) return infer_no_code("no kick_process symbol");
  CodeArgTracker t;
  for (const CodeInsn& i : disassemble_fn(in.kick_process, in.kick_process_va)) {
    if (i.id == X86_INS_CALL) return infer_no_code("kick_process: a call before task_cpu(p)");
    if (i.id == X86_INS_MOV && i.ops.size() == 2 && !i.ops[0].mem && i.ops[0].size == 4 &&
        t.is_arg(i.ops[1]) && i.ops[1].disp >= 0)
      return Finding{static_cast<std::uint64_t>(i.ops[1].disp),
                     "kick_process's first 4-byte load from its argument (task_cpu)"};
    t.step(i);
  }
  return infer_no_code("kick_process: no 4-byte load from its argument");
}

Finding task_call_func_on_cpu(const CodeInputs& in) {
  if (in.task_call_func.empty()) return infer_no_code("no task_call_func symbol");
  CodeArgTracker t;
  bool paused = false;
  for (const CodeInsn& i : disassemble_fn(in.task_call_func, in.task_call_func_va)) {
    if (i.id == X86_INS_CALL) t.alias.erase(X86_REG_RDI);  // clobbered by the callee
    if (i.id == X86_INS_PAUSE) paused = true;
    if (paused && i.id == X86_INS_MOV && i.ops.size() == 2 && !i.ops[0].mem &&
        i.ops[0].size == 4 && t.is_arg(i.ops[1]) && i.ops[1].disp >= 0)
      return Finding{static_cast<std::uint64_t>(i.ops[1].disp),
                     "task_call_func: the 4-byte load from its argument after `pause` (the "
                     "spin on p->on_cpu)"};
    if (paused && i.id != X86_INS_PAUSE) break;
    t.step(i);
  }
  return infer_no_code("task_call_func: no 4-byte load from its argument right after `pause`");
}

}  // namespace

Findings infer_from_code(const CodeInputs& in) {
  Findings out;
  out[kThreadSp] = switch_to_sp(in);
  get_task_mm_fields(in, out);
  out[in.cpu_in_thread_info ? kCpu : kCpuOld] = kick_process_cpu(in);
  out[kOnCpu] = task_call_func_on_cpu(in);
  return out;
}

}  // namespace tlpstub::kernel::infer
