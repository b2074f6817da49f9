#!/usr/bin/env bash
# logcfg_test.sh --tlpstub BIN --kernel K --cpu C --cache DIR --initrd FILE [--workdir DIR]
#                [--mem SIZE] [--panic] [--nettlp TLPSIM_BIN]
#
# `monitor dmesg` and `monitor kconfig` against what the guest itself says. A second cpio,
# appended to the test initramfs, holds the kernel package's /boot/config-$(uname -r), the
# other test kernel's config (a conflicting copy), a `dmesg` applet and an init step
# (/etc/tlpstub-init.d/logcfg.sh) that writes a known line to /dev/kmsg, reads both config
# files once (as a booted system reads its config) and prints the guest's own `dmesg`.
#  (a) monitor dmesg: every line the guest's dmesg printed appears, in order, in tlpstub's log,
#      among them the `Linux version` banner and the /dev/kmsg line; with --panic (the guest
#      crashed through sysrq c after READY) also "sysrq triggered crash"; -n 5 gives 5 lines
#  (b) monitor kconfig --json: the options from the page cache equal the package's config
#      file, the other kernel's copy is seen and rejected; every inferred option that the file
#      also sets has the file's value; --out FILE is byte-identical to the package's file;
#      a pattern selects lines
#  (c) with --nettlp: long monitor commands, see the section
# With --nettlp, tlpstub reads the RAM through tlpsim at 12 us and the test prints the time and
# bytes of both commands.
# Exit 77 without the tlpstub binary or the kernel's config file (failures under CI=true).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

tlpstub= tlpsim= rest=() kernel= cache= initrd= workdir= panic=0
while (($#)); do
  case "$1" in
    --tlpstub) tlpstub=$2; shift 2 ;;
    --nettlp) tlpsim=$2; shift 2 ;;
    --kernel) kernel=$2; rest+=("$1" "$2"); shift 2 ;;
    --cache) cache=$2; rest+=("$1" "$2"); shift 2 ;;
    --initrd) initrd=$2; shift 2 ;;
    --workdir) workdir=$2; rest+=("$1" "$2"); shift 2 ;;
    --panic) panic=1; rest+=("$1"); shift ;;
    *) rest+=("$1"); shift ;;
  esac
done
[[ -n $tlpstub && -x $tlpstub ]] || test_skip "tlpstub binary '${tlpstub:-<none>}' does not exist"
[[ -n $kernel && -n $cache && -n $initrd ]] || guest_die "need --kernel, --cache, --initrd"
CONFIG= PACKAGE=
eval "$("$here/fetch-kernel.sh" --offline "$kernel" "$cache" 2>/dev/null || "$here/fetch-kernel.sh" --no-dbg "$kernel" "$cache")"
[[ -f $CONFIG ]] || test_skip "no config file for $kernel in $cache"
release=${CONFIG##*/config-}
other=6.1-cloud
[[ $kernel == 6.1-cloud ]] && other=6.12
OTHER_CONFIG=$(CONFIG=; eval "$("$here/fetch-kernel.sh" --offline "$other" "$cache" 2>/dev/null)" || true; echo "$CONFIG")

# ---- the initramfs: the base one (with the init.d hook) + our cpio --------------------------
build=$(mktemp -d "${TMPDIR:-/tmp}/tlpstub-logcfg.XXXXXX")
guest_on_exit "rm -rf '$build'"
"$here/make-initramfs.sh" "$build/base.cpio.gz"
root=$build/root
mkdir -p "$root/boot" "$root/etc/tlpstub-init.d" "$root/bin"
ln -s busybox "$root/bin/dmesg"
cp "$CONFIG" "$root/boot/config-$release"
if [[ -f $OTHER_CONFIG ]]; then cp "$OTHER_CONFIG" "$root/boot/${OTHER_CONFIG##*/}"; fi
cat >"$root/etc/tlpstub-init.d/logcfg.sh" <<'STEP'
echo "<5>tlpstub-logcfg: a line from the init script" >/dev/kmsg
for f in /boot/config-*; do cat "$f" >/dev/null; done
begin dmesg; dmesg; end dmesg
STEP
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) |
  gzip -9 -n >"$build/logcfg.cpio.gz"
cat "$build/base.cpio.gz" "$build/logcfg.cpio.gz" >"$build/initrd.cpio.gz"

t_start=$SECONDS
guest_test_boot --initrd "$build/initrd.cpio.gz" "${rest[@]}"
if (( panic )); then
  guest_wait_ready 60 'end Kernel panic'
  sleep 2
