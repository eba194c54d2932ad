#!/bin/bash
# A real target failing mid-copy: tgtd killed and restarted completes and
# verifies; killed for good fails cleanly (exit 1, the LBA to resume
# from) within the reconnect bound, and --resume-from then finishes.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/tgt-target.sh"
need_root
command -v tgtd >/dev/null || { echo "SKIP: tgt not installed"; exit 77; }
CLEANUP_HOOKS="tgt_stop $CLEANUP_HOOKS"

IQN=iqn.2026-11.test.blkclone:faults
make_sparse "$T/src.img" 1024 60 8192 31
setup() {	# setup [PORT]: a restart passes the port the copy uses
	tgt_start "${1:-}" && tgt_target 1 "$IQN" && tgt_lun 1 1 "$T/src.img" &&
	tgt_lun 1 2 "$T/dst.img"
}
# the copy runs long enough to be hit: the destination holds old data
# everywhere, so every hole costs a WRITE SAME
dd if=/dev/urandom of="$T/dst.img" bs=1M count=1024 status=none
setup || exit 1
U=iscsi://127.0.0.1:$TGT_PORT/$IQN

# 1. killed and back within seconds: the copy logs in again and finishes
# (killed once the copy reports progress: under valgrind it starts late)
"$BLKCLONE" copy --progress --verify "$U/1" "$U/2" >"$T/o1" 2>"$T/e1" &
pid=$!
wait_for "$T/e1" '/100%'
port=$TGT_PORT
tgt_stop
sleep 1
setup "$port" || exit 1
wait $pid
rc=$?
check "copy across a tgtd restart exits 0 ($(grep -v '/100%' "$T/e1"))" test $rc = 0
check "copy across a tgtd restart identical" cmp -s "$T/src.img" "$T/dst.img"

# 2. killed for good: a clean failure naming where to resume
dd if=/dev/urandom of="$T/dst.img" bs=1M count=1024 conv=notrunc status=none
"$BLKCLONE" copy --progress "$U/1" "$U/2" >/dev/null 2>"$T/e2" &
pid=$!
wait_for "$T/e2" '/100%'
t0=$(date +%s)
tgt_stop
wait $pid
rc=$?
t1=$(date +%s)
note "failure reported $((t1 - t0)) s after the kill: $(grep -v '/100%' "$T/e2" | head -c 300)"
check "target gone: exit 1" test $rc = 1
check "target gone: message names the LBA" grep -q "at LBA [0-9]" "$T/e2"
check "target gone: message says the connection was lost" grep -q "connection lost" "$T/e2"
check "target gone: gave up within 60 s" test $((t1 - t0)) -le 60
lba=$(sed -n 's/.*--resume-from=\([0-9]*\).*/\1/p' "$T/e2")
check "target gone: a resume LBA is printed" test -n "$lba"

# 3. the target returns; --resume-from finishes the job
setup || exit 1
U=iscsi://127.0.0.1:$TGT_PORT/$IQN
"$BLKCLONE" copy --resume-from="${lba:-0}" "$U/1" "$U/2" >/dev/null 2>"$T/e3"
rc=$?; check "resume after the outage exits 0 ($(cat "$T/e3"))" test $rc = 0
check "resumed copy identical" cmp -s "$T/src.img" "$T/dst.img"

finish
