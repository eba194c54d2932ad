#!/bin/bash
# In-array clone on LIO (the test VM) against its peers, in one run, on one
# 1 GiB LU pair: blkclone's EXTENDED COPY vs `qemu-img convert -C -n`
# (which also sends EXTENDED COPY) vs blkclone's own host copy.  Prints
# times, ratios (blkclone / peer; below 1 = blkclone faster) and the bytes
# that crossed the host, counted on the loopback interface the VM's port
# forward uses (iSCSI headers included) and, for blkclone, from --json.
# Times are of an emulated (TCG) VM: compare ratios, never absolute speed.
# The in-array tools run round robin, one run each per round, ROUNDS
# rounds (at least 5) after a warm-up round that is checked and not
# counted: medians, best and p90/p10 spread.  Before every run three 1 MiB
# pieces of the destination (first, middle, last) are overwritten with
# new random data, untimed, and after it they must read as the source's:
# a tool that wrote nothing cannot pass.  The whole LUs are compared (MD5
# of O_DIRECT reads in the guest) after each tool in the first and the
# last round.  blkclone's host copy, 30 times slower through the VM's
# emulated network, runs once at the end: an order of magnitude, not a
# ratio.
#   usage: bench/bench-xcopy.sh [MiB-OF-DATA] [ROUNDS]   (root, qemu-system-x86, qemu-utils)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BLKCLONE:-$top/build/blkclone}
MB=${1:-1024}
ROUNDS=${2:-5}
[ "$ROUNDS" -ge 5 ] || { echo "ROUNDS must be 5 or more" >&2; exit 2; }
export BLKCLONE_VM_DIR=${BLKCLONE_VM_DIR:-$(mktemp -d /var/tmp/blkclone-bench-vm.XXXXXX)}
export BLKCLONE_VM_PORT=${BLKCLONE_VM_PORT:-15260}
export BLKCLONE_STATE_DIR=$BLKCLONE_VM_DIR/state
vm=$top/tests/vm/vm.sh
trap '"$vm" stop >/dev/null 2>&1 || true' EXIT
"$vm" start "$B"
. "$BLKCLONE_VM_DIR/vm.env"
U=iscsi://127.0.0.1:$BLKCLONE_VM_ISCSI_PORT/$BLKCLONE_VM_IQN
A=$U/0 D=$U/1

# Data made in the guest: the emulated network is the slow part.
"$vm" exec "dd if=/dev/urandom of=\$(awk '\$1==\"A\"{print \$2}' /run/vm-luns) bs=1M count=$MB oflag=direct 2>&1 | tail -n1"

lo_bytes() { echo $(( $(cat /sys/class/net/lo/statistics/rx_bytes) )); }
run() {	# run CMD...: seconds into $secs, loopback bytes into $moved
	local b0 t0
	b0=$(lo_bytes); t0=$(date +%s.%N)
	"$@" >"$BLKCLONE_VM_DIR/out" 2>"$BLKCLONE_VM_DIR/err" ||
		{ cat "$BLKCLONE_VM_DIR/err"; exit 1; }
	secs=$(echo "$(date +%s.%N) - $t0" | bc)
	moved=$(( $(lo_bytes) - b0 ))
}
ratio() { echo "scale=2; $1 / $2" | bc; }
same() {	# the guest compares the two LUs with O_DIRECT reads
	"$vm" exec 'a=$(awk "\$1==\"A\"{print \$2}" /run/vm-luns); b=$(awk "\$1==\"B\"{print \$2}" /run/vm-luns);
		[ "$(dd if=$a bs=1M iflag=direct 2>/dev/null | md5sum)" = "$(dd if=$b bs=1M iflag=direct 2>/dev/null | md5sum)" ]' ||
		{ echo "  MISMATCH after $1"; exit 1; }
}

# The destination's backing store is allocated first: LIO's first write to
# a tmpfs page costs more than every later one, and would favour whichever
# tool runs second.
"$vm" exec 'b=$(awk "\$1==\"B\"{print \$2}" /run/vm-luns); dd if=/dev/zero of=$b bs=1M count=1024 oflag=direct 2>/dev/null'

