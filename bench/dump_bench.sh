#!/usr/bin/env bash
# bench/dump_bench.sh [--kernel 6.1-cloud] [--cpu qemu64] [--mem 3G] [--runs 3]
#                     [--levels "0 1 17 31"] [--serial-level 31] [--serial-runs N]
#                     [--seq-bytes 512M] [--serial-seq-bytes 16M] [--ps-runs 3]
#                     [--out DIR] [--keep] [--build DIR]
#        bench/dump_bench.sh --ps-only DUMP [--ps-runs 3] [--kernel 6.1-cloud] [--out DIR]
# Issue 11's dump performance, in one run on one guest (bench/, not a test):
#  1. boots the guest (3 GiB by default: RAM above 4 GiB on q35), pauses it, and serves its RAM
#     file through tlpsim at 12 us latency on a loopback pair of its own (127.89.X.2/.1);
#  2. each round, one after the other (the machine is shared: variants alternate so that load
#     changes hit them all): nettlp_seqread's sequential pipelined read (256 tags) over the same
#     link, `tlpstub --nettlp ... --dump` at each level, the one-read-at-a-time dump
#     (`--tags 1`) at --serial-level, and the one-read-at-a-time sequential read (a smaller
#     amount: at one read per round trip 3 GiB takes most of an hour, so the full dump's serial
#     time is extrapolated from this rate, and said so);
#  3. `monitor ps --threads` through `tlpstub --memory DUMP` with stock gdb in batch (no vmlinux;
#     from tlpstub's start to gdb's output) against drgn -c DUMP -s VMLINUX iterating
#     for_each_task (from drgn's start), alternating, on the level-1 dump (the last level if 1
#     is not among --levels); gdb once as usual (it loads the symbol file tlpstub serves,
#     5.8 MB through vFile) and once with `set sysroot /nonexistent` (no symbol file: ps
#     needs none). The dump is read once beforehand, so that no variant pays for a cold cache.
#     --ps-only DUMP runs only this part, on an existing dump of the --kernel guest.
# A level written L:N runs N times instead of --runs (e.g. "0:1 1 17 31"). Results go to
# DIR/results.tsv (one line per measurement) and a summary with medians to stdout. Dumps are
# deleted at the end unless --keep. Needs the kernel cached with its -dbg vmlinux
# (qemu-test/fetch-kernel.sh --vmlinux), python3-drgn for drgn, and a build with tlpstub,
# tlpsim and bench/nettlp_seqread.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kernel=6.1-cloud cpu=qemu64 mem=3G runs=3 levels="0 1 17 31" serial_level=31 serial_runs=
seq_bytes=512M serial_seq_bytes=16M ps_runs=3 out= keep=0 build=$root/build ps_only=
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    --kernel) kernel=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --levels) levels=$2; shift 2 ;;
    --serial-level) serial_level=$2; shift 2 ;;
    --serial-runs) serial_runs=$2; shift 2 ;;
    --seq-bytes) seq_bytes=$2; shift 2 ;;
    --serial-seq-bytes) serial_seq_bytes=$2; shift 2 ;;
    --ps-runs) ps_runs=$2; shift 2 ;;
    --ps-only) ps_only=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --build) build=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
serial_runs=${serial_runs:-$runs}
tlpstub=$build/app/tlpstub tlpsim=$build/transport/tlpsim seqread=$build/bench/nettlp_seqread
for b in "$tlpstub" "$tlpsim" "$seqread"; do
  [[ -x $b ]] || { echo "build $(basename "$b") first ($b)" >&2; exit 1; }
done
command -v gdb >/dev/null || { echo "gdb is needed" >&2; exit 1; }
vmlinux=$("$root/qemu-test/fetch-kernel.sh" --offline --vmlinux "$kernel" "$build/qemu-cache" 2>/dev/null |
          sed -n 's/^VMLINUX=//p') || true
[[ -n $vmlinux && -f $vmlinux ]] || echo "no -dbg vmlinux of $kernel cached: drgn is skipped" >&2
out=${out:-$(mktemp -d /var/tmp/tlpstub-dumpbench.XXXXXX)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
source "$root/qemu-test/lib.sh"
results=$out/results.tsv
printf 'variant\trun\tseconds\tdump_seconds\tMBps\tdisk_bytes\tapparent_bytes\tnote\n' >"$results"
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }
now() { date +%s.%N; }
ram_bytes=$(( $(guest__mib "$mem") << 20 ))

if [[ -z $ps_only ]]; then
initrd=$build/qemu-test/initrd.cpio.gz
[[ -f $initrd ]] || "$root/qemu-test/make-initramfs.sh" "$initrd"
guest_test_boot --kernel "$kernel" --cpu "$cpu" --mem "$mem" --cache "$build/qemu-cache" \
  --initrd "$initrd" >"$out/boot.log" 2>&1
