#!/usr/bin/env bash
# discovery_test.sh --tlpstub BIN [--driver BIN] --kernel K --cpu C --cache DIR --initrd FILE
#                   [--workdir DIR] [--mem SIZE] [--panic]
#
# Kernel discovery from memory alone, against a live (or, with --panic, a panicked) QEMU guest
# with KASLR on. tlpstub runs WITHOUT --cr3 (with --map for guests >= 2816 MiB) and stock gdb
# checks, against the guest's own /proc/kallsyms, /proc/version and variables:
#  (a) `monitor info`: found by vmcoreinfo; kernel release; _text; KASLR slide; init_top_pgt
#      VA and physical address; paging depth; page_offset_base equal to the guest's variable
#      (read through QEMU's gdbstub)
#  (b) `monitor version` and `x/s <linux_banner>` print /proc/version; qOffsets answers
#      Text=Data=Bss=<KASLR slide>; `monitor cr3 discover` re-runs discovery
#  (c) discovery_check.sh with the discovery_driver (modes vmcoreinfo, scan, wiped) on the
#      same guest (skipped with a note when --driver is not given)
#  (d) the VMCOREINFO fallback through tlpstub: a copy of guest RAM taken while the VM is
#      paused, with both VMCOREINFO pages zeroed (the ELF note /sys/kernel/vmcoreinfo names,
#      and the vmcoreinfo_data page, whose text starts a page and is what discovery looks
#      for); `monitor info` must say "found by: scan" with the same values, and
#      `x/s linux_banner` must work
# --panic: the guest crashes itself with sysrq-c after READY; checks run on the dead kernel.
# Exit 77 (CTest SKIP_RETURN_CODE) when the tlpstub binary does not exist (a failure under
# CI=true, as is a missing --driver).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

tlpstub= driver= rest=() panic=0
while (($#)); do
  case "$1" in
    --tlpstub) tlpstub=$2; shift 2 ;;
    --driver) driver=$2; shift 2 ;;
    --panic) panic=1; rest+=("$1"); shift ;;
    *) rest+=("$1"); shift ;;
  esac
done
if [[ -z $tlpstub || ! -x $tlpstub ]]; then
  test_skip "tlpstub binary '${tlpstub:-<none>}' does not exist (build the tlpstub target)"
fi

t_start=$SECONDS
guest_test_boot "${rest[@]}"
if ((panic)); then
  guest_wait_ready 60 '==TLPSTUB-PANICKING=='
  guest_wait_ready 60 'end Kernel panic'
  sleep 2
  guest_running && pass "panicked guest stays up: $(tr -d '\r' <"$GUEST_SERIAL" | grep -m1 'Kernel panic')" ||
    guest_die "QEMU exited after the panic"
fi
t_boot=$SECONDS
tmp=$GUEST_DIR
hex() { printf '0x%x' "$(( $1 ))"; }

# ---- ground truth ---------------------------------------------------------------
version=$(guest_truth version)
release=$(guest_truth sysinfo uname_r)
la57=$(guest_truth sysinfo cpu_la57)
want_levels=4; [[ $la57 == 1 ]] && want_levels=5
text=$(guest_sym _text)
banner=$(guest_sym linux_banner)
top=$(guest_sym init_top_pgt)
top_pa=$(guest_kva2pa "$top")
pob_va=$(guest_sym page_offset_base)
vid_va=$(guest_sym vmcoreinfo_data)
slide=$(guest_kaslr_slide)   # the kernel's own statement: VMCOREINFO KERNELOFFSET
[[ -n $version && -n $release && -n $la57 ]] || guest_die "no version/sysinfo ground truth"

# guest_u64 VA...: 64-bit values of guest variables through QEMU's gdbstub, one per line.
guest_u64() {
  local ex=() a out v
  for a in "$@"; do ex+=("x/gx $a"); done
  out=$(guest_gdb "${ex[@]}" 2>&1)
  for a in "$@"; do
    v=$(awk -v a="$(hex "$a")" 'index($0, a) == 1 {print $NF; exit}' <<<"$out")
    [[ $v == 0x* ]] || { echo "guest_u64 $a: $out" >&2; return 1; }
    echo "$v"
  done
}
vals=$(guest_u64 "$pob_va" "$vid_va") || guest_die "cannot read page_offset_base/vmcoreinfo_data through QEMU"
{ read -r pob; read -r vid; } <<<"$vals"
echo "truth: $release, _text $text (slide $slide), init_top_pgt $top (phys $top_pa), ${want_levels}-level," \
     "page_offset_base $pob, banner $banner, VMCOREINFO text at phys $(hex "$vid - $pob")"

