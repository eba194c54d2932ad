#!/bin/bash
# SIGINT or SIGTERM before a copy has written anything leaves no
# destination file behind.  Each signal is sent at a known point, reached
# as an event, never after a fixed time:
# - while the source's iSCSI login hangs, or its probe (the first command
#   after opening it) does: tests/tools/iscsi-stall.py is a target on
#   127.0.0.1 that stops answering there and says so;
# - after the destination file was created, while blkclone's first read of
#   the source is held at the gate (tests/lib/gate.sh).
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/gate.sh"
need_root
STALL=$TOP_SRCDIR/tests/tools/iscsi-stall.py
command -v python3 >/dev/null || { echo "python3 missing"; exit 1; }
# the stalled command must not time out and be retried while we wait
export BLKCLONE_ISCSI_TIMEOUT=3600
IQN=iqn.2026-11.test.blkclone:stall

# interrupt_stalled MODE EVENT SIGNAL DST: copy from a target stalled at
# MODE (login, probe) onto DST; once the target reports EVENT, send
# SIGNAL.  Sets rc to blkclone's exit status.  Signals are set to their
# default action for blkclone (a background job of a script ignores
# SIGINT otherwise).
interrupt_stalled() {
	local mode=$1 event=$2 sig=$3 dst=$4 st=$T/stall.$1.$3 port tpid pid
	rm -f "$st"
	python3 "$STALL" "$mode" "$st" &
	tpid=$!
	if ! wait_for "$st" '^port ' 120; then
		fail "$mode/$sig: the stalling target did not start"; rc=-1; return
	fi
	port=$(sed -n 's/^port //p' "$st")
	env --default-signal=INT,TERM "$BLKCLONE" copy \
		"iscsi://127.0.0.1:$port/$IQN/0" "$dst" >"$T/out" 2>"$T/err" &
	pid=$!
	if ! wait_for "$st" "$event" 300; then
		fail "$mode/$sig: blkclone never reached '$event' ($(cat "$T/err"))"
		kill -KILL $pid $tpid 2>/dev/null; wait $pid $tpid; rc=-1; return
	fi
	note "$mode/$sig: target says '$(tail -n 1 "$st")'; destination file $(test -e "$dst" && echo exists || echo 'does not exist')"
	kill -s "$sig" $pid
	wait $pid
	rc=$?
	wait $tpid
}

# 1. SIGINT while the source's first probe command goes unanswered (it
#    was opened: logged in, READ CAPACITY answered).
interrupt_stalled probe '^stalled ' INT "$T/probe-int.img"
check "SIGINT during the source's probe: blkclone ends by the signal (status $rc, $(head -n 1 "$T/err"))" \
	test "$rc" = 130
check "SIGINT during the source's probe leaves no destination file" test ! -e "$T/probe-int.img"

# 2. The same with SIGTERM (what a service manager or PVE's task stop sends).
interrupt_stalled probe '^stalled ' TERM "$T/probe-term.img"
check "SIGTERM during the source's probe: ends by the signal (status $rc)" test "$rc" = 143
check "SIGTERM during the source's probe leaves no destination file" test ! -e "$T/probe-term.img"

# 3. SIGINT while the login itself hangs (connected, never answered).
interrupt_stalled login '^connected' INT "$T/login-int.img"
check "SIGINT during the login: ends by the signal (status $rc)" test "$rc" = 130
check "SIGINT during the login leaves no destination file" test ! -e "$T/login-int.img"

# 4. The destination file exists, nothing is written yet, and blkclone
#    waits for the source's first read, held at the gate
#    (tests/lib/gate.sh).  The signal stops it there: exit 1, the file it
#    created removed.
make_sparse "$T/src4.img" 16 4 256 3
gate_mount || exit 1
gate_arm src4.img read 0
env --default-signal=INT,TERM \
	"$BLKCLONE" copy "$GATE_MNT/src4.img" "$T/new.img" >"$T/out" 2>"$T/err" &
