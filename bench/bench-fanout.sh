#!/bin/bash
# Template fan-out (issue 21): N clones of one thin LUN (SIZE_GIB, 10% in
# scattered 4 KiB..8 MiB extents, case 1 of bench-iscsi.sh) onto N empty
# thin LUNs on tgt, three ways, interleaved round by round so that the
# machine's drift hits all alike:
#   fan    one blkclone job: job start --to=DST1 ... --to=DSTN SRC; job wait
#   seq    N qemu-img convert -n -m 16 -W -t writeback, one after the other
#   par    the same N at once
# qemu-img with -t writeback flushes its output at the end, as blkclone
# does (durable); its default cache mode sends no flush at all.  Prints
# every time, the median, best and p90/p10 spread of each, the ratios of
# medians, the bytes the target read of the source's backing file (counted
# by tests/tools/gatefs when it is built, in untimed runs on a LUN that
# serves the source through it) against what N peers read, the job's
# peak RSS (VmHWM of its process, in an untimed run) and its per-pair
# report.  Every destination of every run is
# checked as thin as the source; every destination is compared with the
# source (cmp) in the first and the last round, one in turn in the rounds
# between (a cmp of N x SIZE_GIB each run would take longer than the runs).
# For each way it also prints the CPU time the whole machine and tgtd
# spent in a run (/proc/stat and /proc/TGTD/stat, medians).  A run cannot
# take less wall time than its CPU time spread over every core, so the
# job's CPU over the cores, divided by a peer's wall time, is the lowest
# ratio the job could reach on this machine with the work it does now;
# tgtd's part of it is the target's, which no initiator can save.
# Before the rounds each way runs once, checked and not counted (round
# 0): in the 3 December run all three ways were slow in round 1 (the
# job 2.68 s against a median of 1.16 s), the fresh setup's cost.
# BENCH_DIR holds the backing files (default /var/tmp: the disk;
# /dev/shm for tmpfs).  BENCH_TGT_SEGMENT=BYTES sets tgt's
# MaxRecvDataSegmentLength and MaxXmitDataSegmentLength (default: tgt's
# own, 8 KiB data PDUs each way), for every tool alike, as bench-iscsi.sh.
# Not a test.
#   usage: bench/bench-fanout.sh [SIZE_GIB] [ROUNDS] [N]   (root, tgt, qemu-utils, jq)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BLKCLONE:-$top/build/blkclone}
GATEFS=${GATEFS:-$top/build/tests/tools/gatefs}
G=${1:-4}
ROUNDS=${2:-5}
N=${3:-8}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/blkclone-fanout.XXXXXX")
export BLKCLONE_STATE_DIR=$W/state
. "$top/tests/lib/tgt-target.sh"
GM=$W/gm
cleanup() {
	tgt_stop
	if mountpoint -q "$GM" 2>/dev/null; then echo open >"$GM/.gate" || true; umount "$GM" || umount -l "$GM"; fi
	rm -rf "$W"
}
trap cleanup EXIT

fill() {	# fill FILE SIZE_GIB PERCENT: scattered 4 KiB..8 MiB extents (as bench-iscsi.sh)
	truncate -s "$2G" "$1"
	awk -v size=$(($2 * 262144)) -v pct="$3" 'BEGIN { srand(7); want = size * pct / 100;
		while (got < want) { len = 1 + int(rand() * rand() * 2048); off = int(rand() * (size - len));
			print off, len; got += len } }' |
	while read -r off len; do
		dd if=/dev/urandom of="$1" bs=4096 seek="$off" count="$len" conv=notrunc status=none
	done
}
alloc() { echo $(( $(stat -c %b "$1") * 512 )); }

mkdir -p "$W/back"
fill "$W/back/src.img" "$G" 10
for i in $(seq "$N"); do truncate -s "${G}G" "$W/back/d$i.img"; done
sync "$W/back/src.img"
tgt_start
IQN=iqn.2026-11.bench.blkclone:fanout
tgt_target 1 "$IQN"
if [ -n "${BENCH_TGT_SEGMENT:-}" ]; then
	for k in MaxRecvDataSegmentLength MaxXmitDataSegmentLength; do
		tgtadm -C "$TGT_CTL" --lld iscsi --mode target --op update --tid 1 \
			--name "$k" --value "$BENCH_TGT_SEGMENT"
	done
	echo "tgt: MaxRecvDataSegmentLength and MaxXmitDataSegmentLength $BENCH_TGT_SEGMENT"