guest_pause
(( keep )) || guest_on_exit "rm -f '$out'/vmcore.*"
# A loopback pair of our own: tlpsim and the client both bind ports 0x3000+tag, and other
# benches and tests on this machine use 127.0.0.1/2.
net=127.89.$(( $$ % 250 + 1 ))
sim_log=$out/tlpsim.log
"$tlpsim" --memory "$GUEST_RAM" --map "$GUEST_MAP" --listen "$net.2" --latency 12us \
  </dev/null >"$sim_log" 2>&1 &
sim_pid=$!
guest_on_exit "kill $sim_pid; wait $sim_pid"
guest_watch_pid "$sim_pid"
sleep 0.5
kill -0 "$sim_pid" || { cat "$sim_log"; exit 1; }
# The top of RAM, as someone dumping a machine they know would give it: without it discovery
# probes up to 64 GiB, and each silent probe costs retries (6 min at one read at a time).
ram_top=$(( GUEST_MAP_IDENTITY ? GUEST_MEM_MB : GUEST_MEM_MB + 2048 ))M
echo "== $kernel -cpu $cpu, $mem guest (map $GUEST_MAP), tlpsim on $net.2 at 12 us; out $out"
echo "== $(nproc) cores; load at start: $(uptime | sed 's/.*load average: //')"
seq_run() {  # seq_run NAME RUN TAGS BYTES
  local line s
  line=$("$seqread" --adapter "$net.2" --local "$net.1" --tags "$3" --bytes "$4" --from 0)
  s=$(sed -n 's/.* in \([0-9.]*\) s, .*/\1/p' <<<"$line")
  record "$1" "$2" "$s" - "$(sed -n 's/.*, \([0-9.]*\) MB\/s$/\1/p' <<<"$line")" - - "$line"
  echo "  $1 #$2: $line"
}

dump_run() {  # dump_run NAME RUN LEVEL TAGS: tlpstub --dump over tlpsim, timed from its start;
  # MB/s is the RAM's size over the dump's own time (pages a level leaves out are not read)
  local f=$out/vmcore.$1 t0 t1 s ds disk app
  rm -f "$f"
  t0=$(now)
  "$tlpstub" --nettlp "$net.2" --local "$net.1" --ram-size "$ram_top" --tags "$4" --dump "$f" --level "$3" \
    >"$out/$1.$2.out" 2>"$out/$1.$2.log" || { echo "  $1 #$2 failed:"; tail -5 "$out/$1.$2.log"; return 1; }
  t1=$(now)
  s=$(echo "$t1 - $t0" | bc)
  # "wrote F: ..., X MiB of RAM in S s (R MiB/s)": the dump alone, discovery excluded.
  ds=$(sed -n 's/.* MiB of RAM in \([0-9.]*\) s .*/\1/p' "$out/$1.$2.out")
  disk=$(( $(du -k "$f" | cut -f1) * 1024 )) app=$(stat -c %s "$f")
  record "$1" "$2" "$s" "$ds" "$(echo "scale=1; $ram_bytes / $ds / 1000000" | bc)" "$disk" "$app" \
    "$(grep -o 'dump level [0-9]*: excluding[^;]*' "$out/$1.$2.out" | head -n1)"
  printf '  %s #%s: %.1f s from start, dump %.1f s, %.1f MB/s of RAM; %d MiB on disk, %d MiB apparent\n' \
    "$1" "$2" "$s" "$ds" "$(echo "$ram_bytes / $ds / 1000000" | bc -l)" $(( disk >> 20 )) $(( app >> 20 ))
}

level_runs() { [[ $1 == *:* ]] && echo "${1#*:}" || echo "$runs"; }
max_runs=$runs
for l in $levels; do (( $(level_runs "$l") > max_runs )) && max_runs=$(level_runs "$l"); done
(( serial_runs > max_runs )) && max_runs=$serial_runs
for ((r = 1; r <= max_runs; r++)); do
  echo "== round $r, load $(uptime | sed 's/.*load average: //')"
  record load "$r" - - - - - "$(uptime | sed 's/.*load average: //')"
  (( r <= runs )) && seq_run seq-pipelined "$r" 256 "$seq_bytes"
  for l in $levels; do
    (( r <= $(level_runs "$l") )) && dump_run "level${l%%:*}" "$r" "${l%%:*}" 256
  done
  if (( r <= serial_runs )); then
    dump_run "serial-level$serial_level" "$r" "$serial_level" 1
    seq_run seq-serial "$r" 1 "$serial_seq_bytes"
  fi
done
echo "== load after the dumps: $(uptime | sed 's/.*load average: //')"
fi

