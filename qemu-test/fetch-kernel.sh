#!/usr/bin/env bash
# fetch-kernel.sh [--offline] [--no-dbg] [--vmlinux] KERNEL CACHE_DIR
#
# Resolve a Debian kernel through its meta-package, download it with
# `apt-get download` into CACHE_DIR (once), extract its /boot and print
# shell-sourceable lines (eval "$(fetch-kernel.sh ...)"):
#   PACKAGE=linux-image-6.1.0-56-cloud-amd64
#   VERSION=6.1.192-2
#   VMLINUZ=/.../root/boot/vmlinuz-6.1.0-56-cloud-amd64
#   CONFIG=/.../root/boot/config-6.1.0-56-cloud-amd64
#   SYSTEM_MAP=/.../dbg/System.map-6.1.0-56-cloud-amd64
#   VMLINUX=/.../dbg/vmlinux-6.1.0-56-cloud-amd64      (only with --vmlinux)
#   MODULE=/.../root/lib/modules/.../drivers/net/dummy.ko[.xz]  (a module for modules_test.sh)
#
# KERNEL: 6.1-cloud  (meta linux-image-cloud-amd64)
#         6.12       (meta linux-image-6.12-amd64)
# The concrete package is whatever the meta-package depends on today, so a
# security update does not break the harness; a new version is fetched once.
# From the meta-package we take the first linux-image-* dependency whose .deb
# contains /boot/vmlinuz-* (signed images do; a meta pointing at another meta,
# or at an -unsigned twin, is followed). Only /boot is kept.
#
# System.map: Debian's /boot/System.map-* is a one-line placeholder. The real
# one (every symbol, incl. kallsyms_markers, which neither /proc/kallsyms nor
# VMCOREINFO gives) is in PACKAGE-dbg (283 MB for 6.1-cloud, 1 GB for 6.12;
# the map sits at the start of the archive, so extracting it takes 0.1 s).
# It is fetched unless --no-dbg; the .deb is deleted afterwards.
# --vmlinux also keeps the DWARF vmlinux from -dbg (590 MB for 6.1-cloud).
# --offline: no apt at all; print what the last online call resolved.
# If apt knows nothing (no lists yet) and nothing is cached, `apt-get update`
# is run once; with no apt but a cached kernel, the cache is used.
set -euo pipefail

die() { echo "fetch-kernel: $*" >&2; exit 1; }
log() { echo "fetch-kernel: $*" >&2; }

offline=0 dbg=1 want_vmlinux=0
while [[ ${1:-} == --* ]]; do
  case "$1" in
    --offline) offline=1 ;;
    --no-dbg) dbg=0 ;;
    --vmlinux) want_vmlinux=1 ;;
    *) die "unknown option $1" ;;
  esac
  shift
done
[[ $# -eq 2 ]] || die "usage: $0 [--offline] [--no-dbg] [--vmlinux] KERNEL(6.1-cloud|6.12) CACHE_DIR"
kernel=$1
cache=$2
case "$kernel" in
  6.1-cloud) meta=linux-image-cloud-amd64 ;;
  6.12)      meta=linux-image-6.12-amd64 ;;
  *) die "unknown kernel '$kernel' (want 6.1-cloud or 6.12)" ;;
esac

mkdir -p "$cache/$kernel"
cache=$(cd "$cache" && pwd)
kdir=$cache/$kernel

# One fetch per kernel at a time (CTest fixtures, parallel callers).
exec 9>"$kdir/.lock"
flock 9

# Direct linux-image-* dependencies of a package, as apt-cache sees them.
deps_of() {
  apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "$1" 2>/dev/null |
    sed -n 's/^ *|\{0,1\}\(Pre\)\{0,1\}Depends: \([^ <>]*\).*/\2/p' |
    grep '^linux-image-' || true
}

pkg_version() {
  apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '(none)' || true
}

first() { local f; for f in "$@"; do if [[ -e $f ]]; then echo "$f"; return 0; fi; done; return 0; }

