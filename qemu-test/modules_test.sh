#!/usr/bin/env bash
# modules_test.sh --tlpstub BIN --kernel K --cpu C --cache DIR --initrd FILE [--workdir DIR]
#
# Module symbols from memory. A second cpio carries the kernel package's drivers/net/dummy.ko
# (a module with no dependencies; fetch-kernel.sh keeps it, decompressed here) and an init step
# that loads it with busybox insmod and prints the guest's own truth: its /proc/kallsyms lines
# for [dummy] and its /proc/modules line. tlpstub, from nothing, must then give:
#  (a) `monitor modules --json`: a module "dummy" whose text address is /proc/modules' address;
#  (b) `monitor sym NAME --json` for every [dummy] symbol: that address and type, module dummy;
#  (c) `monitor sym ADDR` inside the module: the module's symbol at or below it;
#  (d) `monitor type dummy_xmit`: a type only the module's split BTF holds (the kernel's
#      btf_modules list; dummy.ko's .BTF has no structs of its own, only its functions): the FUNC
#      dummy_xmit, whose name the package's dummy.ko has in its .BTF strings and whose
#      prototype is drivers/net/dummy.c's (the same in 6.1 and 6.12), from "BTF of module dummy".
# Exit 77 when the tlpstub binary or the module is missing (failures under CI=true).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

tlpstub= rest=() kernel= cache= initrd=
while (($#)); do
  case "$1" in
    --tlpstub) tlpstub=$2; shift 2 ;;
    --kernel) kernel=$2; rest+=("$1" "$2"); shift 2 ;;
    --cache) cache=$2; rest+=("$1" "$2"); shift 2 ;;
    --initrd) initrd=$2; shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
[[ -n $tlpstub && -x $tlpstub ]] || test_skip "tlpstub binary '${tlpstub:-<none>}' does not exist"
[[ -n $kernel && -n $cache && -n $initrd ]] || guest_die "need --kernel, --cache, --initrd"
MODULE=
eval "$("$here/fetch-kernel.sh" --offline "$kernel" "$cache" 2>/dev/null || "$here/fetch-kernel.sh" --no-dbg "$kernel" "$cache")"
[[ -n $MODULE && -f $MODULE ]] || test_skip "no dummy.ko in the $kernel package cache (fetch-kernel.sh keeps it)"

# ---- the initramfs: the base one (with the init.d hook) + the module and the step ----------
build=$(mktemp -d "${TMPDIR:-/tmp}/tlpstub-modules.XXXXXX")
guest_on_exit "rm -rf '$build'"
"$here/make-initramfs.sh" "$build/base.cpio.gz"
root=$build/root
mkdir -p "$root/lib" "$root/etc/tlpstub-init.d"
case $MODULE in
  *.xz) xz -dc "$MODULE" >"$root/lib/dummy.ko" ;;
  *.zst) zstd -dcq "$MODULE" >"$root/lib/dummy.ko" ;;
  *.gz) gzip -dc "$MODULE" >"$root/lib/dummy.ko" ;;
  *) cp "$MODULE" "$root/lib/dummy.ko" ;;
esac
cat >"$root/etc/tlpstub-init.d/modules.sh" <<'STEP'
busybox insmod /lib/dummy.ko || echo "insmod dummy.ko failed"
begin modsyms; grep '\[dummy\]' /proc/kallsyms; end modsyms
begin modules; cat /proc/modules; end modules
STEP
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) |
  gzip -9 -n >"$build/modules.cpio.gz"
cat "$build/base.cpio.gz" "$build/modules.cpio.gz" >"$build/initrd.cpio.gz"

guest_test_boot --initrd "$build/initrd.cpio.gz" "${rest[@]}"
tmp=$GUEST_DIR
guest_truth modsyms | tr -d '\r' >"$tmp/modsyms.truth"
guest_truth modules | tr -d '\r' >"$tmp/modules.truth"
[[ -s $tmp/modsyms.truth ]] || guest_die "the guest printed no [dummy] symbols (insmod failed?)"
echo "guest: $(wc -l <"$tmp/modsyms.truth") [dummy] symbols; $(grep '^dummy ' "$tmp/modules.truth")"

# ---- tlpstub, from nothing -----------------------------------------------------------------
port=$(free_port)
targs=(--memory "$GUEST_RAM")
(( GUEST_MAP_IDENTITY )) || targs+=(--map "$GUEST_MAP")
stub_start "$tlpstub" "$tmp/tlpstub.log" "$port" "${targs[@]}"
stub_wait_recovered "$port"

ex=(==M== "monitor modules --json" ==T== "monitor modules")
i=0
while read -r addr type name _; do
  ex+=("==S$((i++))==" "monitor sym $name --json")
