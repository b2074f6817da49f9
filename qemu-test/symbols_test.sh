#!/usr/bin/env bash
# symbols_test.sh --tlpstub BIN --kernel K --cpu C --cache DIR --initrd FILE [--workdir DIR]
#                 [--mem SIZE] [--panic]
#
# A DWARF vmlinux loaded in stock gdb lines up with the KASLR-randomized kernel that tlpstub
# serves (no --cr3: discovery finds the slide). Needs the vmlinux from the -dbg package
# (fetch-kernel.sh --vmlinux: 590 MB for 6.1-cloud); exit 77 (CTest SKIP_RETURN_CODE) without
# it or without the tlpstub binary.
#  (a) the symbol-file line `monitor info` prints, run as printed (path substituted) in a gdb
#      that has no other symbol file: `info address` of every symbol in the guest's kallsyms
#      ground truth (.text, .rodata incl. __ro_after_init, .data, .bss, per-CPU) equals
#      /proc/kallsyms; per-CPU symbols keep their link-time offsets (System.map); x/s
#      linux_banner, p init_uts_ns.name.release, p init_task.comm print the guest's values; a
#      per-CPU read through __per_cpu_offset[0] works (runqueues.cpu == 0)
#  (b) qOffsets alone (`file vmlinux` before `target remote`): gdb moves .text/.data/.bss
#      and functions, not .rodata; reported per symbol as notes, asserted only for init_task
#      and _text (what Text=/Data= must achieve)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

tlpstub= rest=() kernel= cache=
while (($#)); do
  case "$1" in
    --tlpstub) tlpstub=$2; shift 2 ;;
    --kernel) kernel=$2; rest+=("$1" "$2"); shift 2 ;;
    --cache) cache=$2; rest+=("$1" "$2"); shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
if [[ -z $tlpstub || ! -x $tlpstub ]]; then
  test_skip "tlpstub binary '${tlpstub:-<none>}' does not exist (build the tlpstub target)"
fi
[[ -n $kernel && -n $cache ]] || guest_die "need --kernel and --cache"
VMLINUX=
eval "$("$here/fetch-kernel.sh" --offline "$kernel" "$cache" 2>/dev/null | grep '^VMLINUX=')" || true
if [[ -z $VMLINUX || ! -f $VMLINUX ]]; then
  eval "$("$here/fetch-kernel.sh" --vmlinux "$kernel" "$cache" | grep '^VMLINUX=')" || true
fi
if [[ -z $VMLINUX || ! -f $VMLINUX ]]; then
  test_skip "no vmlinux for $kernel (fetch-kernel.sh --vmlinux $kernel $cache)"
fi

t_start=$SECONDS
guest_test_boot "${rest[@]}"
if [[ " ${rest[*]} " == *" --panic "* ]]; then
  guest_wait_ready 60 'end Kernel panic'
  sleep 2
fi
tmp=$GUEST_DIR
hex() { printf '0x%x' "$(( $1 ))"; }
release=$(guest_truth sysinfo uname_r)
version=$(guest_truth version)
slide=$(guest_kaslr_slide)
guest_truth kallsyms >"$tmp/kallsyms.truth"
[[ -s $tmp/kallsyms.truth && -n $release ]] || guest_die "no kallsyms/sysinfo ground truth"
# Per-CPU symbols to check (present in 6.1 and 6.12), link-time offsets from System.map.
percpu=(runqueues this_cpu_off __per_cpu_start __per_cpu_end)
declare -A link
for s in "${percpu[@]}"; do
  link[$s]=0x$(awk -v n="$s" '$3 == n {print $1; exit}' "$GUEST_SYSTEM_MAP")
  [[ ${link[$s]} != 0x ]] || guest_die "$s not in System.map"
done

# ---- tlpstub, no --cr3 ----------------------------------------------------------
port=$(free_port)
targs=(--memory "$GUEST_RAM")
(( GUEST_MAP_IDENTITY )) || targs+=(--map "$GUEST_MAP")
stub_start "$tlpstub" "$tmp/tlpstub.log" "$port" "${targs[@]}"

# tgdb EX...: stock gdb -batch; the caller adds "target remote" where it belongs.
tgdb() {
  local args=(-batch -nx -ex "set pagination off" -ex "set confirm off" -ex "set print elements 0") e
  for e in "$@"; do args+=(-ex "$e"); done
  timeout "${TGDB_TIMEOUT:-180}" gdb "${args[@]}" </dev/null 2>&1
}
remote="target remote 127.0.0.1:$port"