fi
tgt_lun 1 1 "$W/back/src.img"
for i in $(seq "$N"); do tgt_lun 1 $((i + 1)) "$W/back/d$i.img"; done
U=iscsi://127.0.0.1:$TGT_PORT/$IQN
SA=$(alloc "$W/back/src.img")
now() { date +%s.%N; }
empty_all() {
	for i in $(seq "$N"); do
		truncate -s 0 "$W/back/d$i.img"; truncate -s "${G}G" "$W/back/d$i.img"
		sync "$W/back/d$i.img"	# not a global sync: the machine is shared
	done
	head -c "$(stat -c %s "$W/back/src.img")" "$W/back/src.img" >/dev/null	# warm, for all alike
}
check_all() {	# WHAT [ONLY]: as thin as the source, all (or only d$ONLY) cmp-equal
	local i
	for i in $(seq "$N"); do
		if [ -z "${2:-}" ] || [ "$2" = "$i" ]; then
			cmp -s "$W/back/src.img" "$W/back/d$i.img" || { echo "MISMATCH: $1, d$i"; exit 1; }
		fi
		[ "$(alloc "$W/back/d$i.img")" -le "$SA" ] ||
			{ echo "NOT THIN: $1, d$i $(alloc "$W/back/d$i.img") > $SA"; exit 1; }
	done
}

declare -A ALL BUSY TGTCPU
FAN_HWM=0
# CPU time in clock ticks: the whole machine's (all but idle, iowait and steal)
# and tgtd's (its utime + stime, every thread)
# (user, nice, system, irq, softirq: not steal, the time the hypervisor
# gave to other guests -- a virtual machine on a busy host counts it)
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
steal() { awk '/^cpu / { print $9; exit }' /proc/stat; }
STEAL0=$(steal)
tgtcpu() { awk '{ print $14 + $15 }' "/proc/$TGT_PID/stat"; }
HZ=$(getconf CLK_TCK)
QIMG="qemu-img convert -n -m 16 -W -t writeback -f raw -O raw"
# timed: job start and job wait, as a user runs them (job wait is woken
# by the end of the job's process)
run_fan() {
	local to=() i id t0 t1 src=${1:-1}
	for i in $(seq "$N"); do to+=("--to=$U/$((i + 1))"); done
	t0=$(now)
	id=$("$B" job start "${to[@]}" "$U/$src")
	"$B" job wait "$id" >/dev/null
	t1=$(now)
	"$B" job status --json "$id" >"$W/fan.json"
	"$B" job forget "$id" >/dev/null
	echo "$t1 - $t0" | bc
}
# untimed: the job's peak RSS.  VmHWM only grows, so the last reading
# before the process ends is its peak (read every 50 ms: a poll that
# would cost the timed runs their time).  Sets FAN_HWM.
hwm_fan() {
	local to=() i id pid v hwm=0
	for i in $(seq "$N"); do to+=("--to=$U/$((i + 1))"); done
	id=$("$B" job start "${to[@]}" "$U/1")
	pid=$("$B" job status --json "$id" | jq .pid)
	while v=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status" 2>/dev/null) && [ -n "$v" ]; do
		hwm=$v
		sleep 0.05
	done
	"$B" job wait "$id" >/dev/null
	"$B" job forget "$id" >/dev/null
	FAN_HWM=$hwm
}
run_seq() {
	local i t0 t1 src=${1:-1}
	t0=$(now)
	for i in $(seq "$N"); do $QIMG "$U/$src" "$U/$((i + 1))"; done
	t1=$(now)
	echo "$t1 - $t0" | bc
}
run_par() {
	local i t0 t1 pids=()
	t0=$(now)
	for i in $(seq "$N"); do $QIMG "$U/1" "$U/$((i + 1))" & pids+=($!); done
	for i in "${pids[@]}"; do wait "$i"; done
	t1=$(now)
	echo "$t1 - $t0" | bc
}