# monitor ps (no vmlinux) against drgn's for_each_task (with the -dbg vmlinux), same dump.
ps_dump=$ps_only
[[ -n $ps_dump ]] || for l in $levels; do [[ ${l%%:*} == 1 ]] && ps_dump=$out/vmcore.level1; done
[[ -n $ps_dump ]] || { l=$(wc -w <<<"$levels"); l=$(cut -d' ' -f"$l" <<<"$levels"); ps_dump=$out/vmcore.level${l%%:*}; }
ps_run() {  # ps_run NAME RUN SYSROOT: tlpstub start -> gdb prints monitor ps --threads
  local port t0 t1 pid o n try
  port=$(free_port)
  t0=$(now)
  "$tlpstub" --memory "$ps_dump" --listen "127.0.0.1:$port" </dev/null >"$out/$1.$2.log" 2>&1 &
  pid=$!
  until ss -Hltn "sport = :$port" | grep -q .; do
    kill -0 "$pid" 2>/dev/null || { cat "$out/$1.$2.log"; return 1; }
    sleep 0.01
  done
  # Commands answer "try again" while discovery or type recovery still runs (each request
  # waits for them only within gdb's reply budget): ask again, as a person would. So also
  # when no table came back: in the moment between kallsyms and the start of BTF recovery
  # `ps` fails with "kernel types (BTF) not recovered" (seen once; reported, not fixed here).
  for try in $(seq 20); do
    o=$(gdb -nx -batch -ex "set pagination off" -ex "set sysroot $3" \
          -ex "target remote 127.0.0.1:$port" -ex "monitor ps --threads" 2>&1)
    n=$(grep -cE '^ *[0-9]+ +[0-9]+ +[0-9]+ ' <<<"$o" || true)
    (( n > 0 )) && break
  done
  t1=$(now)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$o" >"$out/$1.$2.out"
  record "$1" "$2" "$(echo "$t1 - $t0" | bc)" - - - - "$n tasks, $try gdb runs"
  printf '  %s #%s: %.2f s, %s tasks (%s gdb runs)\n' "$1" "$2" "$(echo "$t1 - $t0" | bc)" "$n" "$try"
}
drgn_run() {  # drgn_run RUN: drgn start -> for_each_task printed
  local t0 t1 n
  t0=$(now)
  /usr/bin/python3 -m drgn -c "$ps_dump" -s "$vmlinux" "$root/qemu-test/vmcore_drgn.py" \
    >"$out/drgn.$1.out" 2>"$out/drgn.$1.log" || { echo "  drgn failed:"; tail -3 "$out/drgn.$1.log"; return 1; }
  t1=$(now)
  n=$(grep -c '^task ' "$out/drgn.$1.out" || true)
  record drgn-for_each_task "$1" "$(echo "$t1 - $t0" | bc)" - - - - "$n tasks"
  printf '  drgn for_each_task #%s: %.2f s, %s tasks\n' "$1" "$(echo "$t1 - $t0" | bc)" "$n"
}
if [[ -f $ps_dump ]]; then
  echo "== monitor ps vs drgn on $(basename "$ps_dump"), load $(uptime | sed 's/.*load average: //')"
  cat "$ps_dump" >/dev/null  # the first run should not be the only one reading from disk
  for ((r = 1; r <= ps_runs; r++)); do
    ps_run monitor-ps "$r" target:
    ps_run monitor-ps-nosymfile "$r" /nonexistent
    if [[ -n $vmlinux && -f $vmlinux ]] && /usr/bin/python3 -c 'import drgn' 2>/dev/null; then drgn_run "$r"; fi
  done
fi

# Medians per variant.
echo "== medians (load at end: $(uptime | sed 's/.*load average: //'))"
python3 - "$results" "$ram_bytes" <<'PY'
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t") if r["variant"] != "load"]
ram = int(sys.argv[2])
by = {}
for r in rows:
    by.setdefault(r["variant"], []).append(r)
med = lambda rs, k: statistics.median(float(r[k]) for r in rs if r[k] not in ("-", ""))
for v, rs in by.items():
    line = f"{v:24} n={len(rs)} {med(rs, 'seconds'):8.2f} s"
    if rs[0]["dump_seconds"] != "-":
        line += f" (dump {med(rs, 'dump_seconds'):.2f} s)"
    if rs[0]["MBps"] != "-":
        line += f" {med(rs, 'MBps'):7.1f} MB/s"
    if rs[0]["disk_bytes"] != "-":
        d, a = med(rs, "disk_bytes"), med(rs, "apparent_bytes")
        line += f"  {d / 2**20:7.1f} MiB on disk ({100 * d / ram:.1f}% of RAM), {a / 2**20:.0f} MiB apparent"
    print(line)
PY
echo "results: $results"