pid=$!
gate_wait_held 300 $pid || exit 1
check "the destination file was created before the held read" test -e "$T/new.img"
kill -INT $pid 2>/dev/null
# the gate opens once blkclone said it heard the stop: a signal handled
# late (valgrind delivers them at its own pace) must not find the held
# read already back and written
wait_for "$T/err" 'stop asked for: stopping at the next safe point' 300 ||
	fail "blkclone never said it heard SIGINT"
gate_open
wait $pid
rc=$?
check "SIGINT after the file was created, before any write: exit 1 (status $rc, $(head -n 1 "$T/err"))" \
	test "$rc" = 1
check "... says nothing was written and the file it made was removed ($(tail -n 1 "$T/err"))" grep -q 'nothing was written: .*new.img, which this copy had created, was removed' "$T/err"
check "... and removed the file it had created" test ! -e "$T/new.img"

# 5. copy --to: the same with two destination files: the stop reaches
#    every destination, and both files it created are removed.
gate_arm src4.img read 0
env --default-signal=INT,TERM \
	"$BLKCLONE" copy --to="$T/new1.img" --to="$T/new2.img" "$GATE_MNT/src4.img" >"$T/out" 2>"$T/err" &
pid=$!
gate_wait_held 300 $pid || exit 1
check "copy --to: both destination files were created before the held read" \
	test -e "$T/new1.img" -a -e "$T/new2.img"
kill -INT $pid 2>/dev/null
wait_for "$T/err" 'stop asked for: stopping at the next safe point' 300 ||
	fail "copy --to never said it heard SIGINT"
gate_open
wait $pid
rc=$?
check "copy --to: SIGINT before any write: exit 1 (status $rc)" test "$rc" = 1
check "... each destination says nothing was written and its file was removed" \
	sh -c "grep -q 'new1.img, which this copy had created, was removed' '$T/err' && grep -q 'new2.img, which this copy had created, was removed' '$T/err'"
check "... and both files are gone" test ! -e "$T/new1.img" -a ! -e "$T/new2.img"

# 6. copy --to stopped mid-copy (its read at 8 MiB held, SIGTERM): every
#    destination stops with its own resume offset at or below the held
#    read, everything below copied; copy --resume-from finishes each.
dd if=/dev/urandom of="$T/src6.img" bs=1M count=16 status=none
truncate -s 16M "$T/d61.img" "$T/d62.img"
gate_arm src6.img read $((8 << 20))
env --default-signal=INT,TERM "$BLKCLONE" copy --json --to="$T/d61.img" --to="$T/d62.img" \
	"$GATE_MNT/src6.img" >"$T/out6" 2>"$T/err" &
pid=$!
gate_wait_held 300 $pid || exit 1
held=$(gate_low)
kill -TERM $pid 2>/dev/null
wait_for "$T/err" 'stop asked for: stopping at the next safe point' 300 ||
	fail "copy --to never said it heard SIGTERM"
gate_open
wait $pid
rc=$?
check "copy --to: SIGTERM mid-copy: exit 1 (status $rc)" test "$rc" = 1
check "... both destinations stopped (exit 1 each)" \
	test "$(jq -c '[.status, [.pairs[].exit_code]]' "$T/out6")" = '["failed",[1,1]]'
for k in 1 2; do
	off=$(jq -r ".pairs[$((k - 1))].resume_offset" "$T/out6")
	lba=$(jq -r ".pairs[$((k - 1))].resume_lba" "$T/out6")
	check "... destination $k: resume offset $off at or below the held read ($held), copied below it" \
		sh -c "test '$off' -le '$held' && cmp -s -n '$off' '$T/src6.img' '$T/d6$k.img'"
	"$BLKCLONE" copy --resume-from="$lba" "$T/src6.img" "$T/d6$k.img" >/dev/null 2>"$T/err"
	check "... destination $k resumed from LBA $lba alone: byte-identical" cmp -s "$T/src6.img" "$T/d6$k.img"
done

finish
