#!/bin/bash
# Host copy over iSCSI against qemu-img on the same tgt LUN pairs (issue 4's
# cases 1-3), in one run; case 4 (files and loop devices) is
# bench/bench-files.sh, run at the end.  Prints times (best of RUNS),
# ratios (blkclone / peer; below 1 = blkclone faster), tools run round
# robin (one run each per round), bytes read and
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
# one KEY SRC_FILE DST_NAME CMD...: one timed run onto a fresh destination
# (made by $PREP, untimed: empty by default), compared with the source.
# Keeps the best wall time in BEST[KEY] (its peak RSS in RSS[KEY], its
# stdout in $W/out.KEY) and every time in ALL[KEY].  Cases call it round
# robin, every tool once per round: this machine's speed drifts by 30% over
# minutes, and the drift must hit every tool alike.
declare -A BEST RSS ALL
one() {
	local key=$1 src=$2 dst=$3 secs r
	shift 3
	"${PREP:-empty}" "$dst"
	# warm source, for every tool alike (DATA_BYTES: where the data
	# ends, so a 256 GiB sparse file is not read to its end)
	head -c "${DATA_BYTES:-$(stat -c %s "$src")}" "$src" >/dev/null
	/usr/bin/time -f "%e %M" -o "$W/time" "$@" >"$W/out" 2>"$W/err" ||
		{ cat "$W/err"; exit 1; }
	read -r secs r <"$W/time"
	if [ -n "${DATA_BYTES:-}" ]; then
		# the bytes up to DATA_BYTES, and nothing allocated past them
		cmp -s -n "$DATA_BYTES" "$src" "$W/$dst.img" &&
			[ "$(alloc "$W/$dst.img")" -le "$(alloc "$src")" ]
	else
		cmp -s "$src" "$W/$dst.img"
	fi || { echo "  MISMATCH after: $*"; exit 1; }
	ALL[$key]="${ALL[$key]:-} $secs"
	if [ -z "${BEST[$key]:-}" ] || [ "$(echo "$secs < ${BEST[$key]}" | bc)" = 1 ]; then
		BEST[$key]=$secs RSS[$key]=$r; cp "$W/out" "$W/out.$key"
	fi
}
median() { echo ${ALL[$1]} | tr ' ' '\n' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ratio() { echo "scale=2; $1 / $2" | bc; }
QIMG="qemu-img convert -n"

echo "blkclone $("$B" --version | head -n 1); qemu-img $(qemu-img --version | sed -n 's/^qemu-img version \([^ ]*\).*/\1/p'); best of $RUNS, tgt on 127.0.0.1, $(nproc) cores"
echo "case 1: $G GiB thin LUN, 10% allocated in 4 KiB-8 MiB extents, onto an empty thin LUN"
for i in $(seq "$RUNS"); do
	one b1 "$W/thin.img" d1 "$B" copy --json "$U/1" "$U/2"; da=$(alloc "$W/d1.img")
	one q1 "$W/thin.img" d1 $QIMG -m 16 -W -f raw -O raw "$U/1" "$U/2"; qa=$(alloc "$W/d1.img")
	one q1d "$W/thin.img" d1 $QIMG -f raw -O raw "$U/1" "$U/2"
done
tb=${BEST[b1]} rb=${RSS[b1]} tq=${BEST[q1]} tq2=${BEST[q1d]}
rd=$(jq .read_bytes "$W/out.b1"); wr=$(jq .written_bytes "$W/out.b1")
sa=$(alloc "$W/thin.img")
echo "  blkclone $tb s (median $(median b1)), RSS $rb KiB, host_io $(jq -c .host_io "$W/out.b1"); read $rd B = $(ratio "$rd" "$sa")x the $sa B allocated (target <= 1.02); wrote $wr B"
echo "  destination allocation: blkclone $da B, qemu-img $qa B, source $sa B"
echo "  qemu-img -m 16 -W $tq s (median $(median q1)): ratio $(ratio "$tb" "$tq"), of medians $(ratio "$(median b1)" "$(median q1)") (target <= 0.5)"
echo "  qemu-img default $tq2 s: ratio $(ratio "$tb" "$tq2")"
echo "  (qemu-img convert's default cache mode for its output is unsafe: it sends no"
echo "  SYNCHRONIZE CACHE; blkclone sends one per 128 MiB written and one at the end)"

echo "case 1b: the same onto a $G GiB LUN full of old data (every hole must be zeroed)"
dd if=/dev/urandom of="$W/old.img" bs=1M count=$((G * 1024)) status=none
old() { cp "$W/old.img" "$W/$1.img"; sync; }
for i in $(seq "$RUNS"); do
	PREP=old one b1b "$W/thin.img" d5 "$B" copy --json "$U/1" "$U/9"
	zb=$(jq .zeroed_bytes "$W/out"); da=$(alloc "$W/d5.img")
	PREP=old one q1b "$W/thin.img" d5 $QIMG -m 16 -W -f raw -O raw "$U/1" "$U/9"
done
rm -f "$W/old.img"
echo "  blkclone ${BEST[b1b]} s (zeroed $zb B in the array, destination now $da B allocated), qemu-img -m 16 -W ${BEST[q1b]} s: ratio $(ratio "${BEST[b1b]}" "${BEST[q1b]}")"

echo "case 2: 2 GiB fully allocated LUN, onto an empty thin LUN"
for i in $(seq "$RUNS"); do
	one b2 "$W/full.img" d2 "$B" copy "$U/3" "$U/4"
	one q2 "$W/full.img" d2 $QIMG -m 16 -W -f raw -O raw "$U/3" "$U/4"
	one q2d "$W/full.img" d2 $QIMG -f raw -O raw "$U/3" "$U/4"
done
tb=${BEST[b2]} tq=${BEST[q2]}
echo "  blkclone $tb s (RSS ${RSS[b2]} KiB), qemu-img -m 16 -W $tq s: ratio $(ratio "$tb" "$tq") (target <= 1); default qemu-img ${BEST[q2d]} s: ratio $(ratio "$tb" "${BEST[q2d]}")"

echo "case 3: the same 96 MiB in a 1 GiB and a 256 GiB thin LUN"
for i in $(seq "$RUNS"); do
	one b3s "$W/small.img" d3 "$B" copy --dest-zeroed "$U/5" "$U/6"
	DATA_BYTES=$((1 << 30)) one b3l "$W/large.img" d4 "$B" copy --dest-zeroed "$U/7" "$U/8"
done
ts=${BEST[b3s]} tl=${BEST[b3l]}
echo "  1 GiB $ts s, 256 GiB $tl s: ratio large/small $(ratio "$tl" "$ts") (target <= 1.5)"
tgt_stop || true

if [ "${BENCH_FILES:-1}" != 0 ]; then
	echo "case 4: files and loop devices (bench/bench-files.sh $G 10)"
	BLKCLONE=$B bash "$top/bench/bench-files.sh" "$G" 10 | sed 's/^/  /'
fi