stats() {	# stats KEY: median best p10 p90 (nearest rank)
	echo ${ALL[$1]} | tr ' ' '\n' | sort -n | awk '{ a[NR] = $1 } END {
		p10 = a[int(0.1 * NR + 0.999)]; p90 = a[int(0.9 * NR + 0.999)]; if (!p10) p10 = a[1];
		printf "median %.2f s, best %.2f s, p10 %.2f, p90 %.2f, p90/p10 %.2f", a[int((NR + 1) / 2)], a[1], p10, p90, p90 / p10 }'
}
mid() { echo $1 | tr ' ' '\n' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
median() { mid "${ALL[$1]}"; }

echo "backing files in $(df --output=fstype "$W" | tail -n 1) ($W)"
echo "blkclone $("$B" --version | head -n 1); qemu-img $(qemu-img --version | sed -n 's/^qemu-img version \([^ ]*\).*/\1/p'); tgt on 127.0.0.1, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "fan-out: $N clones of a $G GiB thin LUN ($SA B allocated, 10% in 4 KiB-8 MiB extents) onto $N empty thin LUNs, $ROUNDS rounds interleaved"
for r in $(seq 0 "$ROUNDS"); do
	for tool in fan seq par; do
		empty_all
		b0=$(busy) c0=$(tgtcpu)
		"run_$tool" >"$W/t"
		b1=$(busy) c1=$(tgtcpu)
		if [ "$r" = 0 ]; then	# the warm-up: checked, not counted
			check_all "$tool warm-up"
			continue
		fi
		BUSY[$tool]="${BUSY[$tool]:-} $(echo "scale=2; ($b1 - $b0) / $HZ" | bc)"
		TGTCPU[$tool]="${TGTCPU[$tool]:-} $(echo "scale=2; ($c1 - $c0) / $HZ" | bc)"
		if [ "$r" = 1 ] || [ "$r" = "$ROUNDS" ]; then
			check_all "$tool round $r"
		else
			check_all "$tool round $r" $(( (r - 1) % N + 1 ))
		fi
		ALL[$tool]="${ALL[$tool]:-} $(cat "$W/t")"
	done
	[ "$r" != 0 ] || { echo "  round 0: each way once, checked, not counted"; continue; }
	last() { echo ${ALL[$1]} | awk '{ print $NF }'; }
	echo "  round $r: fan $(last fan) s, seq $(last seq) s, par $(last par) s"
done
empty_all; hwm_fan; check_all "fan (peak RSS)"
# What the target read of the source, counted by gatefs (when built) on
# an extra LUN serving the same file through it: untimed runs, so the
# FUSE hop costs no tool its time above.
READ_FAN=n/a READ_SEQ=n/a
if [ -x "$GATEFS" ] && mkdir -p "$GM" && "$GATEFS" "$W/back" "$GM" 2>/dev/null; then
	tgt_lun 1 $((N + 2)) "$GM/src.img"
	empty_all; echo "count src.img" >"$GM/.gate"
	run_fan $((N + 2)) >/dev/null; check_all "fan (counted)"
	READ_FAN=$(sed -n 's/^read //p' "$GM/.gate")
	empty_all; echo "count src.img" >"$GM/.gate"
	run_seq $((N + 2)) >/dev/null; check_all "seq (counted)"
	READ_SEQ=$(sed -n 's/^read //p' "$GM/.gate")
fi
echo "  blkclone job (fan-out):     $(stats fan)"
echo "  $N x qemu-img sequential:    $(stats seq)"
echo "  $N x qemu-img in parallel:   $(stats par)"
echo "  ratio of medians: fan/seq $(echo "scale=3; $(median fan) / $(median seq)" | bc) (target <= 0.25), fan/par $(echo "scale=3; $(median fan) / $(median par)" | bc) (target <= 0.5)"
for tool in fan seq par; do
	echo "  CPU per run, $tool: machine $(mid "${BUSY[$tool]}") s of $(( $(nproc) )) x $(median $tool) s wall, tgtd $(mid "${TGTCPU[$tool]}") s (medians)"
done
# the job's CPU spread over every core, over a peer's wall time
floor() { echo "scale=3; $1 / $(nproc) / $(median "$2")" | bc; }
echo "  lowest ratio the job's CPU allows on $(nproc) cores (machine CPU / cores / the peer's median): fan/seq $(floor "$(mid "${BUSY[fan]}")" seq), fan/par $(floor "$(mid "${BUSY[fan]}")" par); tgtd's part alone: fan/seq $(floor "$(mid "${TGTCPU[fan]}")" seq), fan/par $(floor "$(mid "${TGTCPU[fan]}")" par)"
echo "  source bytes the target read (gatefs, untimed runs): fan $READ_FAN, $N x qemu-img $READ_SEQ (allocated: $SA)"
echo "  job: peak RSS ${FAN_HWM} KiB; per pair $(jq -c '[.pairs[0].report | .read_bytes, .written_bytes, .zeroed_bytes, .skipped_bytes, .fanout, .host_io]' "$W/fan.json") (read, written, zeroed, skipped, fanout, host_io)"
echo "  every destination of every run as thin as the source; cmp-equal: all of them in rounds 1 and $ROUNDS, one in turn between"
echo "  CPU stolen by the hypervisor during the run: $(echo "scale=1; ($(steal) - $STEAL0) / $HZ" | bc) s (the more, the busier the host and the noisier every time above)"
