#!/bin/bash
# Host copy over iSCSI against qemu-img on the same tgt LUN pairs, in one
# run (issue 21's cases).  Not a test: numbers only.
#   usage: bench/bench-iscsi.sh [SIZE_GIB] [ROUNDS]   (root, tgt, qemu-utils, cc)
#   BENCH_BACKING=disk|tmpfs|both (default both): where tgt's backing files
#     live: BENCH_DIR (default /var/tmp) or BENCH_TMPFS (default /dev/shm)
#   BENCH_CASES="1 1b 2 scale" (the default: all) picks cases; BENCH_FILES=0
#   skips case 4 (bench-files.sh)
#   BENCH_TGT_SEGMENT=BYTES: tgt's MaxRecvDataSegmentLength and
#     MaxXmitDataSegmentLength (default: tgt's own, 8 KiB data PDUs each
#     way), for every tool alike
#
# Every case runs its tools round robin, one run each per round, ROUNDS
# rounds (at least 5): this machine's speed drifts over minutes and the
# drift must hit every tool alike.  For each tool it prints the median and
# best wall time, the spread p90/p10 (nearest rank: with 5 rounds, slowest
# over fastest), the bytes it read and wrote through system calls (rchar,
# wchar of /proc/PID/io: for an iSCSI initiator the data plus the protocol;
# median run), the CPU time it spent itself and its context switches
# (getrusage of the child: user + system, voluntary + involuntary;
# medians), and its peak RSS (ru_maxrss, as GNU time's %M; the highest
# of the rounds), each round's time in order, and the CPU time the whole
# machine and tgtd spent in the run (/proc/stat: all but idle, iowait and
# steal; /proc/TGTD/stat: utime + stime; medians): what the target itself
# costs, which no initiator can save;
# then blkclone's medians over each qemu-img's.  The tools:
#   blkclone          blkclone copy (durable: --flush=end, the default)
#   blkclone-never    blkclone copy --flush=never (no flush, as qemu-img's default)
#   qemu-img          qemu-img convert -n -m 16 -W (default cache: no flush)
#   qemu-img-wb       qemu-img convert -n -m 16 -W -t writeback (flushes at the end)
#   blkclone-fixed    blkclone copy --io-depth=16 --chunk=1M --write-behind=128M:
#                     the shape the controller starts from, held for the
#                     whole copy (what the controller's moves buy)
#   blkclone-peer     BLKCLONE_PEER=PATH (optional): another build's
#                     blkclone copy, same options as blkclone (cases 1
#                     and 2): two versions compared in the same rounds
# Before the rounds every tool runs once, checked and not counted (round
# 0): the first copy of case 1 after the backing files were made took
# 2.0-2.2 s against 0.7-0.9 s for the same tool's later ones (3 December,
# both backings; blkclone's, as it runs first), a cost of the fresh setup
# that no tool should carry in its spread.
# Every tool gets a fresh thin destination LUN (its backing file emptied)
# and a warm source, and every result is compared with the source (cmp).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BLKCLONE:-$top/build/blkclone}
P=${BLKCLONE_PEER:-}
G=${1:-4}
ROUNDS=${2:-5}
[ "$ROUNDS" -ge 5 ] || { echo "ROUNDS must be 5 or more" >&2; exit 2; }
BACKING=${BENCH_BACKING:-both}
M=$(mktemp -d /tmp/blkclone-measure.XXXXXX)
# blkclone's host locks name LUs by designator, and tgt derives those
# from the target id and LUN: another tgt on this host (a test, another
# bench) has the same ones.  Locks of our own keep them apart.
export BLKCLONE_LOCK_DIR=$M/locks
CASES=" ${BENCH_CASES:-1 1b 2 scale} "
want() { [[ $CASES == *" $1 "* ]]; }
cc -O2 -o "$M/measure" "$top/bench/measure.c"
. "$top/tests/lib/tgt-target.sh"
W=
trap 'tgt_stop; [ -n "$W" ] && rm -rf "$W"; rm -rf "$M"' EXIT

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