# ---- tlpstub helpers --------------------------------------------------------------
tpid= port=
# start_tlpstub RAMFILE LOG: no --cr3; waits until it listens (sets tpid, port).
start_tlpstub() {
  port=$(free_port)
  local targs=(--memory "$1")
  (( GUEST_MAP_IDENTITY )) || targs+=(--map "$GUEST_MAP")
  STUB_WATCH_FILE=${3:-} stub_start "$tlpstub" "$2" "$port" "${targs[@]}"
  tpid=$STUB_PID
}
stop_tlpstub() { kill "$tpid" 2>/dev/null || true; wait "$tpid" 2>/dev/null || true; tpid=; }

# tgdb EX...: stock gdb -batch against tlpstub (no symbol file).
tgdb() { stub_gdb "$port" "$@"; }

# wait_discovery LABEL: poll `monitor info` until discovery is no longer running.
wait_discovery() {
  local t0=$SECONDS out
  while :; do
    out=$(tgdb "monitor info" || true)
    [[ $out == *"discovery: running"* ]] || break
    (( SECONDS - t0 > 90 )) && { fail "$1: discovery still running after 90 s"; return 1; }
    sleep 0.5
  done
}

want_xs="\"$version\\n\""

# check_stub LABEL WANT_METHOD: the checks of (a) and (b) against the running tlpstub.
check_stub() {
  local label=$1 want_method=$2 out info ver xs qoff
  # gdb connects at once; a read that arrives while discovery runs waits for it (up to
  # 1.5 s). Checked on the live RAM file only: the wiped copy is a fresh file whose first
  # reads fault in from disk, which can take longer than the wait.
  if [[ $label == live ]]; then
    out=$(tgdb "x/s $banner" || true)
    [[ $out == *"$want_xs"* ]] && pass "$label: x/s linux_banner right after tlpstub started" ||
      fail "$label: first x/s right after start: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
  fi
  wait_discovery "$label" || return 0
  out=$(tgdb ==I== "monitor info --json" ==V== "monitor version" ==X== "x/s $banner" \
             ==Q== "maint packet qOffsets" ==END== || true)
  echo "$out" >"$tmp/$label.gdb.log"
  info=$(harness seg I <<<"$out") ver=$(harness seg V <<<"$out")
  xs=$(harness seg X <<<"$out") qoff=$(harness seg Q <<<"$out")
  local m rel t s tv tp lv p sym fields secs reads
  # `monitor info --json`: the fields by name, no text scraping.
  if ! fields=$(harness json discovery.state kernel.method kernel.seconds kernel.reads \
                  kernel.release kernel.text kernel.kaslr_slide kernel.init_top_pgt \
                  kernel.init_top_pgt_phys kernel.levels kernel.page_offset_base \
                  kernel.symbol_file_command <<<"$info" 2>&1) || [[ ${fields%%$'\n'*} != done ]]; then
    fail "$label: monitor info --json shows no kernel:"; sed 's/^/    /' <<<"$info$fields"; return 0
  fi
  { read -r _; read -r m; read -r secs; read -r reads; read -r rel; read -r t; read -r s; read -r tv
    read -r tp; read -r lv; read -r p; read -r sym; } <<<"$fields"
  m="$m $secs $reads"
  [[ ${m%% *} == "$want_method" ]] && pass "$label: found by $(awk '{print $1 " in " $2 " s, " $3 " reads"}' <<<"$m")" ||
    { fail "$label: found by '${m%% *}', want $want_method (the guest's VMCOREINFO text is at phys $(hex "$vid - $pob"))"
      grep -i 'vmcoreinfo' <<<"$info" | sed 's/^ */    /'; }
  [[ $rel == "$release" ]] && pass "$label: release $rel" || fail "$label: release '$rel', guest says '$release'"
  eq() {  # eq NAME GOT WANT
    if [[ $2 == 0x* ]] && (( $2 == $3 )); then pass "$label: $1 $2"
    else fail "$label: $1 '$2', guest says $(hex "$3")"; fi
  }
  eq _text "$t" "$text"
  eq "KASLR slide" "$s" "$slide"
  eq init_top_pgt "$tv" "$top"
  eq "init_top_pgt physical" "$tp" "$top_pa"
  [[ $lv == "$want_levels" ]] && pass "$label: ${lv}-level paging" || fail "$label: '${lv}'-level paging, want $want_levels"
  eq page_offset_base "$p" "$pob"
  [[ $sym == "add-symbol-file vmlinux -o $(hex "$slide") -s .data..percpu 0" ]] &&
    pass "$label: prints '$sym'" || fail "$label: symbol-file line '$sym'"
  [[ $ver == "$version" ]] && pass "$label: monitor version == /proc/version" ||
    fail "$label: monitor version '$(head -c 100 <<<"$ver")'"
  [[ $xs == *"$want_xs"* ]] && pass "$label: x/s $banner (linux_banner) == /proc/version" ||
    { fail "$label: x/s $banner:"; sed 's/^/    /' <<<"$xs" | tail -n 3; }
  local so; so=$(sed 's/^0x//' <<<"$(hex "$slide")")
  [[ $qoff == *"Text=$so;Data=$so;Bss=$so"* ]] && pass "$label: qOffsets Text=Data=Bss=$so" ||
    fail "$label: qOffsets: $(tr '\n' ' ' <<<"$qoff")"
}

