#!/bin/bash
# In-array clone on LIO (the test VM) against its peers, in one run, on one
# 1 GiB LU pair: blkclone's EXTENDED COPY vs `qemu-img convert -C -n`
# (which also sends EXTENDED COPY) vs blkclone's own host copy.  Prints
# times, ratios (blkclone / peer; below 1 = blkclone faster) and the bytes
# that crossed the host, counted on the loopback interface the VM's port
# forward uses (iSCSI headers included) and, for blkclone, from --json.
# Times are of an emulated (TCG) VM: compare ratios, never absolute speed.
#   usage: bench/bench-xcopy.sh [MiB-OF-DATA]   (root, qemu-system-x86, qemu-utils)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BLKCLONE:-$top/build/blkclone}
MB=${1:-1024}
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
# tool runs second.  Each tool then runs twice; the best time counts.
"$vm" exec 'b=$(awk "\$1==\"B\"{print \$2}" /run/vm-luns); dd if=/dev/zero of=$b bs=1M count=1024 oflag=direct 2>/dev/null'
best() {	# best CMD...: the better of two runs into $secs, $moved
	run "$@"; local s1=$secs m1=$moved
	run "$@"
	if [ "$(echo "$s1 < $secs" | bc)" = 1 ]; then secs=$s1 moved=$m1; fi
}

echo "1 GiB LIO LU pair, $MB MiB of data (LIO has no GET LBA STATUS: every block is copied)"
best qemu-img convert -C -n -f raw -O raw "$A" "$D"; tq=$secs mq=$moved
same qemu-img
echo "  qemu-img convert -C -n (8 requests in flight): $tq s; host bytes (lo) $mq"
best qemu-img convert -C -n -m 1 -f raw -O raw "$A" "$D"; tq1=$secs
echo "  qemu-img convert -C -n -m 1 (one at a time): $tq1 s: concurrency gains $(ratio "$tq1" "$tq")x (LIO reports 1 concurrent copy)"
best "$B" copy --offload=require --json "$A" "$D"; tb=$secs mb=$moved
same blkclone
echo "  blkclone EXTENDED COPY: $tb s; host bytes (lo) $mb; json: offloaded $(jq .offloaded_bytes "$BLKCLONE_VM_DIR/out") read $(jq .read_bytes "$BLKCLONE_VM_DIR/out") written $(jq .written_bytes "$BLKCLONE_VM_DIR/out")"
echo "  ratio blkclone / qemu-img -C: $(ratio "$tb" "$tq") (target <= 1)"
run "$B" copy --offload=never --json "$A" "$D"; th=$secs mh=$moved
same "host copy"
echo "  blkclone host copy: $th s; host bytes (lo) $mh"
echo "  ratio in-array / host copy: $(ratio "$tb" "$th")"
