# Sourced after common.sh and tgt-target.sh: faults injected into a real
# tgt target on 127.0.0.1 in the middle of a blkclone copy, each run
# judged the same way by tests/integration/test-iscsi-fault-cases.sh (one
# run each) and bench/fault-table.sh (many).
#
#   faults_init SIZE_MB     source, destination and a small LUN on a new
#                           tgtd, backed by files under a gatefs mount
#                           (tests/lib/gate.sh)
#   fault_run CASE          one run; sets FAULT_OUTCOME (completed | clean |
#                           refused | bad) and FAULT_WHY.  The fault strikes
#                           while the copy's reads past byte $FAULT_AT of
#                           the source (default: half of it) are held, so
#                           it always lands mid-copy, never after the end,
#                           whatever the machine's speed.
# The gate holds reads, not writes: the kernel holds a FUSE file's inode
# lock through a direct write, and tgtd's main thread, which answers
# GET LBA STATUS with lseek(SEEK_DATA) on that file, would wait for it.
#
# Cases (what tgt 1.0.x does, from its usr/sbc.c, usr/target.c):
#   restart     tgtd killed (SIGKILL) and restarted on its port 1 s later
#   kill        tgtd killed for good; restarted only for the resume
#   dst-offline destination LUN "removable=1,online=0": READ/WRITE/WRITE
#               SAME answer NOT READY, MEDIUM NOT PRESENT (3A/00)
#   src-offline the same on the source LUN
#   tgt-offline target state "offline" for 3 s: a command that arrives
#               meanwhile is dropped unanswered (target_cmd_queue's -EBUSY
#               is ignored by tgt's iSCSI layer) and times out after 60 s;
#               one command at a time got through, several in flight may not
#   tgt-offline-long  the same for 90 s: past libiscsi's 60 s command
#               timeout and blkclone's bounded re-login
#   refusals    exit 2/3 cases (a destination smaller than the source,
#               --offload=require without a copy manager, a LU another
#               copy is writing) must leave the destination untouched
# A LUN cannot be deleted while a session uses it ("this logical unit is
# still active"), and online=0 alone does nothing to a non-removable LUN's
# reads and writes, so neither is a case.

FAULT_IQN=iqn.2026-11.test.blkclone:faultcases

faults_lun_setup() {	# [PORT]
	tgt_start "${1:-}" && tgt_target 1 "$FAULT_IQN" &&
	tgt_lun 1 1 "$GATE_MNT/fsrc.img" && tgt_lun 1 2 "$GATE_MNT/fdst.img" &&
	tgt_lun 1 3 "$GATE_MNT/fsmall.img" || return 1
	FAULT_URL=iscsi://127.0.0.1:$TGT_PORT/$FAULT_IQN
}

faults_init() {
	local mb=${1:-256}
	FAULT_MB=$mb
	make_sparse "$T/fsrc.img" "$mb" 40 4096 11
	# data in the last MiB: a read past any gate offset comes
	dd if=/dev/urandom of="$T/fsrc.img" bs=1M seek=$((mb - 1)) count=1 \
		conv=notrunc status=none
	# old data everywhere on the destination: every hole costs a WRITE SAME
	dd if=/dev/urandom of="$T/fold.img" bs=1M count="$mb" status=none
	cp "$T/fold.img" "$T/fdst.img"
	truncate -s $((mb / 2))M "$T/fsmall.img"
	gate_mount && faults_lun_setup
}

fadm() { tgtadm -C "$TGT_CTL" --lld iscsi "$@"; }

