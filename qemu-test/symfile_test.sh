#!/usr/bin/env bash
# symfile_test.sh --tlpstub BIN --kernel K --cpu C --cache DIR --initrd FILE [--workdir DIR]
#
# Symbols and types for stock gdb with no vmlinux anywhere: tlpstub writes an ELF from kallsyms
# and BTF and serves it through qXfer:exec-file + vFile:, and a bare `target remote` loads it.
# Ground truth is the guest (serial console: uname -r, /proc/kallsyms subset), the Debian
# package (System.map shifted by the guest's KASLR slide), and pahole: on the -dbg vmlinux
# when the cache has it (6.1-cloud), else on the raw BTF cut out of guest RAM.
#  (a) gdb loads /tlpstub/vmlinux-... by itself; `p init_task.comm` prints "swapper/0"
#  (b) `p init_uts_ns.name.release` equals the guest's `uname -r`
#  (c) `ptype /o struct task_struct`: pid, tgid, comm, tasks at pahole's offsets
#  (d) `info symbol` of 100 random System.map text/data addresses names a symbol at that address
#  (e) `x/5i schedule` disassembles 5 instructions of schedule
#  (f) `monitor symbol-file F` writes the same bytes gdb read; readelf lists its symbols
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
test_take_tlpstub "$@"
command -v pahole >/dev/null || test_skip "pahole not installed (Debian package dwarves)"
guest_test_boot "${TEST_ARGS[@]}"
tmp=$GUEST_DIR

port=$(free_port)
targs=(--memory "$GUEST_RAM")
(( GUEST_MAP_IDENTITY )) || targs+=(--map "$GUEST_MAP")
stub_start "$TLPSTUB" "$tmp/tlpstub.log" "$port" "${targs[@]}"
stub_wait_recovered "$port"

slide=$(guest_kaslr_slide)
[[ -n $GUEST_SYSTEM_MAP && -f $GUEST_SYSTEM_MAP ]] || guest_die "no System.map for this kernel"
# 100 random image symbols of System.map (text, data, rodata, bss), at run-time addresses.
python3 - "$GUEST_SYSTEM_MAP" "$slide" >"$tmp/picks.txt" <<'PY'
import random, sys
slide = int(sys.argv[2], 0)
syms, by_addr = [], {}
for line in open(sys.argv[1]):
    a, t, n = line.split()[:3]
    a = int(a, 16)
    if a < 0xffffffff80000000:
        continue
    by_addr.setdefault(a, set()).add(n)
    if t in "TtDdBbRr" and not n.startswith(("__pfx_", "__key", "__func__", "__UNIQUE_ID")):
        syms.append(a)
random.seed(12)
for a in random.sample(sorted(set(syms)), 100):
    print(hex(a + slide), " ".join(sorted(by_addr[a])))
PY
ex=(==C== "p init_task.comm" ==R== "p init_uts_ns.name.release" ==P== "ptype /o struct task_struct"
    ==X== "x/5i schedule" ==F== "monitor symbol-file $tmp/served.elf" ==S==)
while read -r addr _; do ex+=("info symbol $addr"); done <"$tmp/picks.txt"
ex+=(==END==)
out=$(stub_gdb "$port" "${ex[@]}" || true)
echo "$out" >"$tmp/gdb.log"

# (a)
if grep -q "Reading /tlpstub/vmlinux-.* from remote target" <<<"$out" &&
   [[ $(harness seg C <<<"$out") == *'"swapper/0'* ]]; then
  pass "bare target remote loaded the served file; init_task.comm: $(harness seg C <<<"$out")"
else
  fail "init_task.comm through the served symbol file (see $tmp/gdb.log)"
  sed -n 1,15p "$tmp/gdb.log" | sed 's/^/    /'
fi
# (b)
release=$(guest_truth sysinfo uname_r)
got=$(harness seg R <<<"$out")
if [[ -n $release && $got == *"\"$release\""* ]]; then
  pass "init_uts_ns.name.release is the guest's uname -r ($release)"
else
  fail "init_uts_ns.name.release: '$got', guest uname -r: '$release'"
