#!/bin/bash
# A real target failing mid-copy (held at the destination's middle by
# tests/lib/gate.sh when it strikes): tgtd killed and restarted completes and
# verifies; killed for good fails cleanly (exit 1, the LBA to resume
# from) within the reconnect bound, and --resume-from then finishes.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/tgt-target.sh"
. "$(dirname "$0")/../lib/gate.sh"
need_root
command -v tgtd >/dev/null || { echo "SKIP: tgt not installed"; exit 77; }
CLEANUP_HOOKS="tgt_stop $CLEANUP_HOOKS"

IQN=iqn.2026-11.test.blkclone:faults
make_sparse "$T/src.img" 1024 60 8192 31
# data in the last MiB: a read past the middle comes
dd if=/dev/urandom of="$T/src.img" bs=1M seek=1023 count=1 conv=notrunc status=none
gate_mount || exit 1
setup() {	# setup [PORT]: a restart passes the port the copy uses
	tgt_start "${1:-}" && tgt_target 1 "$IQN" && tgt_lun 1 1 "$GATE_MNT/src.img" &&
	tgt_lun 1 2 "$GATE_MNT/dst.img"
}
# the copy's reads of the source past its middle are held at the gate
# while tgtd is killed, so the kill lands mid-copy (reads, not writes:
# tests/lib/faults.sh says why)
dd if=/dev/urandom of="$T/dst.img" bs=1M count=1024 status=none
setup || exit 1
U=iscsi://127.0.0.1:$TGT_PORT/$IQN
HALF=$((512 << 20))

# 1. killed with commands in flight and back 1 s later: the copy logs in
# again and finishes
gate_arm src.img read $HALF
"$BLKCLONE" copy --verify "$U/1" "$U/2" >"$T/o1" 2>"$T/e1" &
pid=$!
gate_wait_held 300 $pid || exit 1
port=$TGT_PORT
tgt_stop
gate_open
sleep 1		# the outage: shorter than the re-login bound
setup "$port" || exit 1
wait $pid
rc=$?
check "copy across a tgtd restart exits 0 ($(cat "$T/e1"))" test $rc = 0
check "copy across a tgtd restart identical" cmp -s "$T/src.img" "$T/dst.img"
check "the restart struck mid-copy: reads were held" test "$(gate_total)" -gt 0

# 2. killed for good: a clean failure naming where to resume
dd if=/dev/urandom of="$T/dst.img" bs=1M count=1024 conv=notrunc status=none
gate_arm src.img read $HALF
"$BLKCLONE" copy "$U/1" "$U/2" >/dev/null 2>"$T/e2" &
pid=$!
gate_wait_held 300 $pid || exit 1
held_at=$(gate_low)
t0=$(date +%s)
tgt_stop
gate_open
wait $pid
rc=$?
t1=$(date +%s)
note "failure reported $((t1 - t0)) s after the kill: $(head -c 300 "$T/e2")"
check "target gone: exit 1" test $rc = 1
check "target gone: message names the LBA" grep -q "at LBA [0-9]" "$T/e2"
check "target gone: message says the connection was lost" grep -q "connection lost" "$T/e2"
check "target gone: gave up within 60 s" test $((t1 - t0)) -le 60
lba=$(sed -n 's/.*--resume-from=\([0-9]*\).*/\1/p' "$T/e2")
check "target gone: a resume LBA is printed" test -n "$lba"
check "target gone: the resume LBA is at most the held read's ($held_at)" \
	test "$(( ${lba:-999999999} * 512 ))" -le "$held_at"
check "target gone: everything below the resume LBA is copied" \
	cmp -s -n $(( ${lba:-0} * 512 )) "$T/src.img" "$T/dst.img"

# 3. the target returns; --resume-from finishes the job
setup || exit 1
U=iscsi://127.0.0.1:$TGT_PORT/$IQN
"$BLKCLONE" copy --resume-from="${lba:-0}" "$U/1" "$U/2" >/dev/null 2>"$T/e3"
rc=$?; check "resume after the outage exits 0 ($(cat "$T/e3"))" test $rc = 0
check "resumed copy identical" cmp -s "$T/src.img" "$T/dst.img"

finish
