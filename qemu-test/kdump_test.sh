#!/usr/bin/env bash
# kdump_test.sh --tlpstub BIN --kernel K --cpu C --cache DIR --initrd FILE [--workdir DIR]
#
# Reading kdump-compressed dumps (issue 11): the guest is paused, QEMU writes its own dumps of
# it (dump-guest-memory -z, -l, -s: kdump-zlib, kdump-lzo, kdump-snappy), and
# `tlpstub --memory DUMP` serves each. Ground truth is the guest's RAM file (QEMU's copy of
# the same pages) and the guest's own printout:
#  - 4 MiB at the kernel image and 64 scattered pages, read through gdb in physical mode from
#    the dump, equal the RAM file's bytes at those addresses;
#  - discovery finds the guest's release, and `monitor ps --json` from the dump equals the one
#    from the RAM file of the paused guest.
# Exit 77 when the tlpstub binary is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

test_take_tlpstub "$@"
tlpstub=$TLPSTUB rest=("${TEST_ARGS[@]}")

guest_test_boot "${rest[@]}"
tmp=$GUEST_DIR
guest_pause
release=$(guest_truth version | awk '{print $3}')

# tlpstub on the RAM file: the reference ps.
port=$(free_port)
targs=(--memory "$GUEST_RAM")
(( GUEST_MAP_IDENTITY )) || targs+=(--map "$GUEST_MAP")
stub_start "$tlpstub" "$tmp/tlpstub-ram.log" "$port" "${targs[@]}"
stub_wait_recovered "$port"
out=$(stub_gdb "$port" ==P== "monitor ps --json" ==I== "monitor info --json" ==END== || true)
harness seg P <<<"$out" >"$tmp/ps-ram.json"
banner_phys=$(harness seg I <<<"$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["kernel"]["linux_banner_phys"])')
kill "$STUB_PID"; wait "$STUB_PID" 2>/dev/null || true

# Physical addresses to compare: 4 MiB from the banner's 2 MiB page, and 64 pages spread over
# RAM below 512 MiB (identity-mapped in the RAM file for the guests this test runs).
python3 - "$banner_phys" >"$tmp/ranges.txt" <<'PY'
import random, sys
b = int(sys.argv[1], 16) & ~(2**21 - 1)
print(hex(b), 4 << 20)
rng = random.Random(11)
for _ in range(64):
    print(hex(rng.randrange(0, (480 << 20) // 4096) * 4096), 4096)
PY

# The kdump formats this QEMU was built with (Debian 12's 7.2 has zlib and snappy, not lzo);
# each codec also has a unit test (KdumpFileTest.EveryCodecReadsBackItsPage).
formats=$(python3 -c '
import sys
sys.path.insert(0, sys.argv[2])
from qmp import Qmp
caps = Qmp(sys.argv[1]).execute("query-dump-guest-memory-capability")["formats"]
print(" ".join(f for f in caps if f.startswith("kdump-")))' "$GUEST_QMP" "$here")
echo "QEMU's kdump formats: $formats"
[[ $formats == *kdump-zlib* ]] || fail "QEMU offers no kdump-zlib dump: $formats"
# (makedumpfile 1.7.2 refuses QEMU 7.2's ELF dump, "Can't get the number of PT_LOAD", so
# dumps with excluded pages and the lzo, snappy and zstd codecs are covered by unit tests only.)
jobs=(qemu:z:zlib qemu:l:lzo qemu:s:snappy)
for job in "${jobs[@]}"; do
  IFS=: read -r maker flag codec <<<"$job"
  name=$maker-$codec
  dump=$tmp/guest.kdump-$name
  t0=$SECONDS
  if [[ $maker == qemu ]]; then
    if [[ $formats != *kdump-$codec* ]]; then
      echo "note: this QEMU cannot write kdump-$codec; skipped"
      continue
    fi
    guest_hmp "dump-guest-memory -$flag $dump" >/dev/null || fail "QEMU: dump-guest-memory -$flag failed"
  else
    command -v makedumpfile >/dev/null || continue
    if ! makedumpfile -$flag -d 31 -i "$tmp/vmcoreinfo.txt" "$tmp/guest.elf" "$dump" \
          >"$tmp/makedumpfile-$codec.log" 2>&1; then
      fail "makedumpfile -$flag -d 31: $(tail -n 2 "$tmp/makedumpfile-$codec.log" | tr '\n' ' ')"
      continue
    fi
  fi
  echo "$maker wrote kdump-$codec: $(du -m "$dump" | cut -f1) MiB in $(( SECONDS - t0 )) s"
  port=$(free_port)
  stub_start "$tlpstub" "$tmp/tlpstub-$name.log" "$port" --memory "$dump"
  stub_wait_recovered "$port"
  cmds=("monitor phys on")
  while read -r addr len; do
    cmds+=("dump binary memory $tmp/got-$name-$addr.bin $addr $(( addr + len ))")
  done <"$tmp/ranges.txt"
  out=$(stub_gdb "$port" "${cmds[@]}" "monitor phys off" ==P== "monitor ps --json" \
          ==I== "monitor info" ==END== || true)
  echo "$out" >"$tmp/gdb-$name.log"
  harness seg P <<<"$out" >"$tmp/ps-$name.json"
  grep -q " memory: kdump:" "$tmp/tlpstub-$name.log" &&
    pass "kdump-$name: $(sed -n 's/.*memory: \(kdump:[^)]*)\).*/\1/p' "$tmp/tlpstub-$name.log" | head -1)" ||
    fail "kdump-$name: tlpstub did not open the dump as kdump: $(head -3 "$tmp/tlpstub-$name.log")"
  if python3 - "$GUEST_RAM" "$tmp" "$name" "$maker" <"$tmp/ranges.txt" <<'PY'
import sys
ram, tmp, name, maker = sys.argv[1:]
bad = excluded = 0
with open(ram, "rb") as f:
    for line in sys.stdin:
        addr, length = line.split()
        f.seek(int(addr, 16))
        want = f.read(int(length))
        try:
            got = open(f"{tmp}/got-{name}-{addr}.bin", "rb").read()
        except OSError:
            got = b""
        # makedumpfile -d 31 leaves pages out; gdb's read of one fails (no file). A page the
        # dump has must be the guest's; the kernel image is never excluded.
        if maker == "mdf" and not got and int(length) == 4096:
            excluded += 1
            continue
        if got != want:
            bad += 1
            print(f"  {addr}+{length}: {len(got)} bytes read, differ from the RAM file")
print(f"  {excluded} of the 64 pages excluded from the dump")
sys.exit(1 if bad else 0)
PY
  then pass "kdump-$name: 4 MiB at the kernel and every dumped page of 64 equal the guest's RAM file"
  else fail "kdump-$name: bytes differ from the guest's RAM file"
  fi
  grep -q "$release" <<<"$(harness seg I <<<"$out")" &&
    pass "kdump-$name: discovery found $release" ||
    fail "kdump-$name: monitor info lacks the guest's release $release"
  python3 - "$tmp/ps-ram.json" "$tmp/ps-$name.json" <<'PY' &&
import json, sys
a, b = (json.load(open(p))["tasks"] for p in sys.argv[1:])
sys.exit(0 if a == b and len(a) > 10 else f"{len(b)} tasks from the dump, {len(a)} from RAM")
PY
    pass "kdump-$name: monitor ps --json equals the RAM file's ($(grep -o '"pid"' "$tmp/ps-ram.json" | wc -l) tasks)" ||
    fail "kdump-$name: monitor ps differs from the RAM file's"
  kill "$STUB_PID"; wait "$STUB_PID" 2>/dev/null || true
  rm -f "$dump" "$tmp"/got-"$name"-*.bin
done
test_summary
