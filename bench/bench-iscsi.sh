#!/bin/bash
# Host copy over iSCSI against qemu-img on the same tgt LUN pairs (issue 4's
# cases 1-3), in one run; case 4 (files and loop devices) is
# bench/bench-files.sh, run at the end.  Prints times (best of RUNS),
# ratios (blkclone / peer; below 1 = blkclone faster), bytes read and
# written (from --json), destination allocation and peak RSS.  Every tool
# gets a fresh thin destination LUN (its backing file emptied) and a warm
# source, and every result is compared byte for byte.  Not a test.
#   usage: bench/bench-iscsi.sh [SIZE_GIB] [RUNS]   (root, tgt, qemu-utils)
#   BENCH_FILES=0 skips case 4.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BLKCLONE:-$top/build/blkclone}
G=${1:-4}
RUNS=${2:-3}
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
alloc() { echo $(( $(stat -c %b "$1") * 512 )); }
fill "$W/thin.img" "$G" 10
dd if=/dev/urandom of="$W/full.img" bs=1M count=2048 status=none
truncate -s 1G "$W/small.img"; truncate -s 256G "$W/large.img"
for f in small large; do	# the same 96 MiB in a 1 GiB and a 256 GiB LUN
	for i in $(seq 0 47); do
		dd if=/dev/urandom of="$W/$f.img" bs=1M count=2 seek=$((i * 20 + 3)) conv=notrunc status=none
	done
done
# destinations: LUN n+1 for source LUN n, emptied before every run
declare -A DSIZE=([d1]=${G}G [d2]=2G [d3]=1G [d4]=256G [d5]=${G}G)
for d in "${!DSIZE[@]}"; do truncate -s "${DSIZE[$d]}" "$W/$d.img"; done
sync
tgt_start
IQN=iqn.2026-11.bench.blkclone:b
tgt_target 1 "$IQN"
n=1
for f in thin d1 full d2 small d3 large d4 d5; do tgt_lun 1 $n "$W/$f.img"; n=$((n + 1)); done
U=iscsi://127.0.0.1:$TGT_PORT/$IQN

empty() { truncate -s 0 "$W/$1.img"; truncate -s "${DSIZE[$1]}" "$W/$1.img"; sync; }
# best SRC_FILE DST_NAME CMD...: best wall time of RUNS onto a fresh
# destination (made by $PREP, untimed: empty by default); sets $best,
# $rss (KiB, of the best run), keeps the best run's stdout in $W/out
best() {
	local src=$1 dst=$2 i secs r
	shift 2
	best=
	for i in $(seq "$RUNS"); do
		"${PREP:-empty}" "$dst"
		# warm source, for every tool alike (DATA_BYTES: where the data
		# ends, so a 256 GiB sparse file is not read to its end)
		head -c "${DATA_BYTES:-$(stat -c %s "$src")}" "$src" >/dev/null
		/usr/bin/time -f "%e %M" -o "$W/time" "$@" >"$W/out.$i" 2>"$W/err" ||
			{ cat "$W/err"; exit 1; }
		read -r secs r <"$W/time"
		if [ -n "${DATA_BYTES:-}" ]; then
			# the bytes up to DATA_BYTES, and nothing allocated past them
			cmp -s -n "$DATA_BYTES" "$src" "$W/$dst.img" &&
				[ "$(alloc "$W/$dst.img")" -le "$(alloc "$src")" ]
		else
			cmp -s "$src" "$W/$dst.img"
		fi || { echo "  MISMATCH after: $*"; exit 1; }
		if [ -z "$best" ] || [ "$(echo "$secs < $best" | bc)" = 1 ]; then
			best=$secs rss=$r; cp "$W/out.$i" "$W/out"
		fi
	done
}
ratio() { echo "scale=2; $1 / $2" | bc; }
QIMG="qemu-img convert -n"

echo "blkclone $("$B" --version | head -n 1); qemu-img $(qemu-img --version | sed -n 's/^qemu-img version \([^ ]*\).*/\1/p'); best of $RUNS, tgt on 127.0.0.1, $(nproc) cores"
echo "case 1: $G GiB thin LUN, 10% allocated in 4 KiB-8 MiB extents, onto an empty thin LUN"
best "$W/thin.img" d1 "$B" copy --json "$U/1" "$U/2"; tb=$best; rb=$rss
rd=$(jq .read_bytes "$W/out"); wr=$(jq .written_bytes "$W/out"); da=$(alloc "$W/d1.img")
best "$W/thin.img" d1 $QIMG -m 16 -W -f raw -O raw "$U/1" "$U/2"; tq=$best; qa=$(alloc "$W/d1.img")
best "$W/thin.img" d1 $QIMG -f raw -O raw "$U/1" "$U/2"; tq2=$best
sa=$(alloc "$W/thin.img")
echo "  blkclone $tb s, RSS $rb KiB; read $rd B = $(ratio "$rd" "$sa")x the $sa B allocated (target <= 1.02); wrote $wr B"
echo "  destination allocation: blkclone $da B, qemu-img $qa B, source $sa B"
echo "  qemu-img -m 16 -W $tq s: ratio $(ratio "$tb" "$tq") (target <= 0.5)"
echo "  qemu-img default $tq2 s: ratio $(ratio "$tb" "$tq2")"

echo "case 1b: the same onto a $G GiB LUN full of old data (every hole must be zeroed)"
dd if=/dev/urandom of="$W/old.img" bs=1M count=$((G * 1024)) status=none
old() { cp "$W/old.img" "$W/$1.img"; sync; }
PREP=old best "$W/thin.img" d5 "$B" copy --json "$U/1" "$U/9"; tb=$best
zb=$(jq .zeroed_bytes "$W/out"); da=$(alloc "$W/d5.img")
PREP=old best "$W/thin.img" d5 $QIMG -m 16 -W -f raw -O raw "$U/1" "$U/9"; tq=$best
rm -f "$W/old.img"
echo "  blkclone $tb s (zeroed $zb B in the array, destination now $da B allocated), qemu-img -m 16 -W $tq s: ratio $(ratio "$tb" "$tq")"

echo "case 2: 2 GiB fully allocated LUN, onto an empty thin LUN"
best "$W/full.img" d2 "$B" copy "$U/3" "$U/4"; tb=$best; rb=$rss
best "$W/full.img" d2 $QIMG -m 16 -W -f raw -O raw "$U/3" "$U/4"; tq=$best
best "$W/full.img" d2 $QIMG -f raw -O raw "$U/3" "$U/4"; tq2=$best
echo "  blkclone $tb s (RSS $rb KiB), qemu-img -m 16 -W $tq s: ratio $(ratio "$tb" "$tq") (target <= 1); default qemu-img $tq2 s: ratio $(ratio "$tb" "$tq2")"

echo "case 3: the same 96 MiB in a 1 GiB and a 256 GiB thin LUN"
best "$W/small.img" d3 "$B" copy --dest-zeroed "$U/5" "$U/6"; ts=$best
DATA_BYTES=$((1 << 30)) best "$W/large.img" d4 "$B" copy --dest-zeroed "$U/7" "$U/8"; tl=$best
echo "  1 GiB $ts s, 256 GiB $tl s: ratio large/small $(ratio "$tl" "$ts") (target <= 1.5)"
tgt_stop || true

if [ "${BENCH_FILES:-1}" != 0 ]; then
	echo "case 4: files and loop devices (bench/bench-files.sh $G 10)"
	BLKCLONE=$B bash "$top/bench/bench-files.sh" "$G" 10 | sed 's/^/  /'
fi