fi
tmp=$GUEST_DIR
guest_truth dmesg | tr -d '\r' >"$tmp/dmesg.truth"
[[ -s $tmp/dmesg.truth ]] || guest_die "no dmesg section on the serial console"
echo "guest: $(wc -l <"$tmp/dmesg.truth") dmesg lines, config $release ($(wc -c <"$CONFIG") bytes)"

# ---- tlpstub, from nothing (no --cr3) ----------------------------------------------------
port=$(free_port)
if [[ -n $tlpsim ]]; then
  sim_start "$tlpsim" "$tmp/tlpsim.log"
  targs=(--nettlp "$SIM_IP" --local "$SIM_LOCAL_IP")
else
  targs=(--memory "$GUEST_RAM")
  (( GUEST_MAP_IDENTITY )) || targs+=(--map "$GUEST_MAP")
fi
stub_start "$tlpstub" "$tmp/tlpstub.log" "$port" "${targs[@]}"
stub_wait_recovered "$port"

# ---- (a) dmesg -----------------------------------------------------------------------------
ms() { date +%s%3N; }
t1=$(ms)
out=$(stub_gdb "$port" ==D== "monitor dmesg" ==N== "monitor dmesg -n 5" ==J== "monitor dmesg --json" ==END== || true)
t_dmesg=$(( $(ms) - t1 ))
echo "$out" >"$tmp/gdb-dmesg.log"
harness seg D <<<"$out" >"$tmp/dmesg.tlpstub"
harness seg J <<<"$out" >"$tmp/dmesg.json"
grep -m1 '^-- ' "$tmp/dmesg.tlpstub" | sed 's/^/    /' || true
if python3 - "$tmp/dmesg.truth" "$tmp/dmesg.tlpstub" <<'PY'
import sys
truth = [l for l in open(sys.argv[1]).read().splitlines() if l.startswith("[")]
got = [l for l in open(sys.argv[2]).read().splitlines() if l.startswith("[")]
# The guest's lines, in order, within tlpstub's (which may have more: read later).
pos, missing = 0, []
index = {}
for i, l in enumerate(got):
    index.setdefault(l, []).append(i)
for l in truth:
    nxt = [i for i in index.get(l, []) if i >= pos]
    if not nxt:
        missing.append(l)
        continue
    pos = nxt[0] + 1
print(f"{len(truth)} guest lines, {len(got)} tlpstub lines, {len(missing)} missing")
for l in missing[:10]:
    print("  missing:", l)
sys.exit(1 if missing or not truth else 0)
PY
then pass "(a) monitor dmesg holds the guest's own dmesg, in order"
else fail "(a) monitor dmesg differs from the guest's dmesg"; fi
grep -q '\] Linux version ' "$tmp/dmesg.tlpstub" && pass "(a) the Linux version line" ||
  fail "(a) no 'Linux version' line"
grep -q '\] tlpstub-logcfg: a line from the init script$' "$tmp/dmesg.tlpstub" &&
  pass "(a) the line the init wrote to /dev/kmsg" || fail "(a) the /dev/kmsg line is missing"
if (( panic )); then
  grep -q 'sysrq triggered crash' "$tmp/dmesg.tlpstub" && pass "(a) after the panic: 'sysrq triggered crash'" ||
    fail "(a) no 'sysrq triggered crash' after the panic"
fi
n5=$(harness seg N <<<"$out" | grep -c '^\[') || true
[[ $n5 == 5 ]] && pass "(a) dmesg -n 5 prints 5 records" || fail "(a) dmesg -n 5 printed $n5"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["records"] and d["skipped_invalid"] == 0, d["skipped_invalid"]' \
  "$tmp/dmesg.json" && pass "(a) --json parses, no inconsistent records" || fail "(a) dmesg --json"
dm_bytes=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["reads"], "reads,", d["bytes"], "bytes,", len(d["records"]), "records, %.1f ms" % (d["seconds"] * 1000))' "$tmp/dmesg.json" 2>/dev/null || echo "?")

# ---- (b) kconfig -----------------------------------------------------------------------------
t1=$(ms)
out=$(TGDB_TIMEOUT=300 stub_gdb "$port" ==K== "monitor kconfig --json" ==O== "monitor kconfig --out $tmp/recovered.config" \
      ==P== "monitor kconfig DEBUG_INFO_BTF" ==END== || true)
