// A hand-built BTF blob holding every kind (1-19), shaped like a tiny kernel: a task_struct
// with kind_flag bitfields, an anonymous union and struct, a nested thread.sp, a type-tagged
// pointer, a per-CPU DATASEC. Each record is written word by word from the format
// (facts/linux.md section 5); the comments give the offsets the tests expect.
#pragma once

#include "tests/kernel/btf_blob.hpp"

namespace tlpstub::test {

// BTF_KIND_* numbers (include/uapi/linux/btf.h).
enum : std::uint32_t {
  kInt = 1, kPtr, kArray, kStruct, kUnion, kEnum, kFwd, kTypedef, kVolatile, kConst, kRestrict,
  kFunc, kFuncProto, kVar, kDatasec, kFloat, kDeclTag, kTypeTag, kEnum64
};

inline BtfBlob sample_btf() {
  BtfBlob b;
  using B = BtfBlob;
  // 1 INT "int": 4 bytes, encoding word: SIGNED (1 << 24) | 32 bits
  b.w({b.str("int"), B::info(kInt, 0), 4, (1u << 24) | 32});
  // 2 INT "char": 1 byte, SIGNED | 8 bits
  b.w({b.str("char"), B::info(kInt, 0), 1, (1u << 24) | 8});
  // 3 PTR -> void
  b.w({0, B::info(kPtr, 0), 0});
  // 4 ARRAY char[16]: elem 2, index 1, nelems 16
  b.w({0, B::info(kArray, 0), 0, 2, 1, 16});
  // 5 STRUCT list_head, 16 bytes: next (6) @0, prev (6) @64 bits
  const auto next = b.str("next"), prev = b.str("prev");
  b.w({b.str("list_head"), B::info(kStruct, 2), 16, next, 6, 0, prev, 6, 64});
  // 6 PTR -> 5
  b.w({0, B::info(kPtr, 0), 5});
  // 7 TYPEDEF u8 -> 8
  b.w({b.str("u8"), B::info(kTypedef, 0), 8});
  // 8 INT "unsigned char": 1 byte, 8 bits, no encoding
  b.w({b.str("unsigned char"), B::info(kInt, 0), 1, 8});
  // 9 VOLATILE -> 1
  b.w({0, B::info(kVolatile, 0), 1});
  // 10 CONST -> 9
  b.w({0, B::info(kConst, 0), 9});
  // 11 RESTRICT -> 3
  b.w({0, B::info(kRestrict, 0), 3});
  // 12 TYPE_TAG "user" -> 6
  b.w({b.str("user"), B::info(kTypeTag, 0), 6});
  // 13 STRUCT thread_struct, 32 bytes: es (1) @0, sp (14) @192 bits (24 bytes)
  const auto es = b.str("es"), sp = b.str("sp");
  b.w({b.str("thread_struct"), B::info(kStruct, 2), 32, es, 1, 0, sp, 14, 192});
  // 14 INT "long unsigned int": 8 bytes, 64 bits
  b.w({b.str("long unsigned int"), B::info(kInt, 0), 8, 64});
  // 15 UNION (anonymous), 8 bytes: a (14) @0, b (1) @0
  const auto ua = b.str("a"), ub = b.str("b");
  b.w({0, B::info(kUnion, 2), 8, ua, 14, 0, ub, 1, 0});
  // 16 STRUCT (anonymous), 8 bytes: on_cpu (1) @0, cpu (1) @32
  const auto on_cpu = b.str("on_cpu"), cpu = b.str("cpu");
  b.w({0, B::info(kStruct, 2), 8, on_cpu, 1, 0, cpu, 1, 32});
  // 17 STRUCT task_struct, 128 bytes, kind_flag: offset words are (bitfield size << 24 | bit).
  {
    const std::uint32_t names[] = {b.str("__state"), b.str("flags"), b.str("tasks"),
                                   b.str("bit_a"), b.str("bit_b"), b.str("comm"),
                                   b.str("thread"), b.str("mm"), b.str("stack"), b.str("fn")};
    b.w({b.str("task_struct"), B::info(kStruct, 12, true), 128});
    b.w({names[0], 10, 0});                 // const volatile int __state      @0
    b.w({names[1], 1, 32});                 // int flags                       @4
    b.w({names[2], 5, 64});                 // struct list_head tasks          @8
    b.w({0, 15, 192});                      // union { a; b; }                 @24
    b.w({0, 16, 256});                      // struct { on_cpu; cpu; }         @32 (cpu @36)
    b.w({names[3], 7, (1u << 24) | 320});   // u8 bit_a:1                      bit 320 (@40)
    b.w({names[4], 7, (3u << 24) | 321});   // u8 bit_b:3                      bit 321 (@40)
    b.w({names[5], 4, 384});                // char comm[16]                   @48
    b.w({names[6], 13, 512});               // struct thread_struct thread     @64 (sp @88)
    b.w({names[7], 12, 768});               // struct list_head __user *mm     @96
    b.w({names[8], 11, 832});               // void * restrict stack           @104
    b.w({names[9], 21, 896});               // int (*fn)(int, void *)          @112
  }
  // 18 ENUM pid_type, 4 bytes, kind_flag = signed: PIDTYPE_PID 0, PIDTYPE_BAD -1
  const auto e0 = b.str("PIDTYPE_PID"), e1 = b.str("PIDTYPE_BAD");
  b.w({b.str("pid_type"), B::info(kEnum, 2, true), 4, e0, 0, e1, 0xffffffffu});
  // 19 FWD struct mm_struct (kind_flag 0: struct)
  b.w({b.str("mm_struct"), B::info(kFwd, 0), 0});
  // 20 FUNC_PROTO int (int x, void *): params (name, type)
  b.w({0, B::info(kFuncProto, 2), 1, b.str("x"), 1, 0, 3});
  // 21 PTR -> 20
  b.w({0, B::info(kPtr, 0), 20});
  // 22 FUNC do_thing -> 20, vlen = linkage (1 = global)
  b.w({b.str("do_thing"), B::info(kFunc, 1), 20});
  // 23 VAR runqueues: type 17, linkage 1
  b.w({b.str("runqueues"), B::info(kVar, 0), 17, 1});
  // 24 DATASEC .data..percpu, 256 bytes: (var 23, offset 64, size 128)
  b.w({b.str(".data..percpu"), B::info(kDatasec, 1), 256, 23, 64, 128});
  // 25 FLOAT double, 8 bytes
  b.w({b.str("double"), B::info(kFloat, 0), 8});
  // 26 DECL_TAG "hot" on task_struct member 2: component_idx 2
  b.w({b.str("hot"), B::info(kDeclTag, 0), 17, 2});
  // 27 ENUM64 big, 8 bytes, unsigned: HUGE = 0x80000000_00000001 (lo, hi)
  b.w({b.str("big"), B::info(kEnum64, 1), 8, b.str("HUGE"), 1, 0x80000000u});
  // 28 TYPEDEF task_t -> 17
  b.w({b.str("task_t"), B::info(kTypedef, 0), 17});
  // 29 STRUCT mm_struct, 256 bytes: pgd (3) @960 bits (120)
  b.w({b.str("mm_struct"), B::info(kStruct, 1), 256, b.str("pgd"), 3, 960});
  // 30 ARRAY char[2][16]: elem 4 (char[16]), index 1, nelems 2
  b.w({0, B::info(kArray, 0), 0, 4, 1, 2});
  return b;
}

}  // namespace tlpstub::test