# ---- (a), (b): live guest (or panicked), default discovery ------------------------
t0=$SECONDS
start_tlpstub "$GUEST_RAM" "$tmp/tlpstub.log"
check_stub live vmcoreinfo
out=$(tgdb "monitor cr3 discover" "x/s $banner" || true)
if [[ $out == *"found $release: page table $(hex "$top_pa") (${want_levels}-level), KASLR slide $(hex "$slide")"* &&
      $out == *"$want_xs"* ]]; then
  pass "live: monitor cr3 discover re-runs discovery, same result"
else
  fail "live: monitor cr3 discover:"; tail -n 5 <<<"$out" | sed 's/^/    /'
fi
stop_tlpstub
t_live=$(( SECONDS - t0 ))

# ---- (c) discovery_check.sh with the driver ----------------------------------------
t0=$SECONDS
if [[ -n $driver ]]; then
  dargs=(--driver "$driver")
  (( GUEST_MAP_IDENTITY )) || dargs+=(--map "$GUEST_MAP")
  if "$here/discovery_check.sh" "${dargs[@]}" "$GUEST_RAM" "$GUEST_SERIAL" >"$tmp/discovery_check.log" 2>&1; then
    pass "discovery_check.sh (vmcoreinfo, scan, wiped): $(grep -c '^  ok' "$tmp/discovery_check.log") checks ok"
  else
    fail "discovery_check.sh:"; grep -E 'FAIL|^==|\|' "$tmp/discovery_check.log" | sed 's/^/    /' | head -n 40
  fi
  grep -E '^== |^  cost' "$tmp/discovery_check.log" | sed 's/^/    /; s/ *--read-u64.*//'
elif [[ ${CI:-} == true ]]; then
  fail "no --driver (discovery_driver not built): discovery_check.sh did not run"
else
  echo "note: no --driver: discovery_check.sh skipped"
fi
t_driver=$(( SECONDS - t0 ))

# ---- (d) VMCOREINFO wiped: a paused copy of RAM, through tlpstub ---------------------
t0=$SECONDS
copydir=$(dirname "$GUEST_RAM")
(( $(df -Pm "$copydir" | awk 'NR==2 {print $4}') > GUEST_MEM_MB + 256 )) || copydir=$GUEST_DIR
copy=$(mktemp "$copydir/tlpstub-wiped.XXXXXX")
guest_on_exit "rm -f $copy"
guest_pause
cp "$GUEST_RAM" "$copy"
guest_resume
# wipe PHYS LEN: zero the pages covering [PHYS, PHYS+LEN) in the copy (honours the q35 map).
wipe() {
  local first=$(( $1 & ~0xfff )) last=$(( ($1 + $2 + 0xfff) & ~0xfff )) p off
  for (( p = first; p < last; p += 4096 )); do
    off=$(guest_ram_offset "$p")
    dd if=/dev/zero of="$copy" bs=4096 seek=$(( off / 4096 )) count=1 conv=notrunc status=none
  done
  echo "wiped $(hex "$first")..$(hex "$last")"
}
read -r note_pa note_len < <(guest_truth sysinfo vmcoreinfo)
[[ -n $note_pa && -n $note_len ]] || guest_die "no vmcoreinfo= in sysinfo"
wipe "$note_pa" "0x$note_len"              # the ELF note (/sys/kernel/vmcoreinfo), hex size
wipe "$(( vid - pob ))" 4096               # vmcoreinfo_data: the text, at a page start
# Every page start that still reads OSRELEASE= (there must be none).
# Reads only the file's data extents (guest RAM files are sparse on tmpfs).
left=$(python3 - "$copy" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size, pos, hits = os.fstat(fd).st_size, 0, []
while pos < size:
    try:
        pos = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:
        break
    end = min(os.lseek(fd, pos, os.SEEK_HOLE), pos + (64 << 20))
    buf = os.pread(fd, end - pos, pos)
    i = buf.find(b'OSRELEASE=')
    while i >= 0:
        if (pos + i) % 4096 == 0:
            hits.append(hex(pos + i))
        i = buf.find(b'OSRELEASE=', i + 1)
    pos = end
print(' '.join(hits))
PY
)
[[ -z $left ]] && pass "wiped: no page of the copy starts with OSRELEASE=" ||
  fail "wiped: pages still starting with OSRELEASE= at file offsets: $left"
start_tlpstub "$copy" "$tmp/tlpstub-wiped.log" "$copy"
check_stub wiped scan
stop_tlpstub
rm -f "$copy"
t_wiped=$(( SECONDS - t0 ))

echo "times: boot $(( t_boot - t_start )) s, live $t_live s, driver $t_driver s, wiped copy $t_wiped s, total $(( SECONDS - t_start )) s"
test_summary