fi
# (c) pahole: DWARF vmlinux if cached, else the BTF the guest has in RAM
ver=$(harness seg P <<<"$out")
cache= kernel=
set -- "${TEST_ARGS[@]}"
while (($#)); do case "$1" in --cache) cache=$2; shift 2 ;; --kernel) kernel=$2; shift 2 ;; *) shift ;; esac; done
vmlinux=$(eval "$("$here/fetch-kernel.sh" --offline --vmlinux "$kernel" "$cache" 2>/dev/null)"; echo "${VMLINUX:-}") || true
if [[ -n $vmlinux && -f $vmlinux ]]; then
  pahole -C task_struct "$vmlinux" >"$tmp/pahole.txt" 2>&1 || true
  source_desc="pahole on the -dbg vmlinux (DWARF)"
else
  start=$(guest_sym __start_BTF) stop=$(guest_sym __stop_BTF)
  guest_ram_dump "$(guest_kva2pa "$start")" $((stop - start)) "$tmp/vmlinux.btf"
  pahole -F btf -C task_struct "$tmp/vmlinux.btf" >"$tmp/pahole.txt" 2>&1 || true
  source_desc="pahole on the guest's BTF"
fi
bad=0
for m in pid tgid comm tasks; do
  want=$(awk -v m="$m" '$0 ~ "[ *]" m "(\\[[0-9]+\\])?;" && /\/\*/ {
           sub(/.*\/\* */, ""); print $1; exit }' "$tmp/pahole.txt")
  have=$(python3 -c '
import re, sys
stack, m = [], sys.argv[1]
for line in sys.stdin:
    h = re.match(r"/\*\s+(\d+)(:\s*\d+)?\s+\|\s+\d+ \*/( +)(.*)$", line.rstrip())
    if h:
        off, depth, text = h.group(1), len(h.group(3)), h.group(4)
        if text.endswith("{"):
            stack.append((off, depth)); continue
        n = re.search(r"(\w+)(\[\d+\])*;$", text)
        if depth == 4 and n and n.group(1) == m:
            print(off); break
        continue
    c = re.match(r"( +)\} (\w+)(\[\d+\])*;$", line.rstrip())
    if c and stack:
        off, depth = stack.pop()
        if depth == 4 and c.group(2) == m:
            print(off); break
    elif re.match(r" +\};?$", line.rstrip()) and stack:
        stack.pop()
' "$m" <<<"$ver")
  echo "    task_struct.$m: gdb $have, pahole $want"
  [[ -n $want && $want == "$have" ]] || bad=1
done
if (( bad == 0 )); then pass "ptype /o struct task_struct agrees with $source_desc (pid tgid comm tasks)"
else fail "ptype /o struct task_struct differs from $source_desc"; fi
# (d)
named=0 wrong=() i=0
mapfile -t answers < <(harness seg S <<<"$out" | grep -v '^$')
while read -r addr names; do
  line=${answers[i]:-} i=$((i + 1))
  got=${line%% *}
  # gdb decodes some minimal symbol names as if they were Ada, with a real vmlinux too:
  # event_exit__getxattr prints as event_exit.getxattr, jcc_mask.0 as jcc_mask.
  decoded=" "
  for n in $names; do d=${n//__/.}; decoded+="$n $d ${n%.[0-9]*} ${d%.[0-9]*} "; done
  if [[ $line == *" in section "* && $line != *" + "* && $decoded == *" $got "* ]]; then
    named=$((named + 1))
  else
    wrong+=("$addr ($names): $line")
  fi
done <"$tmp/picks.txt"
if (( named == 100 )); then pass "info symbol names the System.map symbol for 100/100 random addresses"
else
  fail "info symbol: $named/100 right"
  printf '    %s\n' "${wrong[@]:0:10}"
fi
# (e)
dis=$(harness seg X <<<"$out")
if (( $(grep -cE '<schedule(\+[0-9]+)?>:' <<<"$dis") == 5 )); then
  pass "x/5i schedule disassembles: $(head -n 1 <<<"$dis" | tr -s ' \t' ' ')"
else
  fail "x/5i schedule: $dis"
fi
# (f)
readelf -W -s "$tmp/served.elf" >"$tmp/served.syms" 2>&1 || true
if grep -q " init_task$" "$tmp/served.syms"; then
  pass "monitor symbol-file wrote $(stat -c %s "$tmp/served.elf") bytes; readelf finds init_task"
else
  fail "monitor symbol-file: $(harness seg F <<<"$out")"
fi
harness seg F <<<"$out" | sed 's/^/    /'
test_summary