done <"$tmp/modsyms.truth"
first_text=$(awk '$2 ~ /^[tT]$/ {print $1; exit}' "$tmp/modsyms.truth")
[[ -n $first_text ]] && ex+=(==A== "monitor sym 0x$(printf '%x' $((0x$first_text + 1)))")
ex+=(==TY== "monitor type dummy_xmit" ==TYJ== "monitor type dummy_xmit --json"
    ==TN== "monitor type struct no_such_type_tlpstub" ==END==)
out=$(stub_gdb "$port" "${ex[@]}" || true)
echo "$out" >"$tmp/gdb.log"
harness seg T <<<"$out" | sed 's/^/    /'
harness seg M <<<"$out" >"$tmp/modules.json"
: >"$tmp/sym.jsonl"
for ((j = 0; j < i; j++)); do
  harness seg "S$j" <<<"$out" | head -n 1 >>"$tmp/sym.jsonl"
done
harness seg A <<<"$out" >"$tmp/addr.txt"

if python3 - "$tmp/modsyms.truth" "$tmp/modules.truth" "$tmp/modules.json" "$tmp/sym.jsonl" \
     "$tmp/addr.txt" <<'PY'
import json, sys
truth = [l.split() for l in open(sys.argv[1]).read().splitlines() if l.strip()]
mods = {l.split()[0]: l.split() for l in open(sys.argv[2]).read().splitlines() if l.strip()}
bad = []
doc = json.load(open(sys.argv[3]))
ours = {m["name"]: m for m in doc["modules"]}
if "dummy" not in ours:
    bad.append(f"monitor modules: no dummy among {sorted(ours)}")
elif "dummy" in mods:
    want = int(mods["dummy"][-1], 16)
    got = int(ours["dummy"]["ranges"][0]["base"], 16) if ours["dummy"]["ranges"] else None
    if got != want:
        bad.append(f"dummy text at {got and hex(got)}, /proc/modules says {hex(want)}")
if set(ours) != set(mods):
    bad.append(f"modules {sorted(ours)}, /proc/modules {sorted(mods)}")
lines = open(sys.argv[4]).read().splitlines()
ok = 0
for (addr, typ, name, *_), line in zip(truth, lines):
    try:
        syms = json.loads(line)["symbols"]
    except Exception as e:
        bad.append(f"sym {name}: no JSON ({line[:80]!r})")
        continue
    hit = [s for s in syms if s.get("module") == "dummy"]
    if not hit or int(hit[0]["address"], 16) != int(addr, 16) or hit[0]["type"] != typ:
        bad.append(f"sym {name}: got {hit[:1]}, guest {addr} {typ}")
    else:
        ok += 1
first = next((t for t in truth if t[1] in "tT"), None)
text = open(sys.argv[5]).read()
# Several symbols may share that address (an alias such as init_module): any of them.
same = [t[2] for t in truth if first and int(t[0], 16) == int(first[0], 16)]
if first and not any(f"= {n}+0x1 [dummy]" in text for n in same):
    bad.append(f"sym ADDR inside {first[2]}: {text.strip()!r}")
for b in bad[:20]:
    print("MISMATCH:", b)
print(f"{ok} of {len(truth)} [dummy] symbols equal the guest's /proc/kallsyms; "
      f"{len(ours)} modules listed")
sys.exit(1 if bad else 0)
PY
then
  pass "module symbols equal the guest's /proc/kallsyms and /proc/modules"
else
  fail "module symbols differ from the guest's (see $tmp/gdb.log)"
fi
# (d) A type only the loaded module defines. The package's dummy.ko must hold the name in its
# .BTF (else the module has no BTF to find it in and the check below proves nothing).
objcopy -O binary --only-section=.BTF --set-section-flags .BTF=alloc "$root/lib/dummy.ko" \
  "$tmp/dummy.btf" 2>/dev/null || true
grep -qa 'dummy_xmit' "$tmp/dummy.btf" 2>/dev/null ||
  fail "the package's dummy.ko has no .BTF naming dummy_xmit (CONFIG_DEBUG_INFO_BTF_MODULES off?)"
ty=$(harness seg TY <<<"$out")
tyj=$(harness seg TYJ <<<"$out")
tn=$(harness seg TN <<<"$out")
echo "    $ty"
want='function dummy_xmit: netdev_tx_t dummy_xmit(struct sk_buff * skb, struct net_device * dev); /* from BTF of module dummy */'
if [[ $ty == "$want" ]] &&
   python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["kind"]=="function" and d["source"]=="BTF of module dummy" else 1)' "$tyj"; then
  pass "monitor type finds dummy_xmit in the loaded module's split BTF, with its prototype"
else
  fail "monitor type dummy_xmit: got '$ty' (json '$tyj'), want '$want'"
fi
if [[ $tn =~ searched\ the\ BTF\ of\ [1-9][0-9]*\ loaded\ module ]]; then
  pass "a type in no BTF names the modules searched: $tn"
else
  fail "monitor type of an unknown struct: '$tn'"
fi
test_summary
