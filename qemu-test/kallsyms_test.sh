#!/usr/bin/env bash
# kallsyms_test.sh --tlpstub BIN --driver BIN --kernel K --cpu C --cache DIR --initrd FILE
#                  [--workdir DIR] [--mem SIZE]
#
# Kernel symbols from memory alone (qemu_kallsyms_*), against a live QEMU guest (KASLR on):
#  (a) symbols_driver (tests/kernel) on the RAM file, tables found through VMCOREINFO, and
#      again with discovery and kallsyms by scanning (--no-vmcoreinfo): every recovered symbol
#      against the guest's own /proc/kallsyms lines (serial) and the package's System.map
#      shifted by KERNELOFFSET (kallsyms_compare.py); figures printed (count, reads, bytes, s)
#  (b) tlpstub without --cr3: `monitor sym NAME --json`, `monitor sym ADDR`, `monitor sym
#      'PATTERN*'` and `monitor info`'s kallsyms line, against the guest's kallsyms
# Needs the real System.map (fixture qemu_map_*: fetch-kernel.sh without --no-dbg).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

tlpstub= driver= rest=()
while (($#)); do
  case "$1" in
    --tlpstub) tlpstub=$2; shift 2 ;;
    --driver) driver=$2; shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
[[ -n $tlpstub && -x $tlpstub ]] || test_skip "tlpstub binary '${tlpstub:-<none>}' does not exist"
[[ -n $driver && -x $driver ]] || test_skip "symbols_driver '${driver:-<none>}' does not exist"

guest_test_boot "${rest[@]}"
[[ -n $GUEST_SYSTEM_MAP ]] || fail "no real System.map (qemu_map_* fixture: fetch-kernel.sh without --no-dbg)"
tmp=$GUEST_DIR
maparg=()
(( GUEST_MAP_IDENTITY )) || maparg=(--map "$GUEST_MAP")

# ---- (a) every symbol -------------------------------------------------------------------
for mode in vmcoreinfo scan; do
  args=("${maparg[@]}")
  [[ $mode == scan ]] && args+=(--no-vmcoreinfo)
  if "$driver" "$GUEST_RAM" "${args[@]}" >"$tmp/syms_$mode.txt" 2>"$tmp/syms_$mode.err"; then
    method=$(awk -F= '/^summary: method=/ {print $2}' "$tmp/syms_$mode.txt")
    [[ $method == "$mode" ]] && pass "$mode: symbols_driver found the tables by $method" ||
      fail "$mode: tables found by '$method'"
    if python3 "$here/kallsyms_compare.py" "$tmp/syms_$mode.txt" "$GUEST_SERIAL" \
         ${GUEST_SYSTEM_MAP:+--system-map "$GUEST_SYSTEM_MAP"} --label "$mode" >"$tmp/cmp_$mode.txt"; then
      ok=1
    else
      ok=0
    fi
    cat "$tmp/cmp_$mode.txt"
    TEST_PASS=$((TEST_PASS + $(grep -c '^PASS:' "$tmp/cmp_$mode.txt" || true)))
    TEST_FAIL=$((TEST_FAIL + $(grep -c '^FAIL:' "$tmp/cmp_$mode.txt" || true)))
    (( ok )) || true
  else
    fail "$mode: symbols_driver failed: $(tail -n 3 "$tmp/syms_$mode.err")"
  fi
done

# ---- (b) monitor sym through tlpstub and stock gdb ---------------------------------------
port=$(free_port)
stub_start "$tlpstub" "$tmp/tlpstub.log" "$port" --memory "$GUEST_RAM" "${maparg[@]}"
banner=$(guest_sym linux_banner)
init_task=$(guest_sym init_task)
t0=$SECONDS
while :; do
  info=$(stub_gdb "$port" "monitor info" || true)
  [[ $info == *"kallsyms: "*" symbols "* || $info == *"kallsyms: failed"* ]] && break
  (( SECONDS - t0 > 90 )) && break
  sleep 0.5
done
line=$(grep -m1 '^kallsyms: ' <<<"$info" || true)
[[ $line == "kallsyms: "*" symbols ("*" per-CPU) found by vmcoreinfo in "* ]] &&
  pass "monitor info: $line" || fail "monitor info kallsyms line: '$line'"
out=$(stub_gdb "$port" "==J==" "monitor sym linux_banner --json" "==A==" \
      "monitor sym $(printf '0x%x' $((init_task + 8)))" "==P==" "monitor sym 'linux_banne*'" \
      "==M==" "monitor sym init_tas -n 1" || true)
j=$(harness seg J <<<"$out")
want_j="\"name\":\"linux_banner\",\"address\":\"$(printf '0x%x' "$banner")\""
[[ $j == *"$want_j"* ]] && pass "monitor sym linux_banner --json: $j" || fail "sym --json: '$j', want $want_j"
a=$(harness seg A <<<"$out")
[[ $a == *"= init_task+0x8 (D at $(printf '0x%x' "$init_task"))"* ]] && pass "monitor sym ADDR: $a" ||
  fail "monitor sym init_task+8: '$a'"
p=$(harness seg P <<<"$out")
[[ $p == *"linux_banner"*"1 matching symbol"* ]] && pass "monitor sym 'linux_banne*': $(tr '\n' ' ' <<<"$p")" ||
  fail "monitor sym pattern: '$p'"
m=$(harness seg M <<<"$out")
[[ $m == *"no kernel symbol named 'init_tas'"* ]] && pass "monitor sym unknown name: $m" ||
  fail "monitor sym init_tas: '$m'"
test_summary
