#!/usr/bin/env bash
# fetch-gdb-scripts.sh KERNEL CACHE_DIR
#
# The kernel's own gdb scripts (lx-ps, lx-dmesg, lx-lsmod, ...) for the Debian kernel that
# fetch-kernel.sh cached, kept once in the package's cache directory; prints a
# shell-sourceable line:
#   GDB_SCRIPTS=/.../gdb-scripts/vmlinux-gdb.py    (beside it scripts/gdb/linux/*.py)
#
# Where Debian has them (bookworm, 6.1.192-3): linux-image-*-dbg holds only System.map,
# vmlinux, the modules' debug files and vdso (no vmlinux-gdb.py, no scripts/gdb); nor do
# linux-headers-* or linux-kbuild-*. linux-source-6.1 (139 MB) holds the source tarball, whose
# scripts/gdb has the Python files and constants.py.in, not the generated constants.py (the
# kernel build makes it with the C preprocessor). So it is made here as the kernel's
# scripts/gdb/linux/Makefile does (`$(CPP) -E -x c -P $(c_flags)`, then everything up to the
# end-c-headers marker dropped), against the same kernel's headers and configuration from
# Debian's linux-headers-ABI-common and linux-headers-ABI-FLAVOUR (13 MB together).
# The .debs are deleted afterwards; what stays is about 300 KB.
set -euo pipefail
die() { echo "fetch-gdb-scripts: $*" >&2; exit 1; }
log() { echo "fetch-gdb-scripts: $*" >&2; }
[[ $# -eq 2 ]] || die "usage: $0 KERNEL(6.1-cloud|6.12) CACHE_DIR"
here=$(cd "$(dirname "$0")" && pwd)
info=$("$here/fetch-kernel.sh" --offline --no-dbg "$1" "$2") || die "no cached kernel $1 (run fetch-kernel.sh)"
PACKAGE= VERSION= VMLINUZ=
eval "$info"
pdir=$(cd "$(dirname "$VMLINUZ")/../.." && pwd)   # .../PACKAGE_VERSION (root/boot/vmlinuz-*)
out=$pdir/gdb-scripts
if [[ -f $out/done ]]; then printf 'GDB_SCRIPTS=%q\n' "$out/vmlinux-gdb.py"; exit 0; fi

command -v gcc >/dev/null || die "gcc missing (the C preprocessor makes constants.py)"
# linux-image-6.1.0-57-cloud-amd64 (or ...-unsigned) -> ABI 6.1.0-57, flavour cloud-amd64
name=${PACKAGE%-unsigned}; name=${name#linux-image-}
[[ $name =~ ^([0-9]+\.[0-9]+)\.[0-9]+-[0-9]+(\+[a-z0-9]+)?-(.+)$ ]] || die "cannot parse package name $PACKAGE"
series=${BASH_REMATCH[1]} flavour=${BASH_REMATCH[3]}
abi=${name%-"$flavour"}
exec 9>"$pdir/.gdb-scripts.lock"
flock 9
tmp=$pdir/gdb-scripts.tmp
rm -rf "$tmp"; mkdir -p "$tmp"
pkgs=("linux-source-$series=$VERSION" "linux-headers-$abi-common=$VERSION" "linux-headers-$abi-$flavour=$VERSION")
log "downloading ${pkgs[*]}"
(cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "${pkgs[@]}" >&2) ||
  die "apt-get download ${pkgs[*]} failed"
for d in "$tmp"/linux-headers-*.deb; do dpkg-deb -x "$d" "$tmp/hdr"; done
src=$(ls "$tmp"/linux-source-*.deb)
# The source tarball is one member of the .deb: stream it and keep scripts/gdb only.
dpkg-deb --fsys-tarfile "$src" | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' |
  xz -dc | tar -x -C "$tmp" --wildcards '*/scripts/gdb/*'
sg=$(ls -d "$tmp"/linux-source-*/scripts/gdb) || die "no scripts/gdb in $src"
[[ -f $sg/vmlinux-gdb.py && -f $sg/linux/constants.py.in ]] || die "scripts/gdb in $src is incomplete"
common=$(ls -d "$tmp"/hdr/usr/src/linux-headers-"$abi"-common)
flav=$(ls -d "$tmp"/hdr/usr/src/linux-headers-"$abi-$flavour")
# Kbuild's include path and forced includes for x86 (Makefile, arch/x86/Makefile).
gcc -E -x c -P -nostdinc -D__KERNEL__ \
  -I"$flav/arch/x86/include/generated" -I"$common/arch/x86/include" -I"$common/include" \
  -I"$common/arch/x86/include/uapi" -I"$flav/arch/x86/include/generated/uapi" \
  -I"$common/include/uapi" -I"$flav/include/generated/uapi" -I"$flav/include" \
  -include "$common/include/linux/compiler-version.h" -include "$common/include/linux/kconfig.h" \
  -include "$common/include/linux/compiler_types.h" \
  -DKBUILD_MODNAME='"constants"' -DKBUILD_BASENAME='"constants"' \
  "$sg/linux/constants.py.in" -o "$tmp/constants.raw" || die "preprocessing constants.py.in failed"
mkdir -p "$tmp/out/scripts/gdb"
cp -r "$sg/linux" "$tmp/out/scripts/gdb/"
sed '1,/<!-- end-c-headers -->/d' "$tmp/constants.raw" >"$tmp/out/scripts/gdb/linux/constants.py"
grep -q '^LX_CONFIG_DEBUG_INFO_REDUCED' "$tmp/out/scripts/gdb/linux/constants.py" ||
  die "the generated constants.py lacks LX_CONFIG_DEBUG_INFO_REDUCED"
# The kernel tree's top-level vmlinux-gdb.py (a link to scripts/gdb/vmlinux-gdb.py) adds
# ./scripts/gdb to sys.path: keep that layout.
cp "$sg/vmlinux-gdb.py" "$tmp/out/vmlinux-gdb.py"
echo "$VERSION" >"$tmp/out/version"
rm -rf "$out"; mv "$tmp/out" "$out"; rm -rf "$tmp"
touch "$out/done"
log "kept $(du -sh "$out" | cut -f1) in $out"
printf 'GDB_SCRIPTS=%q\n' "$out/vmlinux-gdb.py"
