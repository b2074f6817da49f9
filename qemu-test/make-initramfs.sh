#!/usr/bin/env bash
# make-initramfs.sh OUT.cpio.gz
#
# Builds a busybox-static initramfs whose /init prints ground truth on the
# serial console and idles. Output format (see qemu-test/README.md):
#   ==TLPSTUB-BEGIN <section>==
#   ...lines...
#   ==TLPSTUB-END <section>==
# sections: version cmdline sysinfo kallsyms vmcoreinfo ps iomem; then the sections of any
# /etc/tlpstub-init.d/*.sh (sourced; from a second cpio a test appends); then stacks textsyms pslast
# tids; then ==TLPSTUB-READY==.
# Kernel cmdline `tlpstub.panic=1` makes init print ==TLPSTUB-PANICKING== after
# READY and crash the kernel through /proc/sysrq-trigger.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 OUT.cpio.gz" >&2; exit 2; }
out=$1
busybox=${BUSYBOX:-/bin/busybox}
[[ -x $busybox ]] || { echo "make-initramfs: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }
if ldd "$busybox" >/dev/null 2>&1; then
  echo "make-initramfs: $busybox is dynamically linked; need busybox-static" >&2; exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc}
cp "$busybox" "$root/bin/busybox"
for a in sh mount cat grep awk ps sleep echo mknod sed head tr uname nproc strings; do
  ln -s busybox "$root/bin/$a"
done
# The kernel opens /dev/console before running /init.
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3

# A long-running process with a distinctive comm: the kernel sets comm from the
# executed file's name, so a script named tlpstub-probe shows as tlpstub-probe
# (its child is a plain `sleep`).
cat >"$root/bin/tlpstub-probe" <<'PROBE'
#!/bin/sh
while :; do sleep 100000; done
PROBE
cp "$root/bin/tlpstub-probe" "$root/bin/tlpstub-sleeper"
chmod 755 "$root/bin/tlpstub-probe" "$root/bin/tlpstub-sleeper"

cat >"$root/init" <<'INIT'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
# Real addresses in /proc/kallsyms for root; keep printk off our sections
# (panic messages are KERN_EMERG and still appear).
echo 0 >/proc/sys/kernel/kptr_restrict
echo 1 >/proc/sys/kernel/printk

begin() { echo "==TLPSTUB-BEGIN $1=="; }
end()   { echo "==TLPSTUB-END $1=="; }

# Background processes with known names, started before `ps`.
/bin/tlpstub-probe &
/bin/tlpstub-probe &
/bin/tlpstub-sleeper &
sleep 1

begin version; cat /proc/version; end version
begin cmdline; cat /proc/cmdline; end cmdline
begin sysinfo
echo "uname_r=$(uname -r)"
echo "nproc=$(nproc)"
if grep -qw la57 /proc/cpuinfo; then echo "cpu_la57=1"; else echo "cpu_la57=0"; fi
echo "vmcoreinfo=$(cat /sys/kernel/vmcoreinfo 2>/dev/null)"
end sysinfo
begin kallsyms
awk 'BEGIN {
  n = split("_text _stext _etext _sdata __bss_start linux_banner init_task init_top_pgt " \
            "page_offset_base vmalloc_base vmemmap_base phys_base init_mm init_uts_ns " \
            "kallsyms_names kallsyms_num_syms kallsyms_offsets kallsyms_relative_base " \
            "kallsyms_token_table kallsyms_token_index kallsyms_markers kallsyms_seqs_of_names " \
            "__start_BTF __stop_BTF vmcoreinfo_data vmcoreinfo_note __per_cpu_start " \
            "__per_cpu_end pcpu_base_addr __per_cpu_offset init_cred init_stack prb init_pid_ns " \
            "_end", w, " ")
  for (i = 1; i <= n; i++) want[w[i]] = 1
} NF == 3 && ($3 in want)' /proc/kallsyms
end kallsyms
# VMCOREINFO as the kernel exports it in /proc/kcore's ELF notes (4.19+).
# It has SYMBOL(kallsyms_*) (6.0+), which /proc/kallsyms never lists.
begin vmcoreinfo
head -c 65536 /proc/kcore | strings | grep -E '^(OSRELEASE|BUILD-ID|PAGESIZE|SYMBOL|OFFSET|SIZE|LENGTH|NUMBER|KERNELOFFSET|CRASHTIME)[=(]'
end vmcoreinfo
begin ps; ps -o pid,ppid,stat,comm; end ps
begin iomem; cat /proc/iomem; end iomem
# Steps a test adds in a second cpio appended to this one (qemu-test/logcfg_test.sh).
for f in /etc/tlpstub-init.d/*.sh; do [ -f "$f" ] && . "$f"; done
# Kernel stacks of sleeping tasks that stay asleep until the test reads them (monitor bt,
# qemu-test/bt_test.sh): kthreadd, the probe shells (in wait4) and their `sleep` children
# (in nanosleep), as the kernel prints them (/proc/PID/stack, root only, CONFIG_STACKTRACE).
begin stacks
probes=$(ps -o pid,comm | awk '$2 ~ /^tlpstub-(probe|sleeper)$/ {print $1}')
kids=$(ps -o pid,ppid,comm | awk -v p=" $(echo $probes) " '$3 == "sleep" && index(p, " " $2 " ") {print $1}')
for p in 2 $probes $kids; do echo "pid $p"; cat /proc/$p/stack; done
end stacks
# Where the scheduler's switch code lies: each wanted text symbol and the next text symbol
# above it (two passes over kallsyms; fixed-width hex compares as text).
begin textsyms
awk 'NR == FNR { if ($3 == "__switch_to_asm" || $3 == "__schedule") a[$3] = $1; next }
     $2 ~ /^[tT]$/ { for (s in a) if ($1 > a[s] && (!(s in n) || $1 < n[s])) n[s] = $1 }
     END { for (s in a) print s, a[s], n[s] }' /proc/kallsyms /proc/kallsyms
end textsyms
# The last processes and every task id, just before READY: the test pauses the guest after
# READY, and nothing but init's next `sleep` (a higher pid) starts in between. The tid list
# uses shell builtins only, so it creates no task of its own.
begin pslast; ps -o pid,ppid,stat,comm; end pslast
begin tids; for t in /proc/[0-9]*/task/[0-9]*; do echo "${t##*/}"; done; end tids
echo "==TLPSTUB-READY=="
# bench/tasks_bench.sh appends /bin/tlpstub-threads and asks for N threads on the cmdline.
n=$(sed -n 's/.*tlpstub\.threads=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -n "$n" ] && [ -x /bin/tlpstub-threads ]; then /bin/tlpstub-threads "$n" & fi

if grep -qw 'tlpstub.panic=1' /proc/cmdline; then
  sleep 1
  echo "==TLPSTUB-PANICKING=="
  echo c >/proc/sysrq-trigger
fi
while :; do sleep 3600; done
INIT
chmod 755 "$root/init"

mkdir -p "$(dirname "$out")"
tmp=$out.tmp.$$
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 -n >"$tmp"
mv "$tmp" "$out"
