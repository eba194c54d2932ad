#!/bin/bash
# Host copy of image files and loop devices against cp, dd and ddpt, in
# one run on the same files.  Prints time ratios (peer / blkclone) and the
# bytes each read, from --json and /proc/PID/io.  Not a test: numbers only.
#   usage: bench/bench-files.sh [SIZE_GIB] [PERCENT_ALLOCATED]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BLKCLONE:-$top/build/blkclone}
SIZE_G=${1:-4}
PCT=${2:-10}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/blkclone-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT

# scattered extents of 4 KiB .. 8 MiB until PCT% of the image holds data
truncate -s "${SIZE_G}G" "$W/src.img"
awk -v size=$((SIZE_G * 262144)) -v pct="$PCT" 'BEGIN { srand(42); want = size * pct / 100;
	while (got < want) { len = 1 + int(rand() * rand() * 2048); off = int(rand() * (size - len));
		print off, len; got += len } }' |
while read -r off len; do
	dd if=/dev/urandom of="$W/src.img" bs=4096 seek="$off" count="$len" conv=notrunc status=none
done
sync
alloc=$(( $(stat -c %b "$W/src.img") * 512 ))
echo "source: ${SIZE_G} GiB, $alloc bytes allocated (${PCT}% requested)"

# run NAME CMD...: wall time and bytes read (rchar) of one run, cold-ish
# cache for the destination (removed first), warm for the source.
declare -A T R
run() {
	local name=$1; shift
	rm -f "$W/dst.img"; sync
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >"$W/out.$name" 2>&1 &
	local pid=$!
	local rchar=0
	# bytes read by the process tree: the command, or its child under sh -c
	while kill -0 $pid 2>/dev/null; do
		local r=0 p
		for p in $pid $(pgrep -P $pid 2>/dev/null); do
			r=$((r + $(awk '/^rchar/ {print $2}' /proc/$p/io 2>/dev/null || echo 0)))
		done
		[ "$r" -gt "$rchar" ] && rchar=$r
		sleep 0.01
	done
	wait $pid || { echo "$name failed:"; cat "$W/out.$name"; exit 1; }
	t1=$(date +%s.%N)
	cmp -s "$W/src.img" "$W/dst.img" || { echo "$name: copy differs"; exit 1; }
	T[$name]=$(echo "$t1 - $t0" | bc -l)
	R[$name]=$rchar
	printf '%-14s %8.3f s  dst allocated %12d  read %12s\n' "$name" "${T[$name]}" \
		$(( $(stat -c %b "$W/dst.img") * 512 )) "$rchar"
}

cat "$W/src.img" >/dev/null	# same warm source for everyone
# blkclone flushes the destination before it reports success; so does
# every peer here (sync DST), or the comparison would time the page cache.
D=$W/dst.img
declare -A CMD
CMD[blkclone]="'$B' copy --json '$W/src.img' '$D'"
CMD[cp-sparse]="cp --sparse=always '$W/src.img' '$D' && sync '$D'"
CMD[dd-sparse]="dd if='$W/src.img' of='$D' bs=1M conv=sparse,fdatasync status=none"
command -v ddpt >/dev/null &&
	CMD[ddpt-sparse]="ddpt if='$W/src.img' of='$D' bs=512 bpt=2048 oflag=sparse,fdatasync >/dev/null 2>&1"
command -v qemu-img >/dev/null &&
	CMD[qemu-img]="qemu-img convert -f raw -O raw '$W/src.img' '$D' && sync '$D'"
ROUNDS=${ROUNDS:-3}
declare -A BEST
for round in $(seq "$ROUNDS"); do
	for n in "${!CMD[@]}"; do
		run "$n" sh -c "${CMD[$n]}" >/dev/null
		if [ -z "${BEST[$n]:-}" ] || [ "$(echo "${T[$n]} < ${BEST[$n]}" | bc)" = 1 ]; then
			BEST[$n]=${T[$n]}
		fi
		[ "$n" = blkclone ] && cp "$W/out.blkclone" "$W/json.blkclone"
	done
done
echo "blkclone --json: read_bytes $(sed -n 's/.*"read_bytes": \([0-9]*\).*/\1/p' "$W/json.blkclone"), written_bytes $(sed -n 's/.*"written_bytes": \([0-9]*\).*/\1/p' "$W/json.blkclone")"
echo "best of $ROUNDS, time ratio peer/blkclone (above 1 = blkclone faster), bytes read:"
for n in "${!CMD[@]}"; do
	printf '  %-12s %7.3f s  %6.2fx  read %s\n' "$n" "${BEST[$n]}" \
		"$(echo "${BEST[$n]} / ${BEST[blkclone]}" | bc -l)" "${R[$n]}"
done
