#!/usr/bin/env bash
# smoke.sh --kernel K --cpu C --cache DIR --initrd FILE [--workdir DIR] [--mem SIZE] [--panic]
#
# Harness self-test: boots the guest and checks that the ground truth, QEMU's
# gdbstub, QEMU's page walk (gva2gpa) and the shared RAM file agree.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

guest_test_boot "$@"
tmp=$GUEST_DIR
if [[ " $* " == *" --panic "* ]]; then
  # tlpstub.panic=1: init crashes the kernel after READY; with panic=0 the
  # dead kernel spins and QEMU (and the RAM file) stay.
  guest_wait_ready 60 'end Kernel panic'
  sleep 1
  guest_running && pass "panicked guest stays up: $(tr -d '\r' <"$GUEST_SERIAL" | grep -m1 'Kernel panic')" ||
    fail "QEMU exited after the panic"
fi

version=$(guest_truth version)
if [[ $version == "Linux version "* ]]; then pass "version truth: ${version:0:60}..."; else fail "no /proc/version truth"; fi

uname_r=$(guest_truth sysinfo uname_r)
osrel=$(guest_vmcoreinfo OSRELEASE)
[[ -n $uname_r && $osrel == "$uname_r" ]] && pass "VMCOREINFO OSRELEASE=$osrel" || fail "VMCOREINFO OSRELEASE '$osrel' vs uname -r '$uname_r'"

la57=$(guest_truth sysinfo cpu_la57)
l5=$(guest_vmcoreinfo 'NUMBER(pgtable_l5_enabled)')
want=0; [[ $GUEST_CPU == max ]] && want=1
[[ $la57 == "$want" && ${l5:-x} == "$want" ]] && pass "paging: la57=$la57 pgtable_l5_enabled=$l5" ||
  fail "paging: cpu_la57=$la57 pgtable_l5_enabled=$l5, want $want for -cpu $GUEST_CPU"

for s in _text init_task init_top_pgt init_mm page_offset_base phys_base kallsyms_names \
         kallsyms_num_syms kallsyms_token_table kallsyms_token_index kallsyms_markers \
         kallsyms_offsets kallsyms_relative_base; do
  guest_sym "$s" >/dev/null 2>&1 || fail "symbol $s not in the ground truth"
done
# System.map (from -dbg) + KASLR slide must reproduce the guest's kallsyms.
# (The qemu_map_* fixture fetches it; it is the only source for kallsyms_markers above.)
if [[ -n $GUEST_SYSTEM_MAP ]]; then
  slide=$(guest_kaslr_slide)
  bad=$(guest_truth kallsyms | while read -r a t n; do
          [[ $t == [aA] ]] && continue
          m=$(awk -v n="$n" '$3 == n {print $1; exit}' "$GUEST_SYSTEM_MAP")
          [[ -n $m ]] && (( 16#$m + slide != 16#$a )) && echo "$n"
        done || true)
  [[ -z $bad ]] && pass "System.map + slide $slide == kallsyms truth" || fail "System.map + slide differs for: $bad"
else
  fail "no real System.map (fetch-kernel.sh without --no-dbg): kallsyms_markers has no ground truth"
fi

pgd=$(guest_sym init_top_pgt)
swapper=0x$(guest_vmcoreinfo 'SYMBOL(swapper_pg_dir)')
(( pgd == swapper )) && pass "init_top_pgt $pgd == VMCOREINFO swapper_pg_dir" || fail "init_top_pgt $pgd != swapper_pg_dir $swapper"

grep -q tlpstub-probe <(guest_truth ps) && pass "ps shows tlpstub-probe" || fail "ps truth lacks tlpstub-probe"

cr3=$(guest_cr3)
(( cr3 != 0 )) && pass "CR3 from QEMU: $cr3 (init_top_pgt at phys $(guest_kva2pa "$pgd"))" || fail "no CR3"

banner=$(guest_sym linux_banner)
len=$(( ${#version} + 1 ))
guest_ref_dump "$banner" "$len" "$tmp/banner.gdb"
printf '%s\n' "$version" >"$tmp/banner.want"
cmp -s "$tmp/banner.gdb" "$tmp/banner.want" && pass "linux_banner $banner via QEMU gdbstub == /proc/version" ||
  fail "linux_banner via gdbstub: '$(head -c 80 "$tmp/banner.gdb")'"

pa=$(guest_kva2pa "$banner")
gpa=$(guest_gva2gpa "$banner")
(( pa == gpa )) && pass "banner phys $pa (phys_base $(guest_phys_base)) == QEMU gva2gpa" || fail "banner phys $pa != gva2gpa $gpa"
pbv=$(guest_vmcoreinfo 'NUMBER(phys_base)')
(( (pbv & 0xffffffffffffffff) == $(guest_phys_base) )) && pass "phys_base matches VMCOREINFO" || fail "phys_base $(guest_phys_base) vs VMCOREINFO $pbv"

guest_ram_dump "$gpa" "$len" "$tmp/banner.ram"
cmp -s "$tmp/banner.ram" "$tmp/banner.want" && pass "RAM file at $gpa holds the banner (map $GUEST_MAP)" ||
  fail "RAM file at $gpa: '$(head -c 80 "$tmp/banner.ram")'"

# A larger reference read, paused so it is exact: QEMU's gdbstub vs RAM file.
it=$(guest_sym init_task)
guest_pause
guest_ref_dump "$it" 8192 "$tmp/init_task.gdb"
guest_ram_dump "$(guest_kva2pa "$it")" 8192 "$tmp/init_task.ram"
guest_resume
cmp -s "$tmp/init_task.gdb" "$tmp/init_task.ram" && pass "init_task 8 KiB: gdbstub == RAM file" || fail "init_task: gdbstub != RAM file"

ram=$GUEST_RAM qemu_pid=$GUEST_QEMU_PID
guest_stop
if kill -0 "$qemu_pid" 2>/dev/null; then fail "QEMU (pid $qemu_pid) still running after guest_stop"
elif [[ -e $ram ]]; then fail "RAM file $ram left behind"
else pass "guest stopped, RAM file removed"; fi
test_summary