t_kconfig=$(( $(ms) - t1 ))
echo "$out" >"$tmp/gdb-kconfig.log"
# The result is the last line; {"progress": ...} lines come before it.
harness seg K <<<"$out" | grep '^{' | tail -n 1 >"$tmp/kconfig.json"
harness seg K <<<"$out" | grep -c '^{"progress"' | sed 's/^/    --json progress lines: /' || true
harness seg O <<<"$out" | grep '^--' | sed 's/^/    /' || true
if python3 - "$tmp/kconfig.json" "$CONFIG" "$release" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
want = {}
for line in open(sys.argv[2]):
    line = line.rstrip("\n")
    m = re.match(r"^# (CONFIG_\w+) is not set$", line)
    if m: want[m.group(1)] = "n"; continue
    m = re.match(r"^(CONFIG_\w+)=(.*)$", line)
    if m: want[m.group(1)] = m.group(2)
got = {o["name"]: o["value"] for o in d["options"] if o["source"] == "page cache"}
inferred = d["inferred"]  # every option memory proved, also those the file sets
bad = 0
if got != want:
    bad += 1
    miss = sorted(set(want) - set(got)); extra = sorted(set(got) - set(want))
    diff = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    print(f"page cache {len(got)} options vs file {len(want)}: missing {miss[:5]} extra {extra[:5]} differ {diff[:5]}")
else:
    print(f"page cache: all {len(want)} options of the file, equal")
agree = 0
for o in inferred:
    if want.get(o["name"], "n") != o["value"]:
        bad += 1
        print(f"inferred {o['name']}={o['value']} ({o['why']}) but the file says {want.get(o['name'], 'nothing')}")
    else:
        agree += 1
print(f"inferred {len(inferred)}, {agree} agree with the file: " + ", ".join(f"{o['name']}={o['value']}" for o in inferred))
if not inferred: bad += 1; print("nothing inferred")
copies = d["copies"]
chosen = [c for c in copies if c["chosen"]]
others = [c for c in copies if not c["chosen"]]
print("copies:", "; ".join(f"{c['header']} ({c['ordered_by']}, {c['pages']} pages): {c['verdict']}" for c in copies))
if len(chosen) != 1: bad += 1; print("want exactly one chosen copy")
if not any(not c["matches"] for c in others): bad += 1; print("the other kernel's copy was not seen and rejected")
print(f"probe: {d['pages_probed']} pages, {d['reads']} batches, {d['bytes']} bytes, {d['seconds']:.3f} s")
sys.exit(1 if bad else 0)
PY
then pass "(b) monitor kconfig == the package's config file (plus inferred options that agree)"
else fail "(b) monitor kconfig differs from the package's config"; fi
cmp -s "$tmp/recovered.config" "$CONFIG" && pass "(b) kconfig --out is byte-identical to $(basename "$CONFIG")" ||
  fail "(b) kconfig --out differs from the package's file"
pat=$(harness seg P <<<"$out")
[[ $(grep -c '^CONFIG_DEBUG_INFO_BTF' <<<"$pat") -ge 1 ]] &&
  pass "(b) kconfig DEBUG_INFO_BTF: $(grep -m1 '^CONFIG_DEBUG_INFO_BTF=' <<<"$pat")" ||
  fail "(b) kconfig DEBUG_INFO_BTF printed no option"
kc_cost=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%d pages probed, %d batches, %d bytes, %.3f s in recovery" % (d["pages_probed"], d["reads"], d["bytes"], d["seconds"]))' "$tmp/kconfig.json" 2>/dev/null || echo "?")