# fault_judge RC ERRFILE LUN-URL: a failure must name the device, the
# command, the LBA, the status and where to resume; everything before the
# resume LBA must already be on the destination.
fault_judge() {
	local rc=$1 err=$2 lba
	if [ "$rc" = 0 ]; then
		if cmp -s "$T/fsrc.img" "$T/fdst.img"; then
			FAULT_OUTCOME=completed
		else
			FAULT_OUTCOME=bad FAULT_WHY="exit 0 but the copy differs"
		fi
		return
	fi
	FAULT_OUTCOME=bad
	if [ "$rc" != 1 ]; then FAULT_WHY="exit $rc: $(head -c 300 "$err")"; return; fi
	if ! grep -q "^blkclone: iscsi://127.0.0.1:[0-9]*/$FAULT_IQN/[12]: " "$err"; then
		FAULT_WHY="no device named: $(head -c 300 "$err")"; return
	fi
	if ! grep -Eq ': [A-Z][A-Z0-9 ()]* at LBA [0-9]+' "$err"; then
		FAULT_WHY="no command and LBA: $(head -c 300 "$err")"; return
	fi
	if ! grep -Eq 'Not Ready|Medium not present|connection lost|timed out|BUSY|TASK SET FULL' "$err"; then
		FAULT_WHY="status not decoded: $(head -c 300 "$err")"; return
	fi
	if grep -q "every block was written before this failure" "$err"; then
		FAULT_OUTCOME=verify-failed	# judged on the bytes once healed
		return
	fi
	lba=$(sed -n 's/.*--resume-from=\([0-9]*\).*/\1/p' "$err")
	if [ -z "$lba" ]; then FAULT_WHY="no --resume-from: $(head -c 300 "$err")"; return; fi
	if ! cmp -s -n $((lba * 512)) "$T/fsrc.img" "$T/fdst.img"; then
		FAULT_WHY="blocks before --resume-from=$lba are not all copied"; return
	fi
	FAULT_LBA=$lba
	FAULT_OUTCOME=failed
}

# after a clean failure and the fault healed: --resume-from must finish
fault_resume() {
	local rc
	if [ "$FAULT_OUTCOME" = verify-failed ]; then
		if cmp -s "$T/fsrc.img" "$T/fdst.img"; then
			FAULT_OUTCOME=clean FAULT_WHY="(after the last block) $(head -n 1 "$T/frun.err")"
		else
			FAULT_OUTCOME=bad FAULT_WHY="verify failed and the copy differs"
		fi
		return 0
	fi
	[ "$FAULT_OUTCOME" = failed ] || return 0
	timeout 300 "$BLKCLONE" copy --resume-from="$FAULT_LBA" "$FAULT_URL/1" "$FAULT_URL/2" \
		>/dev/null 2>"$T/fres.err"
	rc=$?
	if [ "$rc" != 0 ]; then
		FAULT_OUTCOME=bad FAULT_WHY="resume exit $rc: $(head -c 300 "$T/fres.err")"
	elif ! cmp -s "$T/fsrc.img" "$T/fdst.img"; then
		FAULT_OUTCOME=bad FAULT_WHY="resumed from $FAULT_LBA, copy differs"
	else
		FAULT_OUTCOME=clean FAULT_WHY=$(head -n 1 "$T/frun.err")
	fi
}

# the destination's bytes must be what they were: compare with fold.img
fault_untouched() {	# WHAT RC WANT
	if [ "$2" != "$3" ]; then
		FAULT_OUTCOME=bad FAULT_WHY="$1: exit $2, wanted $3: $(head -c 300 "$T/frun.err")"
		return 1
	fi
	if ! cmp -s "$T/fold.img" "$T/fdst.img"; then
		FAULT_OUTCOME=bad FAULT_WHY="$1: exit $2 but the destination was written"
		return 1
	fi
}

