#!/usr/bin/env bash
# lxscripts_test.sh --tlpstub BIN --kernel K --cpu C --cache DIR --initrd FILE [--workdir DIR]
#
# The kernel's own gdb scripts through tlpstub on a KASLR guest (issue 10): stock gdb with the
# -dbg vmlinux and the repository's gdbinit (which loads it at the slide), then the kernel's
# scripts/gdb from Debian's linux-source package with constants.py made from Debian's headers
# (qemu-test/fetch-gdb-scripts.sh). Ground truth is the guest's, from its serial console:
#  (a) lx-ps: the pids of every task below the pid of the guest's last `ps` (which exits
#      before the test reads) equal the guest's /proc task ids (section tids), plus pid 0;
#  (b) lx-dmesg: holds the line the guest wrote to /dev/kmsg, as the guest's own dmesg prints
#      it (timestamp included);
#  (c) lx-lsmod: lists dummy, which the guest loaded (insmod), at /proc/modules' address.
# Needs the vmlinux (fetch-kernel.sh --vmlinux, 590 MB for 6.1-cloud) and the scripts
# (139 MB linux-source download); exit 77 without them or the tlpstub binary (failures under
# CI=true).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

test_take_tlpstub "$@"
tlpstub=$TLPSTUB rest=() kernel= cache= initrd=
set -- "${TEST_ARGS[@]}"
while (($#)); do
  case "$1" in
    --kernel) kernel=$2; rest+=("$1" "$2"); shift 2 ;;
    --cache) cache=$2; rest+=("$1" "$2"); shift 2 ;;
    --initrd) initrd=$2; shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
[[ -n $kernel && -n $cache && -n $initrd ]] || guest_die "need --kernel, --cache, --initrd"
t_start=$SECONDS
VMLINUX= MODULE= GDB_SCRIPTS=
eval "$("$here/fetch-kernel.sh" --offline "$kernel" "$cache" 2>/dev/null || true)"
[[ -n $VMLINUX && -f $VMLINUX ]] || test_skip "no vmlinux for $kernel (fetch-kernel.sh --vmlinux $kernel $cache)"
[[ -n $MODULE && -f $MODULE ]] || test_skip "no dummy.ko in the $kernel package cache"
eval "$("$here/fetch-gdb-scripts.sh" "$kernel" "$cache")" || true
[[ -n $GDB_SCRIPTS && -f $GDB_SCRIPTS ]] || test_skip "the kernel's gdb scripts for $kernel could not be fetched"
t_fetch=$(( SECONDS - t_start ))

# ---- the initramfs: the base one + dummy.ko and a step that loads it and writes to the log --
build=$(mktemp -d "${TMPDIR:-/tmp}/tlpstub-lx.XXXXXX")
guest_on_exit "rm -rf '$build'"
[[ -f $initrd ]] || "$here/make-initramfs.sh" "$initrd"
root=$build/root
mkdir -p "$root/lib" "$root/etc/tlpstub-init.d"
case $MODULE in
  *.xz) xz -dc "$MODULE" >"$root/lib/dummy.ko" ;;
  *.zst) zstd -dcq "$MODULE" >"$root/lib/dummy.ko" ;;
  *) cp "$MODULE" "$root/lib/dummy.ko" ;;
esac
cat >"$root/etc/tlpstub-init.d/lxscripts.sh" <<'STEP'
busybox insmod /lib/dummy.ko || echo "insmod dummy.ko failed"
echo "tlpstub-lxscripts: a line for lx-dmesg" >/dev/kmsg
begin lxdmesg; busybox dmesg | grep 'tlpstub-lxscripts:'; end lxdmesg
begin modules; cat /proc/modules; end modules
STEP
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) |
  gzip -n >"$build/lx.cpio.gz"
cat "$initrd" "$build/lx.cpio.gz" >"$build/initrd.cpio.gz"

guest_test_boot --initrd "$build/initrd.cpio.gz" "${rest[@]}"
guest_pause   # tids and pslast were printed just before READY; nothing else starts now
tmp=$GUEST_DIR
dmesg_line=$(guest_truth lxdmesg | tr -d '\r' | head -n1)
dummy_line=$(guest_truth modules | tr -d '\r' | grep '^dummy ' || true)
[[ -n $dmesg_line && -n $dummy_line ]] || guest_die "no lxdmesg/modules truth (insmod failed?)"
echo "guest: dmesg '$dmesg_line'; modules '$dummy_line'"

port=$(free_port)
targs=(--memory "$GUEST_RAM")
(( GUEST_MAP_IDENTITY )) || targs+=(--map "$GUEST_MAP")
stub_start "$tlpstub" "$tmp/tlpstub.log" "$port" "${targs[@]}"
stub_wait_recovered "$port"

# gdb VMLINUX -x gdbinit connects and loads the vmlinux at the slide; only then can the
# kernel's scripts load (constants.py evaluates kernel symbols on import).
t0=$SECONDS
TLPSTUB=127.0.0.1:$port timeout 300 gdb -batch -nx -x "$here/../gdbinit" "$VMLINUX" \
  -ex "source $GDB_SCRIPTS" \
  -ex "echo ==PS==\\n" -ex "lx-ps" -ex "echo ==DMESG==\\n" -ex "lx-dmesg" \
  -ex "echo ==LSMOD==\\n" -ex "lx-lsmod" -ex "echo ==END==\\n" </dev/null >"$tmp/gdb.log" 2>&1 || true
t_gdb=$(( SECONDS - t0 ))
seg() { awk -v b="==$1==" '$0 == "==END==" || ($0 ~ /^==[A-Z]+==$/ && $0 != b) {f = 0} f {print} $0 == b {f = 1}' "$tmp/gdb.log"; }
grep -m1 '^tlpstub: loaded' "$tmp/gdb.log" || fail "gdbinit did not load the vmlinux: $(head -n 5 "$tmp/gdb.log" | tr '\n' ' ')"
grep -iE 'error|Traceback|No symbol' "$tmp/gdb.log" | head -n 5 | sed 's/^/    gdb: /' || true

seg PS >"$tmp/lxps.txt"
seg DMESG >"$tmp/lxdmesg.txt"
seg LSMOD >"$tmp/lxlsmod.txt"
echo "lx-ps: $(grep -c . "$tmp/lxps.txt") lines; lx-dmesg: $(grep -c . "$tmp/lxdmesg.txt") lines; lx-lsmod:"
sed 's/^/    /' "$tmp/lxlsmod.txt"
if python3 "$here/lxscripts_compare.py" --serial "$GUEST_SERIAL" --lx-ps "$tmp/lxps.txt" \
     --lx-dmesg "$tmp/lxdmesg.txt" --lx-lsmod "$tmp/lxlsmod.txt" >"$tmp/compare.log" 2>&1; then
  pass "lx-ps, lx-dmesg and lx-lsmod through tlpstub agree with the guest"
else
  fail "the kernel's gdb scripts differ from the guest (see $tmp/compare.log, $tmp/gdb.log)"
fi
sed 's/^/    /' "$tmp/compare.log"
echo "times: $(( SECONDS - t_start )) s total, fetch/check of the scripts $t_fetch s, gdb with the scripts $t_gdb s"
test_summary