# ---- (c) long monitor commands (stub/long_request.hpp), through tlpsim only ----------------
# A full `monitor dump` through tlpsim takes ~35 s: gdb gets SIGINT 1.5 s in (as Ctrl-C), prints
# "Quit" on the next packet, and its next commands must get their own answers (no dump
# progress in them, nothing off by one); the stub stops the dump and removes the file.
# Then `monitor bt all` on a link slowed to 20 ms per answer (a second tlpsim and tlpstub):
# it outlasts gdb's 2 s remotetimeout, yet traces every task `monitor ps --threads` lists.
if [[ -n $tlpsim ]]; then
  version=$(guest_truth version)
  banner=$(guest_sym linux_banner)
  ldump=$tmp/interrupted.vmcore
  t1=$(ms)
  out=$(stub_gdb "$port" \
    "python import threading, os, signal; threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()" \
    ==DUMP== "monitor dump $ldump" ==V== "monitor version" ==X== "x/s $banner" ==END== || true)
  t_quit=$(( $(ms) - t1 ))
  echo "$out" >"$tmp/gdb-longdump.log"
  d=$(harness seg DUMP <<<"$out") v=$(harness seg V <<<"$out") x=$(harness seg X <<<"$out")
  sed 's/^/    /' <<<"$d"
  sleep 1  # the stub notices gdb's next request at its next check of the connection
  if [[ $d == *Quit* && $d == *"dump: "* && $v == *"Linux version"* && $v != *"dump"* &&
        $x == *"\"$version\\n\""* && ! -e $ldump ]] &&
     grep -q "monitor dump $ldump abandoned" "$tmp/tlpstub.log"; then
    pass "(c) monitor dump + Ctrl-C: Quit, then monitor version and x/s answered right, file removed ($t_quit ms)"
  else
    fail "(c) interrupted monitor dump (see $tmp/gdb-longdump.log): V '${v:0:80}' X '${x:0:80}' file $([[ -e $ldump ]] && echo left || echo gone)"
  fi
  grep "abandoned" "$tmp/tlpstub.log" | sed 's/^.*\] /    stub: /' || true

  sport=$(free_port)
  "$tlpsim" --memory "$GUEST_RAM" --map "$GUEST_MAP" --listen 127.0.0.3 --latency 20ms \
    </dev/null >"$tmp/tlpsim-slow.log" 2>&1 &
  slow_sim=$!
  guest_on_exit "kill $slow_sim 2>/dev/null; wait $slow_sim"
  # Its own local address: the first tlpstub holds the client ports on 127.0.0.1.
  stub_start "$tlpstub" "$tmp/tlpstub-slow.log" "$sport" --nettlp 127.0.0.3 --local 127.0.0.4
  stub_wait_recovered "$sport" 240
  t1=$(ms)
  out=$(TGDB_TIMEOUT=300 stub_gdb "$sport" \
    "python import time; t0 = time.monotonic()" ==PS== "monitor ps --threads --json" \
    "python print('ps took %.1f s' % (time.monotonic() - t0)); t0 = time.monotonic()" \
    ==BT== "monitor bt all --json" \
    "python print('bt all took %.1f s' % (time.monotonic() - t0))" ==END== || true)
  echo "$out" >"$tmp/gdb-slowbt.log"
  grep -E "took" <<<"$out" | sed 's/^/    /' || true
  if python3 - "$tmp/gdb-slowbt.log" <<'PY'
import json, re, sys
out = open(sys.argv[1]).read()
def seg(name):
    lines, on = [], False
    for l in out.splitlines():
        if re.fullmatch(r"==[A-Za-z0-9_-]+==", l):
            if on: break
            on = l == f"=={name}=="
        elif on: lines.append(l)
    return lines
def doc(name):
    js = [l for l in seg(name) if l.startswith("{")]
    return json.loads(js[-1]) if js else None
ps, bt = doc("PS"), doc("BT")
took = float(re.search(r"bt all took ([0-9.]+) s", out).group(1))
bad = []
if not ps or not bt: bad.append("no ps or bt all document")
else:
    pids = sorted(t["pid"] for t in ps["tasks"])
    traced = sorted(t["pid"] for t in bt["tasks"])
    print(f"ps --threads: {len(pids)} tasks (complete {ps['complete']}); bt all: {len(traced)} "
          f"traced, {sum(1 for t in bt['tasks'] if t['frames'])} with frames, in {took} s")
    if not ps["complete"]: bad.append("ps --threads partial")
    if pids != traced: bad.append("bt all did not trace every task ps lists")
if took <= 2.0: bad.append(f"bt all took {took} s: not past gdb's 2 s timeout, the link is too fast")
for b in bad: print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
  then pass "(c) monitor bt all past gdb's 2 s timeout traces every task of ps --threads"
  else fail "(c) monitor bt all on the slow link (see $tmp/gdb-slowbt.log)"; fi
fi

src="RAM file"
[[ -n $tlpsim ]] && src="tlpsim at 12 us"
echo "costs ($src): dmesg x3 in one gdb run ${t_dmesg} ms, one --json: $dm_bytes;" \
     "kconfig x3 in one gdb run ${t_kconfig} ms, one --json: $kc_cost"
echo "times: $(( SECONDS - t_start )) s total"
[[ -n $tlpsim ]] && sim_check_no_writes "$tmp/tlpsim.log"
test_summary
