#!/usr/bin/env bash
# btf_test.sh --tlpstub BIN --kernel K --cpu C --cache DIR --initrd FILE [--workdir DIR] [--mem SIZE]
#             [--dwarf]
#
# Kernel types from memory alone: tlpstub (no --cr3, no symbols) finds vmlinux BTF in guest RAM
# by its header and serves `monitor offsets` and `monitor type`. The oracle is pahole (Debian
# package dwarves) run on the raw BTF cut out of the RAM file at the guest's own
# [__start_BTF, __stop_BTF) (its /proc/kallsyms on the serial console): an independent reader
# of the same bytes. With --dwarf, (b) and (c) are checked a second time against pahole on the
# -dbg package's vmlinux (its DWARF, what the kernel's BTF was generated from; fetch-kernel.sh
# --vmlinux downloads the 283 MB package once and keeps the 590 MB vmlinux in the cache).
#  (a) `monitor info --json`: types found at __start_BTF, size __stop_BTF - __start_BTF
#  (b) `monitor type S --json` for task_struct, mm_struct, signal_struct and the printk ring
#      buffer structs: every named member's offset and size (bitfields: bit offset and width),
#      the number of anonymous members and the struct size equal pahole's
#  (c) `monitor offsets --json`: every member found has pahole's offset and size, the
#      alternative chosen is the first pahole knows, and every member reported missing is
#      missing in pahole too
# Exit 77 when the tlpstub binary does not exist or pahole is not installed (failures under
# CI=true).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

tlpstub= rest=() dwarf=0 kernel= cache=
while (($#)); do
  case "$1" in
    --tlpstub) tlpstub=$2; shift 2 ;;
    --dwarf) dwarf=1; shift ;;
    --kernel) kernel=$2; rest+=("$1" "$2"); shift 2 ;;
    --cache) cache=$2; rest+=("$1" "$2"); shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
[[ -n $tlpstub && -x $tlpstub ]] || test_skip "tlpstub binary '${tlpstub:-<none>}' does not exist"
command -v pahole >/dev/null || test_skip "pahole not installed (Debian package dwarves)"

guest_test_boot "${rest[@]}"
tmp=$GUEST_DIR

# ---- ground truth: the guest's own symbols and the raw bytes between them ---------------
start=$(guest_sym __start_BTF) stop=$(guest_sym __stop_BTF)
[[ -n $start && -n $stop ]] || guest_die "no __start_BTF/__stop_BTF on the serial console"
pa=$(guest_kva2pa "$start")
guest_ram_dump "$pa" $((stop - start)) "$tmp/vmlinux.btf"
echo "guest: __start_BTF $start __stop_BTF $stop ($((stop - start)) bytes) at phys $pa"

# ---- tlpstub, from nothing ---------------------------------------------------------------
port=$(free_port)
targs=(--memory "$GUEST_RAM")
(( GUEST_MAP_IDENTITY )) || targs+=(--map "$GUEST_MAP")
stub_start "$tlpstub" "$tmp/tlpstub.log" "$port" "${targs[@]}"
stub_wait_recovered "$port"

structs=(task_struct mm_struct signal_struct printk_ringbuffer prb_desc_ring prb_data_ring
         prb_desc printk_info)
ex=(==I== "monitor info --json" ==O== "monitor offsets --json")
for s in "${structs[@]}"; do ex+=("==T_$s==" "monitor type $s --json"); done
ex+=(==TEXT== "monitor type task_struct" ==OT== "monitor offsets" ==END==)
out=$(stub_gdb "$port" "${ex[@]}" || true)
echo "$out" >"$tmp/gdb.log"
harness seg I <<<"$out" >"$tmp/info.json"
harness seg O <<<"$out" >"$tmp/offsets.json"
targs=()
for s in "${structs[@]}"; do
  harness seg "T_$s" <<<"$out" >"$tmp/type_$s.json"
  targs+=(--type "$s=$tmp/type_$s.json")
done
harness seg OT <<<"$out" | sed 's/^/    /'
harness seg TEXT <<<"$out" | sed -n 1,12p | sed 's/^/    /'

if python3 "$here/btf_compare.py" --btf "$tmp/vmlinux.btf" --info "$tmp/info.json" \
     --start "$start" --stop "$stop" --offsets "$tmp/offsets.json" "${targs[@]}" \
     >"$tmp/compare.log" 2>&1; then
  pass "tlpstub's types agree with pahole on the guest's BTF: $(tail -n 1 "$tmp/compare.log")"
else
  fail "tlpstub's types differ from pahole's (see $tmp/compare.log)"
fi
sed 's/^/    /' "$tmp/compare.log"

if (( dwarf )); then
  vmlinux=$(eval "$("$here/fetch-kernel.sh" --vmlinux "$kernel" "$cache")"; echo "$VMLINUX")
  if [[ -z $vmlinux || ! -f $vmlinux ]]; then
    fail "no DWARF vmlinux from the -dbg package (fetch-kernel.sh --vmlinux $kernel)"
  elif python3 "$here/btf_compare.py" --btf "$tmp/vmlinux.btf" --dwarf "$vmlinux" \
         --info "$tmp/info.json" --start "$start" --stop "$stop" --offsets "$tmp/offsets.json" \
         "${targs[@]}" >"$tmp/compare_dwarf.log" 2>&1; then
    pass "tlpstub's types agree with pahole on the -dbg vmlinux's DWARF: $(tail -n 1 "$tmp/compare_dwarf.log")"
  else
    fail "tlpstub's types differ from pahole on the DWARF vmlinux (see $tmp/compare_dwarf.log)"
  fi
  sed 's/^/    /' "$tmp/compare_dwarf.log"
fi
test_summary
