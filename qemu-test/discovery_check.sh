#!/usr/bin/env bash
# discovery_check.sh [--driver PATH] [--map SPEC] [--mode MODE]... RAMFILE SERIAL_LOG
#
# Checks kernel discovery (kernel/discovery*.cpp) against a QEMU guest's own ground truth: runs
# tests/kernel/discovery_driver on the guest's RAM file and compares what it found with the
# guest's serial log (qemu-test/make-initramfs.sh prints /proc/kallsyms lines, /proc/iomem,
# uname and la57 between markers; read with lib.sh's guest_truth/guest_sym).
#
# MODE: vmcoreinfo (default discovery), scan (--no-vmcoreinfo), wiped (the VMCOREINFO page
# found first is read as zeros, so discovery must fall back on its own); default: all three.
# Checked per mode: release, _text, KASLR slide (VMCOREINFO KERNELOFFSET, as the guest printed
# it), phys_base (from iomem "Kernel code"), linux_banner VA and PA, init_top_pgt VA and PA (VA -
# 0xffffffff80000000 + phys_base), paging depth (la57), page_offset_base / vmalloc_base /
# vmemmap_base against the guest's variables, read from the RAM file at their kallsyms
# addresses (harness.py u64: no page walk, the image is physically contiguous). "unknown" (0)
# is accepted for vmalloc_base / vmemmap_base only where the kernel does not say: without
# VMCOREINFO (modes scan, wiped), or when the guest's VMCOREINFO lacks NUMBER(VMALLOC_START) /
# SYMBOL(vmemmap) (6.1).
# Prints each mode's cost (reads, bytes, seconds). Exit status 0 = all checks passed.
#
# --driver defaults to $DISCOVERY_DRIVER, then discovery_driver in PATH.
# --map: the tlpstub --map spec for guests >= 2816 MiB (GUEST_MAP from lib.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
driver=${DISCOVERY_DRIVER:-}
map=
modes=()
while (($#)); do
  case "$1" in
    --driver) driver=$2; shift 2 ;;
    --map) map=$2; shift 2 ;;
    --mode) modes+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    --*) echo "discovery_check: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[[ $# -eq 2 ]] || { echo "usage: $0 [--driver PATH] [--map SPEC] [--mode vmcoreinfo|scan|wiped]... RAMFILE SERIAL_LOG" >&2; exit 2; }