fault_refusals() {
	local rc pid
	FAULT_OUTCOME=refused
	FAULT_WHY="exit 2 (smaller destination), 3 (--offload=require), 2 (LU locked): destinations untouched"
	# a destination smaller than the source (LUN 3 is half the size)
	timeout 120 "$BLKCLONE" copy "$FAULT_URL/2" "$FAULT_URL/3" >/dev/null 2>"$T/frun.err"
	rc=$?
	if [ "$rc" != 2 ] || ! cmp -s -n $((FAULT_MB * 512 * 1024)) "$T/fsmall.img" /dev/zero; then
		FAULT_OUTCOME=bad FAULT_WHY="smaller destination: exit $rc, or it was written"
		return
	fi
	# tgt has no copy manager
	timeout 120 "$BLKCLONE" copy --offload=require "$FAULT_URL/1" "$FAULT_URL/2" \
		>/dev/null 2>"$T/frun.err"
	fault_untouched "offload=require" $? 3 || return
	# a zero of LUN 2 while a copy writes it: refused by the host lock
	# before it writes, and the copy still ends identical
	# (the holder's reads are held at the gate: it holds its lock)
	gate_arm fsrc.img read "$(fault_at)"
	timeout 300 "$BLKCLONE" copy --verify "$FAULT_URL/1" "$FAULT_URL/2" >/dev/null 2>"$T/fhold.err" &
	pid=$!
	if ! gate_wait_held 300 "$pid"; then
		gate_open; wait $pid
		FAULT_OUTCOME=bad FAULT_WHY="harness: the holder never reached the gate: $(head -c 300 "$T/fhold.err")"
		return
	fi
	timeout 120 "$BLKCLONE" zero "$FAULT_URL/2" >/dev/null 2>"$T/frun.err"
	rc=$?
	gate_open
	wait $pid
	if [ "$rc" != 2 ] || ! grep -q "in use by another blkclone" "$T/frun.err"; then
		FAULT_OUTCOME=bad FAULT_WHY="locked: zero exit $rc: $(head -c 300 "$T/frun.err")"
	elif ! cmp -s "$T/fsrc.img" "$T/fdst.img"; then
		FAULT_OUTCOME=bad FAULT_WHY="locked: the holder's copy differs after a refused zero"
	fi
}

# where the gate holds the copy: $FAULT_AT bytes into the source
fault_at() {
	echo "${FAULT_AT:-$((FAULT_MB << 19))}"
}

fault_run() {
	local case=$1 rc pid port
	FAULT_OUTCOME=bad FAULT_WHY= FAULT_LBA=
	cp "$T/fold.img" "$T/fdst.img"
	if [ "$case" = refusals ]; then fault_refusals; return; fi
	# the source's reads past fault_at (there is data in its last MiB)
	# are held until the fault is in place
	gate_arm fsrc.img read "$(fault_at)"
	timeout 300 "$BLKCLONE" copy --verify "$FAULT_URL/1" "$FAULT_URL/2" >/dev/null 2>"$T/frun.err" &
	pid=$!
	if ! gate_wait_held 300 "$pid"; then
		gate_open; wait $pid
		FAULT_WHY="harness: the copy never reached the gate (exit $?): $(head -c 300 "$T/frun.err")"
		return 1
	fi
	case $case in
	restart)	# tgtd killed with commands in flight, back 1 s later
		port=$TGT_PORT; tgt_stop; gate_open; sleep 1; faults_lun_setup "$port" ;;
	kill)
		port=$TGT_PORT; tgt_stop; gate_open ;;
	dst-offline|src-offline)
		local lun=2; [ "$case" = src-offline ] && lun=1
		fadm --op update --mode logicalunit --tid 1 --lun $lun \
			--params removable=1,online=0
		gate_open ;;
	tgt-offline)	# offline for 3 s with the copy's commands in flight
		fadm --op update --mode target --tid 1 -n state -v offline
		gate_open; sleep 3
		fadm --op update --mode target --tid 1 -n state -v ready ;;
	tgt-offline-long)
		fadm --op update --mode target --tid 1 -n state -v offline
		gate_open ;;
	*) echo "unknown fault case $case" >&2; gate_open; kill $pid; wait $pid; return 1 ;;
	esac
	wait $pid
	rc=$?
	fault_judge $rc "$T/frun.err"
	# heal, then resume if it failed
	case $case in
	kill) faults_lun_setup "$port" ;;
	dst-offline|src-offline)
		fadm --op update --mode logicalunit --tid 1 --lun $lun \
			--params online=1,removable=0 ;;
	tgt-offline-long)
		fadm --op update --mode target --tid 1 -n state -v ready ;;
	esac
	fault_resume
}
