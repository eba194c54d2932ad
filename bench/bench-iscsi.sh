#!/bin/bash
# Host copy over iSCSI against qemu-img on the same tgt LUN pairs (issue 4's
# cases 1-3), in one run.  Prints times, ratios (blkclone / peer; below 1 =
# blkclone faster), bytes read (from --json) and peak RSS.  Not a test.
#   usage: bench/bench-iscsi.sh [SIZE_GIB]    (needs root, tgt, qemu-utils)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BLKCLONE:-$top/build/blkclone}
G=${1:-4}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/blkclone-bench.XXXXXX")
. "$top/tests/lib/tgt-target.sh"
trap 'tgt_stop; rm -rf "$W"' EXIT

fill() {	# fill FILE SIZE_GIB PERCENT: scattered 4 KiB..8 MiB extents
	truncate -s "$2G" "$1"
	awk -v size=$(($2 * 262144)) -v pct="$3" 'BEGIN { srand(7); want = size * pct / 100;
		while (got < want) { len = 1 + int(rand() * rand() * 2048); off = int(rand() * (size - len));
			print off, len; got += len } }' |
	while read -r off len; do
		dd if=/dev/urandom of="$1" bs=4096 seek="$off" count="$len" conv=notrunc status=none
	done
}
fill "$W/thin.img" "$G" 10
dd if=/dev/urandom of="$W/full.img" bs=1M count=2048 status=none
truncate -s "$G"G "$W/d1.img"; truncate -s 2G "$W/d2.img"
truncate -s 1G "$W/small.img"; truncate -s 256G "$W/large.img"
for f in small large; do	# the same 96 MiB in a 1 GiB and a 256 GiB LUN
	for i in $(seq 0 47); do
		dd if=/dev/urandom of="$W/$f.img" bs=1M count=2 seek=$((i * 20 + 3)) conv=notrunc status=none
	done
done
truncate -s 1G "$W/d3.img"; truncate -s 256G "$W/d4.img"
sync
tgt_start
tgt_target 1 iqn.2026-11.bench.blkclone:b
n=1
for f in thin d1 full d2 small d3 large d4; do tgt_lun 1 $n "$W/$f.img"; n=$((n + 1)); done
U=iscsi://127.0.0.1:$TGT_PORT/iqn.2026-11.bench.blkclone:b

run() {	# run LABEL CMD...: seconds and peak RSS (KiB) into $secs, $rss
	shift
	/usr/bin/time -f "%e %M" -o "$W/time" "$@" >"$W/out" 2>"$W/err" ||
		{ cat "$W/err"; exit 1; }
	read -r secs rss <"$W/time"
}
ratio() { echo "scale=2; $1 / $2" | bc; }

echo "case 1: $G GiB thin LUN, 10% allocated, LUN to LUN"
run b "$B" copy --json "$U/1" "$U/2"; tb=$secs; rb=$rss
rd=$(jq .read_bytes "$W/out")
run q qemu-img convert -n -m 16 -W -f raw -O raw "$U/1" "$U/2"; tq=$secs
run q2 qemu-img convert -n -f raw -O raw "$U/1" "$U/2"; tq2=$secs
echo "  blkclone $tb s (RSS $rb KiB, read $rd bytes, allocated $(( $(stat -c %b "$W/thin.img") * 512 )))"
echo "  qemu-img -m16 -W $tq s: ratio $(ratio "$tb" "$tq") (target <= 0.5)"
echo "  qemu-img default $tq2 s: ratio $(ratio "$tb" "$tq2")"
echo "case 2: 2 GiB fully allocated LUN"
run b "$B" copy "$U/3" "$U/4"; tb=$secs
run q qemu-img convert -n -m 16 -W -f raw -O raw "$U/3" "$U/4"; tq=$secs
echo "  blkclone $tb s, qemu-img -m16 -W $tq s: ratio $(ratio "$tb" "$tq") (target <= 1)"
echo "case 3: the same 96 MiB in a 1 GiB and a 256 GiB thin LUN"
run b "$B" copy --dest-zeroed "$U/5" "$U/6"; ts=$secs
run b "$B" copy --dest-zeroed "$U/7" "$U/8"; tl=$secs
echo "  1 GiB $ts s, 256 GiB $tl s: ratio large/small $(ratio "$tl" "$ts") (target <= 1.5)"