ram=$1
GUEST_SERIAL=$2
((${#modes[@]})) || modes=(vmcoreinfo scan wiped)
[[ -n $driver ]] || driver=$(command -v discovery_driver || true)
[[ -x $driver ]] || { echo "discovery_check: no discovery_driver (use --driver or DISCOVERY_DRIVER)" >&2; exit 2; }
[[ -f $ram ]] || { echo "discovery_check: $ram: no such file" >&2; exit 2; }
[[ -f $GUEST_SERIAL ]] || { echo "discovery_check: $GUEST_SERIAL: no such file" >&2; exit 2; }

# shellcheck source=lib.sh
source "$here/lib.sh"
GUEST_SYSTEM_MAP=

hex() { printf '0x%x' "$(( $1 ))"; }

# Ground truth from the serial log.
release=$(guest_truth sysinfo uname_r)
la57=$(guest_truth sysinfo cpu_la57)
slide=$(guest_kaslr_slide)
text=$(guest_sym _text)
banner_va=$(guest_sym linux_banner)
top_va=$(guest_sym init_top_pgt)
pob_va=$(guest_sym page_offset_base)
vmalloc_va=$(guest_sym vmalloc_base)
vmemmap_va=$(guest_sym vmemmap_base)
phys_base=$(guest_phys_base)
# The variables' values, from the RAM file (they are set once at boot).
for v in pob vmalloc vmemmap; do
  va=${v}_va
  val=$(harness u64 "$ram" "$GUEST_SERIAL" "${!va}") ||
    { echo "discovery_check: cannot read ${v} at ${!va} from $ram" >&2; exit 2; }
  printf -v "$v" '%s' "$val"
done
# Where the kernel tells (VMCOREINFO), discovery must report them.
told_vmalloc=$([[ -n $(guest_vmcoreinfo 'NUMBER(VMALLOC_START)') ]] && echo 1 || echo 0)
told_vmemmap=$([[ -n $(guest_vmcoreinfo 'SYMBOL(vmemmap)') ]] && echo 1 || echo 0)
[[ -n $release && -n $text && -n $top_va && -n $phys_base && -n $slide && $pob == 0x* ]] ||
  { echo "discovery_check: $GUEST_SERIAL lacks ground truth (sysinfo/kallsyms/iomem)" >&2; exit 2; }
want_levels=4; [[ $la57 == 1 ]] && want_levels=5
kpa() { hex "$1 - 0xffffffff80000000 + $phys_base"; }

failures=0
check() {  # check MODE NAME GOT WANT
  if [[ $(( $3 )) -eq $(( $4 )) ]]; then
    printf '  ok    %-18s %s\n' "$2" "$(hex "$3")"
  else
    printf '  FAIL  %-18s got %s, guest says %s\n' "$2" "$(hex "$3")" "$(hex "$4")"
    failures=$((failures + 1))
  fi
}

for mode in "${modes[@]}"; do
  args=("$ram")
  [[ -n $map ]] && args+=(--map "$map")
  case "$mode" in
    vmcoreinfo) ;;
    scan) args+=(--no-vmcoreinfo) ;;
    wiped) args+=(--wipe-vmcoreinfo) ;;
    *) echo "discovery_check: unknown mode $mode" >&2; exit 2 ;;
  esac
  echo "== $mode: $driver ${args[*]}"
  if ! out=$("$driver" "${args[@]}" 2>&1); then
    echo "$out" | sed 's/^/  | /'
    echo "  FAIL  discovery failed"
    failures=$((failures + 1))
    continue
  fi
  get() { sed -n "s/^$1=//p" <<<"$out" | head -n1; }

  method=$(get method)
  want_method=$mode; [[ $mode == wiped ]] && want_method=scan
  if [[ $method == "$want_method" ]]; then echo "  ok    method             $method"
  else echo "  FAIL  method             got $method, want $want_method"; failures=$((failures + 1)); fi
  if [[ $(get release) == "$release" ]]; then echo "  ok    release            $release"
  else echo "  FAIL  release            got $(get release), guest says $release"; failures=$((failures + 1)); fi

  check "$mode" _text "$(get text_va)" "$text"
  check "$mode" kaslr_slide "$(get kaslr_slide)" "$slide"
  check "$mode" phys_base "$(get phys_base)" "$phys_base"
  check "$mode" linux_banner "$(get banner_va)" "$banner_va"
  check "$mode" linux_banner.pa "$(get banner_pa)" "$(kpa "$banner_va")"
  check "$mode" init_top_pgt "$(get top_va)" "$top_va"
  check "$mode" init_top_pgt.pa "$(get top)" "$(kpa "$top_va")"
  check "$mode" levels "$(get levels)" "$want_levels"

  check "$mode" page_offset_base "$(get page_offset_base)" "$pob"
  for v in vmalloc vmemmap; do
    got=$(get "${v}_base") told=told_$v
    if [[ $got == 0x* ]] && (( got == 0 )); then
      if [[ $mode == vmcoreinfo ]] && (( ${!told} )); then
        printf '  FAIL  %-18s unknown, but the guest'"'"'s VMCOREINFO gives it (guest: %s)\n' "${v}_base" "${!v}"
        failures=$((failures + 1))
      else
        printf '  ok    %-18s unknown (not in VMCOREINFO; guest: %s)\n' "${v}_base" "${!v}"
      fi
    else
      check "$mode" "${v}_base" "${got:-none}" "${!v}"
    fi
  done
  echo "  cost  $(get cost_reads) reads, $(get cost_bytes) bytes, $(get cost_seconds) s"
done

if ((failures)); then
  echo "discovery_check: $failures check(s) FAILED"
  exit 1
fi
echo "discovery_check: all checks passed"