# one KEY SRC_FILE DST_NAME CMD...: one measured run onto a fresh
# destination (made by $PREP, untimed: empty by default), compared with
# the source.  Appends to T[KEY] (seconds), RSS[KEY], RD[KEY], WR[KEY].
declare -A T RSS RD WR DSIZE BZ TC UC CS DEP
HZ=$(getconf CLK_TCK)
# (user, nice, system, irq, softirq: not steal, the time the hypervisor
# gave to other guests -- a virtual machine on a busy host counts it)
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
steal() { awk '/^cpu / { print $9; exit }' /proc/stat; }
STEAL0=$(steal)
tgtcpu() { awk '{ print $14 + $15 }' "/proc/$TGT_PID/stat"; }
empty() { truncate -s 0 "$W/$1.img"; truncate -s "${DSIZE[$1]}" "$W/$1.img"; sync; }
one() {
	local key=$1 src=$2 dst=$3 secs rss rd wr uc cs b0 c0 b1 c1
	shift 3
	"${PREP:-empty}" "$dst"
	# warm source, for every tool alike (DATA_BYTES: where the data
	# ends, so a 16 TiB sparse file is not read to its end)
	head -c "${DATA_BYTES:-$(stat -c %s "$src")}" "$src" >/dev/null
	b0=$(busy) c0=$(tgtcpu)
	"$M/measure" "$M/m" "$@" >"$M/out" 2>"$M/err" || { cat "$M/err"; exit 1; }
	b1=$(busy) c1=$(tgtcpu)
	read -r secs rss rd wr uc cs <"$M/m"
	if [ -n "${DATA_BYTES:-}" ]; then
		# the bytes up to DATA_BYTES, and nothing allocated past them
		cmp -s -n "$DATA_BYTES" "$src" "$W/$dst.img" &&
			[ "$(alloc "$W/$dst.img")" -le "$(alloc "$src")" ]
	else
		cmp -s "$src" "$W/$dst.img"
	fi || { echo "  MISMATCH after: $*"; exit 1; }
	[ "${R:-1}" -gt 0 ] || return 0	# the warm-up round: checked, not counted
	BZ[$key]="${BZ[$key]:-} $(echo "scale=2; ($b1 - $b0) / $HZ" | bc)"
	TC[$key]="${TC[$key]:-} $(echo "scale=2; ($c1 - $c0) / $HZ" | bc)"
	T[$key]="${T[$key]:-} $secs" RSS[$key]="${RSS[$key]:-} $rss"
	RD[$key]="${RD[$key]:-} $rd" WR[$key]="${WR[$key]:-} $wr"
	UC[$key]="${UC[$key]:-} $uc" CS[$key]="${CS[$key]:-} $cs"
	# blkclone's queue depth when the copy ended (the controller's choice)
	DEP[$key]="${DEP[$key]:-} $(jq -r '.host_io.depth // empty' "$M/out" 2>/dev/null || true)"
	cp "$M/out" "$M/out.$key"
}
# rank LIST P: nearest-rank percentile P (0 < P <= 100) of the numbers
rank() { echo $1 | tr ' ' '\n' | sort -g | awk -v p="$2" '{ a[NR] = $1 }
	END { r = int((p * NR + 99) / 100); if (r < 1) r = 1; print a[r] }'; }
med() { rank "$1" 50; }
ratio() { printf "%.2f" "$(echo "scale=4; $1 / $2" | bc)"; }
mib() { echo "scale=1; $1 / 1048576" | bc; }
# report KEY LABEL: one tool's line
report() {
	local t=${T[$1]} p10 p90
	p10=$(rank "$t" 10) p90=$(rank "$t" 90)
	printf '  %-15s median %6.3f s  best %6.3f s  p90/p10 %4s  read %8s MiB  wrote %8s MiB  peak RSS %6d KiB  CPU: machine %5.2f s, tgtd %5.2f s, the tool %5.2f s (%d context switches)\n' \
		"$2" "$(med "$t")" "$(rank "$t" 1)" "$(ratio "$p90" "$p10")" \
		"$(mib "$(med "${RD[$1]}")")" "$(mib "$(med "${WR[$1]}")")" "$(rank "${RSS[$1]}" 100)" \
		"$(med "${BZ[$1]}")" "$(med "${TC[$1]}")" "$(med "${UC[$1]}")" "$(med "${CS[$1]}")"
	# each round's time, in round order: a slow round that hits one tool
	# and not the next shows as drift, a tool's own spread does not
	echo "  $(printf '%-15s' "$2") rounds:$t"
	[ -z "${DEP[$1]// /}" ] || echo "  $(printf '%-15s' "$2") depth at the end:${DEP[$1]}"
}
# versus B Q Q2 NAME: blkclone's median and best against both qemu-imgs
versus() {
	echo "  $4 / qemu-img (no flush): median $(ratio "$(med "${T[$1]}")" "$(med "${T[$2]}")"), best $(ratio "$(rank "${T[$1]}" 1)" "$(rank "${T[$2]}" 1)");" \
	     "/ qemu-img -t writeback (flushes): median $(ratio "$(med "${T[$1]}")" "$(med "${T[$3]}")"), best $(ratio "$(rank "${T[$1]}" 1)" "$(rank "${T[$3]}" 1)")"
}
QIMG="qemu-img convert -n -f raw -O raw -m 16 -W"
FIXED="--io-depth=16 --chunk=1M --write-behind=128M"
BIG=$(((16 << 40) - (1 << 20)))

bench_on() {	# bench_on NAME DIR: every case with the backing files in DIR
	local name=$1 i sa
	W=$(mktemp -d "$2/blkclone-bench.XXXXXX")
	T=() RSS=() RD=() WR=() BZ=() TC=() DEP=()
	echo "== backing files on $name ($2: $(df --output=fstype "$2" | tail -n 1))"
	if want 1 || want 1b; then fill "$W/thin.img" "$G" 10; else truncate -s "${G}G" "$W/thin.img"; fi
	dd if=/dev/urandom of="$W/full.img" bs=1M count=2048 status=none
	# the same 100 MiB in a 1 GiB and a 16 TiB LUN (1 MiB less: ext4's
	# largest file with 4 KiB blocks is 16 TiB - 4 KiB)
	truncate -s 1G "$W/small.img"; truncate -s $BIG "$W/large.img"
	for f in small large; do
		for i in $(seq 0 49); do
			dd if=/dev/urandom of="$W/$f.img" bs=1M count=2 seek=$((i * 20 + 3)) conv=notrunc status=none
		done
	done
	# destinations: LUN n+1 for source LUN n, emptied before every run
	DSIZE=([d1]=${G}G [d2]=2G [d3]=1G [d4]=$BIG [d5]=${G}G)
	for d in "${!DSIZE[@]}"; do truncate -s "${DSIZE[$d]}" "$W/$d.img"; done
	sync
	tgt_start
	IQN=iqn.2026-12.bench.blkclone:b
	tgt_target 1 "$IQN"
	if [ -n "${BENCH_TGT_SEGMENT:-}" ]; then
		for k in MaxRecvDataSegmentLength MaxXmitDataSegmentLength; do
			tgtadm -C "$TGT_CTL" --lld iscsi --mode target --op update --tid 1 \
				--name "$k" --value "$BENCH_TGT_SEGMENT"
		done
		echo "tgt: MaxRecvDataSegmentLength and MaxXmitDataSegmentLength $BENCH_TGT_SEGMENT"
	fi
	n=1
	for f in thin d1 full d2 small d3 large d4 d5; do tgt_lun 1 $n "$W/$f.img"; n=$((n + 1)); done
	U=iscsi://127.0.0.1:$TGT_PORT/$IQN

	sa=$(alloc "$W/thin.img")
	if want 1; then
	echo "case 1: $G GiB thin LUN, 10% allocated ($(mib "$sa") MiB) in 4 KiB-8 MiB extents, onto an empty thin LUN"
	for R in $(seq 0 "$ROUNDS"); do
		one b1 "$W/thin.img" d1 "$B" copy --json "$U/1" "$U/2"
		one q1 "$W/thin.img" d1 $QIMG "$U/1" "$U/2"
		one n1 "$W/thin.img" d1 "$B" copy --json --flush=never "$U/1" "$U/2"
		one w1 "$W/thin.img" d1 $QIMG -t writeback "$U/1" "$U/2"
		one f1 "$W/thin.img" d1 "$B" copy --json $FIXED "$U/1" "$U/2"
		[ -z "$P" ] || one p1 "$W/thin.img" d1 "$P" copy --json "$U/1" "$U/2"
	done
	report b1 blkclone; report n1 blkclone-never; report q1 qemu-img; report w1 qemu-img-wb; report f1 blkclone-fixed
	[ -z "$P" ] || { report p1 blkclone-peer; echo "  blkclone / blkclone-peer: median $(ratio "$(med "${T[b1]}")" "$(med "${T[p1]}")")"; }
	echo "  blkclone: $(jq -c '{read_bytes, written_bytes, host_io, flush}' "$M/out.b1"); destination $(mib "$(alloc "$W/d1.img")") MiB allocated, source $(mib "$sa") MiB"
	versus b1 q1 w1 blkclone; versus n1 q1 w1 blkclone-never; versus f1 q1 w1 blkclone-fixed
	echo "  blkclone / blkclone-fixed (the starting shape held): median $(ratio "$(med "${T[b1]}")" "$(med "${T[f1]}")")"
	echo "  targets: blkclone <= 0.5x qemu-img-wb and <= 1.0x qemu-img (medians), p90/p10 <= 1.25"
	fi

	if want 1b; then
		echo "case 1b: the same onto a $G GiB LUN full of old data (every hole must be zeroed)"
		dd if=/dev/urandom of="$W/old.img" bs=1M count=$((G * 1024)) status=none
		old() { cp "$W/old.img" "$W/$1.img"; sync; }
		for R in $(seq 0 "$ROUNDS"); do
			PREP=old one b1b "$W/thin.img" d5 "$B" copy --json "$U/1" "$U/9"
			PREP=old one q1b "$W/thin.img" d5 $QIMG "$U/1" "$U/9"
			PREP=old one w1b "$W/thin.img" d5 $QIMG -t writeback "$U/1" "$U/9"
			PREP=old one f1b "$W/thin.img" d5 "$B" copy --json $FIXED "$U/1" "$U/9"
		done
		rm -f "$W/old.img"
		report b1b blkclone; report q1b qemu-img; report w1b qemu-img-wb; report f1b blkclone-fixed
		echo "  blkclone zeroed $(mib "$(jq .zeroed_bytes "$M/out.b1b")") MiB in the array"
		versus b1b q1b w1b blkclone
		echo "  blkclone / blkclone-fixed: median $(ratio "$(med "${T[b1b]}")" "$(med "${T[f1b]}")")"
	fi

	if want 2; then
	echo "case 2: 2 GiB fully allocated LUN, onto an empty thin LUN"
	for R in $(seq 0 "$ROUNDS"); do
		one b2 "$W/full.img" d2 "$B" copy --json "$U/3" "$U/4"
		one q2 "$W/full.img" d2 $QIMG "$U/3" "$U/4"
		one n2 "$W/full.img" d2 "$B" copy --json --flush=never "$U/3" "$U/4"
		one w2 "$W/full.img" d2 $QIMG -t writeback "$U/3" "$U/4"
		one f2 "$W/full.img" d2 "$B" copy --json $FIXED "$U/3" "$U/4"
		[ -z "$P" ] || one p2 "$W/full.img" d2 "$P" copy --json "$U/3" "$U/4"
	done
	report b2 blkclone; report n2 blkclone-never; report q2 qemu-img; report w2 qemu-img-wb; report f2 blkclone-fixed
	[ -z "$P" ] || { report p2 blkclone-peer; echo "  blkclone / blkclone-peer: median $(ratio "$(med "${T[b2]}")" "$(med "${T[p2]}")")"; }
	echo "  blkclone: $(jq -c '{host_io, flush}' "$M/out.b2")"
	versus b2 q2 w2 blkclone; versus n2 q2 w2 blkclone-never
	echo "  blkclone / blkclone-fixed: median $(ratio "$(med "${T[b2]}")" "$(med "${T[f2]}")")"
	echo "  targets: blkclone <= 0.8x qemu-img-wb and <= 1.0x qemu-img (medians)"
	fi

	if want scale; then
	echo "scale: the same 100 MiB in a 1 GiB and a 16 TiB thin LUN (blkclone --dest-zeroed)"
	for R in $(seq 0 "$ROUNDS"); do
		one b3s "$W/small.img" d3 "$B" copy --json --dest-zeroed "$U/5" "$U/6"
		DATA_BYTES=$((1 << 30)) one b3l "$W/large.img" d4 "$B" copy --json --dest-zeroed "$U/7" "$U/8"
	done
	report b3s "1 GiB"; report b3l "16 TiB"
	echo "  16 TiB / 1 GiB: median $(ratio "$(med "${T[b3l]}")" "$(med "${T[b3s]}")"), best $(ratio "$(rank "${T[b3l]}" 1)" "$(rank "${T[b3s]}" 1)"); peak RSS $(rank "${RSS[b3l]}" 100) KiB (targets: ratio <= 1.5, RSS < 65536 KiB)"
	fi
	tgt_stop || true
	rm -rf "$W"
	W=
}

echo "blkclone $("$B" --version | head -n 1);${P:+ peer $("$P" --version | head -n 1);} qemu-img $(qemu-img --version | sed -n 's/^qemu-img version \([^ ]*\).*/\1/p'); $ROUNDS rounds, tgt on 127.0.0.1, $(nproc) cores, $(uname -r); load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
case $BACKING in
disk) bench_on disk "${BENCH_DIR:-/var/tmp}" ;;
tmpfs) bench_on tmpfs "${BENCH_TMPFS:-/dev/shm}" ;;
both) bench_on disk "${BENCH_DIR:-/var/tmp}"; bench_on tmpfs "${BENCH_TMPFS:-/dev/shm}" ;;
*) echo "BENCH_BACKING must be disk, tmpfs or both" >&2; exit 2 ;;
esac
echo "load average at the end $(cut -d' ' -f1-3 /proc/loadavg); CPU stolen by the hypervisor during the run $(echo "scale=1; ($(steal) - $STEAL0) / $HZ" | bc) s (the more, the busier the host and the noisier every time above)"

if [ "${BENCH_FILES:-1}" != 0 ]; then
	echo "case 4: files and loop devices (bench/bench-files.sh $G 10)"
	BLKCLONE=$B bash "$top/bench/bench-files.sh" "$G" 10 | sed 's/^/  /'
fi