# Wait for discovery; gdb asks qOffsets when it connects, so it must be done first.
t0=$SECONDS
while :; do
  info=$(tgdb "$remote" "monitor info" || true)
  [[ $info == *"discovery: running"* ]] || break
  (( SECONDS - t0 > 90 )) && { fail "discovery still running after 90 s"; test_summary; exit 1; }
  sleep 0.5
done
line=$(grep -m1 'add-symbol-file' <<<"$info" | sed 's/^ *//') || true
want_line="add-symbol-file vmlinux -o $(hex "$slide") -s .data..percpu 0"
[[ $line == "$want_line" ]] && pass "monitor info prints '$line'" ||
  { fail "monitor info symbol-file line '$line', want '$want_line'"; sed 's/^/    /' <<<"$info"; }
[[ -n $line ]] || { test_summary; exit 1; }
cmd="add-symbol-file $VMLINUX ${line#add-symbol-file vmlinux }"

# Every ground-truth symbol, then the per-CPU ones, through `info address`.
ia=()
while read -r _ _ n; do ia+=("info address $n"); done <"$tmp/kallsyms.truth"
for s in "${percpu[@]}"; do ia+=("info address $s"); done

# check_addresses LABEL OUTPUT [note]: compare `info address` lines with the ground truth;
# with "note", mismatches are reported as notes, not failures.
check_addresses() {
  local label=$1 out=$2 mode=${3:-} bad=() good=0 n a want t
  while read -r a t n; do
    got=$(sed -n "s/^Symbol \"$n\" is .* at address \\(0x[0-9a-f]*\\)\\.$/\\1/p" <<<"$out" | head -n1)
    if [[ -n $got ]] && (( got == 16#$a )); then good=$((good + 1))
    else bad+=("$n($t) ${got:-?} vs 0x$a"); fi
  done <"$tmp/kallsyms.truth"
  if ((${#bad[@]} == 0)); then pass "$label: info address == /proc/kallsyms for all $good symbols"
  elif [[ $mode == note ]]; then
    echo "note: $label: $good symbols right; wrong: ${bad[*]}"
  else fail "$label: $good right; wrong: ${bad[*]}"; fi
}

# ---- (a) the monitor-info line --------------------------------------------------
t0=$SECONDS
out=$(tgdb "$remote" "$cmd" "${ia[@]}" \
  "echo ==X==\n" "x/s linux_banner" "echo ==R==\n" "p init_uts_ns.name.release" \
  "echo ==C==\n" "p init_task.comm" \
  "echo ==P==\n" "p ((struct rq *)((unsigned long)&runqueues + __per_cpu_offset[0]))->cpu" \
  "echo ==END==\n" || true)
t_a=$(( SECONDS - t0 ))
echo "$out" >"$tmp/add-symbol-file.log"
seg() { awk -v b="==$1==" -v e="==$2==" '$0 == e {f = 0} f {print} $0 == b {f = 1}' <<<"$out"; }
[[ $out == *"with other sections offset by $(hex "$slide")"* ]] &&
  pass "gdb accepts '$line' ($t_a s incl. reading the vmlinux)" ||
  fail "gdb did not take '$cmd': $(grep -m3 -iE 'error|usage|invalid|unrecognized' <<<"$out" | tr '\n' ' ')"
check_addresses "add-symbol-file" "$out"
for s in "${percpu[@]}"; do
  got=$(sed -n "s/^Symbol \"$s\" is .* at address \\(0x[0-9a-f]*\\)\\.$/\\1/p" <<<"$out" | head -n1)
  [[ -n $got ]] && (( got == link[$s] )) && pass "add-symbol-file: per-CPU $s stays at $got (System.map)" ||
    fail "add-symbol-file: per-CPU $s at '${got:-?}', System.map says ${link[$s]}"
done
[[ $(seg X R) == *"\"$version\\n\""* ]] && pass "add-symbol-file: x/s linux_banner == /proc/version" ||
  fail "add-symbol-file: x/s linux_banner: $(seg X R | tail -n 2)"
[[ $(seg R C) == *"= \"$release\""* ]] && pass "add-symbol-file: p init_uts_ns.name.release == '$release'" ||
  fail "add-symbol-file: p init_uts_ns.name.release: $(seg R C | tail -n 2)"
[[ $(seg C P) == *'"swapper/0'* ]] && pass "add-symbol-file: p init_task.comm == swapper/0" ||
  fail "add-symbol-file: p init_task.comm: $(seg C P | tail -n 2)"
[[ $(seg P END) == *"= 0" ]] && pass "add-symbol-file: per-CPU read: runqueues[cpu 0].cpu == 0" ||
  fail "add-symbol-file: per-CPU read of runqueues: $(seg P END | tail -n 2)"

# ---- (b) qOffsets alone: file vmlinux, then target remote ---------------------------
t0=$SECONDS
out=$(tgdb "file $VMLINUX" "$remote" "${ia[@]}" "echo ==X==\n" "x/s linux_banner" "echo ==END==\n" || true)
echo "$out" >"$tmp/qoffsets.log"
check_addresses "qOffsets only" "$out" note
for s in init_task _text; do
  got=$(sed -n "s/^Symbol \"$s\" is .* at address \\(0x[0-9a-f]*\\)\\.$/\\1/p" <<<"$out" | head -n1)
  want=$(guest_sym "$s")
  [[ -n $got ]] && (( got == want )) && pass "qOffsets only: $s relocated to $got" ||
    fail "qOffsets only: $s at '${got:-?}', guest says $want"
done
xs=$(awk '$0 == "==END==" {f = 0} f {print} $0 == "==X==" {f = 1}' <<<"$out")
echo "note: qOffsets only: x/s linux_banner -> $(tail -n1 <<<"$xs" | cut -c1-100)"

# ---- (c) the repository's gdbinit: `gdb -x gdbinit VMLINUX` connects to $TLPSTUB by itself,
# checks the vmlinux against the running kernel (build id, else linux_banner) and loads it at
# the slide with the per-CPU section kept at 0 ------------------------------------------------
out=$(TLPSTUB=127.0.0.1:$port timeout 180 gdb -batch -nx -x "$here/../gdbinit" "$VMLINUX" \
        -ex "info address init_task" -ex "info address linux_banner" \
        -ex "info address runqueues" </dev/null 2>&1 || true)
echo "$out" >"$tmp/gdbinit.log"
loaded=$(grep -m1 "^tlpstub: loaded" <<<"$out" || true)
[[ -n $loaded ]] && pass "gdbinit: ${loaded#tlpstub: }" ||
  fail "gdbinit did not load the vmlinux: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
for s in init_task linux_banner; do
  got=$(sed -n "s/^Symbol \"$s\" is .* at address \(0x[0-9a-f]*\)\.$/\1/p" <<<"$out" | head -n1)
  want=$(guest_sym "$s")
  [[ -n $got ]] && (( got == want )) && pass "gdbinit: $s at $got" ||
    fail "gdbinit: $s at '${got:-?}', guest says $want: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
done
got=$(sed -n 's/^Symbol "runqueues" is .* at address \(0x[0-9a-f]*\)\.$/\1/p' <<<"$out" | head -n1)
[[ -n $got ]] && (( got == link[runqueues] )) && pass "gdbinit: per-CPU runqueues stays at $got" ||
  fail "gdbinit: runqueues at '${got:-?}', System.map says ${link[runqueues]}"

# A vmlinux of another build is refused: the same file with one byte of its build id changed.
python3 - "$VMLINUX" "$tmp/other-vmlinux" <<'PY'
import re, shutil, subprocess, sys
src, dst = sys.argv[1:]
bid = re.search(r"Build ID: ([0-9a-f]+)", subprocess.run(["readelf", "-n", src], capture_output=True,
                text=True).stdout).group(1)
shutil.copyfile(src, dst)
with open(dst, "r+b") as f:
    data = f.read()
    at = data.index(bytes.fromhex(bid))
    f.seek(at)
    f.write(bytes([data[at] ^ 0xff]))
PY
out=$(TLPSTUB=127.0.0.1:$port timeout 180 gdb -batch -nx -x "$here/../gdbinit" "$tmp/other-vmlinux" \
        -ex "info address init_task" </dev/null 2>&1 || true)
rm -f "$tmp/other-vmlinux"
grep -q "is not the running kernel: its build id is" <<<"$out" && ! grep -q "^Symbol \"init_task\"" <<<"$out" &&
  pass "gdbinit refuses a vmlinux whose build id differs (symbols unloaded)" ||
  fail "gdbinit and a vmlinux of another build: $(grep -m2 -E "tlpstub|init_task" <<<"$out" | tr '\n' ' ')"

echo "times: $(( SECONDS - t_start )) s total, add-symbol-file gdb run $t_a s, qOffsets gdb run $(( SECONDS - t0 )) s"
test_summary