# the three pieces: first, middle and last MiB of the copied range
PIECES="0 $((MB / 2)) $((MB - 1))"
scramble() {	# new random data in the destination's pieces (untimed)
	"$vm" exec 'b=$(awk "\$1==\"B\"{print \$2}" /run/vm-luns);
		for p in '"$PIECES"'; do dd if=/dev/urandom of=$b bs=1M seek=$p count=1 oflag=direct conv=notrunc 2>/dev/null || exit 1; done' ||
		{ echo "  cannot scramble the destination"; exit 1; }
}
pieces_same() {	# the pieces read as the source's
	"$vm" exec 'a=$(awk "\$1==\"A\"{print \$2}" /run/vm-luns); b=$(awk "\$1==\"B\"{print \$2}" /run/vm-luns);
		for p in '"$PIECES"'; do
			[ "$(dd if=$a bs=1M skip=$p count=1 iflag=direct 2>/dev/null | md5sum)" = "$(dd if=$b bs=1M skip=$p count=1 iflag=direct 2>/dev/null | md5sum)" ] || exit 1
		done' || { echo "  MISMATCH (a scrambled piece) after $1"; exit 1; }
}

declare -A T H
KEYS="q q1 b"
declare -A CMD=(
	[q]="qemu-img convert -C -n -f raw -O raw $A $D"
	[q1]="qemu-img convert -C -n -m 1 -f raw -O raw $A $D"
	[b]="$B copy --offload=require --json $A $D"
)
declare -A NAME=(
	[q]="qemu-img convert -C -n (8 in flight)"
	[q1]="qemu-img convert -C -n -m 1"
	[b]="blkclone EXTENDED COPY"
)
rank() { echo $1 | tr ' ' '\n' | sort -g | awk -v p="$2" '{ a[NR] = $1 }
	END { r = int((p * NR + 99) / 100); if (r < 1) r = 1; print a[r] }'; }
med() { rank "$1" 50; }

echo "1 GiB LIO LU pair, $MB MiB of data (LIO has no GET LBA STATUS: every block is copied); $ROUNDS rounds after a warm-up"
# the order turns each round: the VM's speed drifts within a run (the
# 3 December run's times grew by half from the first round to the last,
# for every tool), and a tool always last would always be slowest
set -- $KEYS
for r in $(seq 0 "$ROUNDS"); do
	line="  round $r:"
	case $((r % 3)) in
	0) order="$1 $2 $3" ;;
	1) order="$2 $3 $1" ;;
	*) order="$3 $1 $2" ;;
	esac
	for k in $order; do
		scramble
		# shellcheck disable=SC2086
		run ${CMD[$k]}
		[ "$k" != b ] || cp "$BLKCLONE_VM_DIR/out" "$BLKCLONE_VM_DIR/out.b"
		pieces_same "${NAME[$k]}"
		if [ "$r" = 1 ] || [ "$r" = "$ROUNDS" ]; then same "${NAME[$k]}"; fi
		[ "$r" = 0 ] && continue
		T[$k]="${T[$k]:-} $secs" H[$k]="${H[$k]:-} $moved"
		eval "t_$k=$secs"
		line="$line $k $secs s"
	done
	# the round's own ratio: the drift between rounds cancels in it
	[ "$r" = 0 ] || RB="${RB:-} $(ratio "$t_b" "$t_q")"
	if [ "$r" = 0 ]; then echo "  round 0: each tool once, checked, not counted"; else echo "$line"; fi
done
for k in $KEYS; do
	t=${T[$k]}
	printf '  %-40s median %6.2f s  best %6.2f s  p90/p10 %4s  host bytes (lo, median) %s\n' "${NAME[$k]}" \
		"$(med "$t")" "$(rank "$t" 1)" "$(ratio "$(rank "$t" 90)" "$(rank "$t" 10)")" "$(med "${H[$k]}")"
done
echo "  blkclone's json (its last run): offloaded $(jq .offloaded_bytes "$BLKCLONE_VM_DIR/out.b") read $(jq .read_bytes "$BLKCLONE_VM_DIR/out.b") written $(jq .written_bytes "$BLKCLONE_VM_DIR/out.b")"
echo "  qemu-img -m 1 / qemu-img (8 in flight): median $(ratio "$(med "${T[q1]}")" "$(med "${T[q]}")") (LIO reports 1 concurrent copy)"
echo "  ratio blkclone / qemu-img -C: medians $(ratio "$(med "${T[b]}")" "$(med "${T[q]}")"), best $(ratio "$(rank "${T[b]}" 1)" "$(rank "${T[q]}" 1)"); each round's:$RB, their median $(med "$RB") (target <= 1)"
scramble
run "$B" copy --offload=never --json "$A" "$D"; th=$secs mh=$moved
pieces_same "host copy"; same "host copy"
echo "  blkclone host copy (once): $th s; host bytes (lo) $mh"
echo "  ratio in-array (median) / host copy: $(ratio "$(med "${T[b]}")" "$th")"