print_result() {  # $1 = package dir
  local d=$1 vmlinuz config smap vmlinux module
  vmlinuz=$(first "$d"/root/boot/vmlinuz-*)
  config=$(first "$d"/root/boot/config-*)
  smap=$(first "$d"/dbg/System.map-*)
  vmlinux=$(first "$d"/dbg/vmlinux-*)
  module=$(first "$d"/root/lib/modules/*/kernel/drivers/net/dummy.ko*)
  [[ -n $vmlinuz ]] || die "no vmlinuz in $d"
  printf 'PACKAGE=%q\nVERSION=%q\nVMLINUZ=%q\nCONFIG=%q\nSYSTEM_MAP=%q\nVMLINUX=%q\nMODULE=%q\n' \
    "$(cat "$d/package")" "$(cat "$d/version")" "$vmlinuz" "$config" "$smap" "$vmlinux" "$module"
}

# Fetch PACKAGE-dbg for the real System.map (and the vmlinux if asked).
fetch_dbg() {  # $1 = package dir
  local d=$1 pkg ver dpkg deb
  pkg=$(cat "$d/package"); ver=$(cat "$d/version")
  dpkg=${pkg%-unsigned}-dbg
  [[ -n $(first "$d"/dbg/System.map-*) ]] && { ((!want_vmlinux)) || [[ -n $(first "$d"/dbg/vmlinux-*) ]]; } && return 0
  [[ -f $d/no-dbg ]] && return 0
  mkdir -p "$d/dbg.tmp"
  rm -f "$d"/dbg.tmp/*.deb
  log "downloading $dpkg $ver (for System.map)"
  if ! (cd "$d/dbg.tmp" && apt-get download -q -o APT::Sandbox::User=root "$dpkg=$ver" >&2); then
    log "no $dpkg=$ver: SYSTEM_MAP stays empty"
    touch "$d/no-dbg"; rm -rf "$d/dbg.tmp"; return 0
  fi
  deb=$(first "$d"/dbg.tmp/*.deb)
  local members=('./usr/lib/debug/boot/System.map-*')
  ((want_vmlinux)) && members+=('./usr/lib/debug/boot/vmlinux-*')
  # --occurrence stops tar once the members are out: the map is near the
  # start of a multi-GB archive. dpkg-deb then complains of a broken pipe.
  dpkg-deb --fsys-tarfile "$deb" 2>/dev/null |
    tar -x -C "$d/dbg.tmp" --occurrence=1 --wildcards "${members[@]}" || true
  mkdir -p "$d/dbg"
  local f
  for f in "$d"/dbg.tmp/usr/lib/debug/boot/*; do [[ -f $f ]] && mv "$f" "$d/dbg/"; done
  rm -rf "$d/dbg.tmp"
  [[ -n $(first "$d"/dbg/System.map-*) ]] || log "no System.map in $dpkg"
}

finish() {  # $1 = package dir
  echo "${1##*/}" >"$kdir/current"
  ((dbg)) && fetch_dbg "$1"
  print_result "$1"
  exit 0
}

cached_current() {
  local last
  last=$(cat "$kdir/current" 2>/dev/null || true)
  [[ -n $last && -f $kdir/$last/done ]] && echo "$kdir/$last"
}

if ((offline)); then
  d=$(cached_current) || die "--offline: nothing cached for $kernel in $cache (run without --offline)"
  print_result "$d"
  exit 0
fi

if [[ -z $(deps_of "$meta") ]]; then
  # apt knows nothing: before updating, see whether a cached kernel will do.
  if d=$(cached_current); then
    log "apt cannot resolve $meta; using cached ${d##*/}"
    print_result "$d"; exit 0
  fi
  log "apt-cache knows nothing of $meta: running apt-get update"
  apt-get update -qq >&2 || log "apt-get update failed"
  [[ -n $(deps_of "$meta") ]] || die "cannot resolve $meta with apt-cache"
fi

# Breadth-first over linux-image-* dependencies, starting at the meta package.
queue=($(deps_of "$meta"))
seen=" $meta "
while ((${#queue[@]})); do
  pkg=${queue[0]}; queue=("${queue[@]:1}")
  [[ $seen == *" $pkg "* ]] && continue
  seen+="$pkg "
  ver=$(pkg_version "$pkg")
  [[ -n $ver ]] || continue   # virtual or unknown
  pdir=$kdir/${pkg}_${ver//[:~]/_}
  [[ -f $pdir/done ]] && finish "$pdir"
  if [[ -f $pdir/no-vmlinuz ]]; then
    queue+=($(deps_of "$pkg"))
    continue
  fi
  mkdir -p "$pdir"
  log "downloading $pkg $ver"
  rm -f "$pdir"/*.deb
  (cd "$pdir" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >&2) ||
    die "apt-get download $pkg=$ver failed"
  deb=$(first "$pdir"/*.deb)
  listing=$(dpkg-deb -c "$deb") || die "dpkg-deb -c $deb failed"
  if grep -q '\./boot/vmlinuz-' <<<"$listing"; then
    rm -rf "$pdir/root.tmp" "$pdir/root"
    mkdir -p "$pdir/root.tmp"
    # /boot, and one small module with no dependencies (drivers/net/dummy.ko) that
    # modules_test.sh loads in the guest: the rest of /lib/modules is not needed.
    members=(./boot)
    mod=$(grep -o '\./lib/modules/[^ ]*/kernel/drivers/net/dummy\.ko[.a-z]*$' <<<"$listing" | head -n 1 || true)
    [[ -n $mod ]] && members+=("$mod")
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$pdir/root.tmp" "${members[@]}"
    mv "$pdir/root.tmp" "$pdir/root"
    echo "$pkg" >"$pdir/package"
    echo "$ver" >"$pdir/version"
    rm -f "$deb"
    touch "$pdir/done"
    finish "$pdir"
  fi
  log "$pkg has no /boot/vmlinuz; following its dependencies"
  rm -f "$deb"
  touch "$pdir/no-vmlinuz"
  queue+=($(deps_of "$pkg"))
  # an -unsigned twin is a candidate too
  [[ $pkg == *-unsigned ]] || queue+=("$pkg-unsigned")
done
die "no package reachable from $meta contains /boot/vmlinuz"
