#!/bin/bash
# The host lock on iSCSI destinations (src/volume/lock.c): while one copy writes
# a LUN, a second copy or zero onto it exits 2 naming the holder -- through
# the same URL, through another portal address (localhost), and through
# another target name exporting the same LU (same designator) -- and
# writes nothing; the first copy still ends byte-identical; a copy onto
# another LUN runs at the same time; a killed holder leaves no lock behind.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/tgt-target.sh"
. "$(dirname "$0")/../lib/gate.sh"
need_root
command -v tgtd >/dev/null || { echo "SKIP: tgt not installed"; exit 77; }
CLEANUP_HOOKS="tgt_stop $CLEANUP_HOOKS"

IQN=iqn.2026-11.test.blkclone:lock
IQN2=iqn.2026-11.test.blkclone:lock-other-target
make_sparse "$T/src.img" 512 60 8192 23
make_sparse "$T/src3.img" 64 10 1024 5
# old data everywhere: the first copy writes every block of it
dd if=/dev/urandom of="$T/dst.img" bs=1M count=512 status=none
truncate -s 64M "$T/dst3.img"
# LUNs 1 and 2 through the gate: the holder's reads of the source are held
# while the others try, so it holds its lock whatever the machine's speed
# (reads, not writes: tests/lib/faults.sh says why)
gate_mount || exit 1
tgt_start && tgt_target 1 "$IQN" && tgt_lun 1 1 "$GATE_MNT/src.img" &&
	tgt_lun 1 2 "$GATE_MNT/dst.img" && tgt_lun 1 3 "$T/dst3.img" && tgt_lun 1 4 "$T/src3.img" &&
	tgt_target 2 "$IQN2" && tgt_lun 2 1 "$GATE_MNT/dst.img" || exit 1
# one LU behind two target names: tgt's designators come from scsi_id
for tl in "1 2" "2 1"; do
	set -- $tl
	tgtadm -C "$TGT_CTL" --lld iscsi --op update --mode logicalunit --tid "$1" \
		--lun "$2" --params scsi_id=b1c10e0d5 || exit 1
done
U=iscsi://127.0.0.1:$TGT_PORT/$IQN

gate_arm src.img read 0
"$BLKCLONE" copy --verify "$U/1" "$U/2" >"$T/o1" 2>"$T/e1" &
holder=$!
gate_wait_held 300 $holder || exit 1	# copying: the lock is taken before
check "the holder wrote who it is into the lock file" \
	grep -q "pid $holder writing $U/2 since " "$T/locks/iscsi-$IQN-lun2.lock"

refused() {	# WHAT ADDR [zero]: exit 2 and the holder named
	local what=$1 addr=$2
	if [ "${3:-}" = zero ]; then
		expect_exit 2 "$what" "$BLKCLONE" zero "$addr"
	else
		expect_exit 2 "$what" "$BLKCLONE" copy "$U/4" "$addr"
	fi
	expect_msg "in use by another blkclone on this host \(pid $holder writing .*/2 since " \
		"$what: the message names the holder"
}
refused "second copy, same URL" "$U/2"
refused "second copy, portal localhost" "iscsi://localhost:$TGT_PORT/$IQN/2"
refused "second copy, another target name for the same LU" \
	"iscsi://127.0.0.1:$TGT_PORT/$IQN2/1"
expect_msg "lock .*/lu-naa-[0-9a-f]+\.lock" "another target name: caught by the LU designator"
refused "zero of the LU being written" "$U/2" zero
check "the first copy was still running meanwhile" kill -0 $holder

# another LUN at the same time: no interference
"$BLKCLONE" copy "$U/4" "$U/3" >/dev/null 2>"$T/e3"
rc=$?
check "copy onto another LUN meanwhile exits 0 ($(head -c 200 "$T/e3"))" test $rc = 0
check "copy onto another LUN identical" cmp -s "$T/src3.img" "$T/dst3.img"
check "the holder was held at its first read all along" test "$(gate_held)" -gt 0

gate_open
wait $holder
rc=$?
check "the first copy exits 0 ($(head -c 300 "$T/e1"))" test $rc = 0
check "the first copy is byte-identical" cmp -s "$T/src.img" "$T/dst.img"

# the lock goes with its holder, even one killed with SIGKILL
dd if=/dev/urandom of="$T/dst.img" bs=1M count=16 conv=notrunc status=none
gate_arm src.img read 0
"$BLKCLONE" copy "$U/1" "$U/2" >/dev/null 2>"$T/e9" &
pid=$!
gate_wait_held 300 $pid || exit 1
check "the copy to be killed holds the lock" grep -qs "pid $pid writing" "$T/locks/iscsi-$IQN-lun2.lock"
kill -9 $pid
wait $pid 2>/dev/null
gate_open
expect_exit 0 "after the holder was killed, a copy onto the LUN runs" \
	"$BLKCLONE" copy "$U/1" "$U/2"
check "and ends identical" cmp -s "$T/src.img" "$T/dst.img"

# an unusable lock directory refuses the copy rather than copy unlocked
touch "$T/notadir"
BLKCLONE_LOCK_DIR=$T/notadir/locks expect_exit 2 "lock directory unusable: refused" \
	"$BLKCLONE" copy "$U/4" "$U/3"
expect_msg "cannot make the lock directory" "lock directory unusable: says why"

# Locks of root's copies are root's alone: a user other than root can
# neither open an existing lock file (to flock it and stop root's copies)
# nor make one.  (Unsafe lock directories: doc/bad-inputs.md.)
chmod 755 "$T"	# user nobody may look in
key3=$T/locks/iscsi-$IQN-lun3.lock	# made by the copy onto LUN 3 above
check "the lock file of LUN 3 is there" test -f "$key3"
check "the lock directory is root's and only root may write it ($(stat -c '%U %a' "$T/locks"))" \
	test "$(stat -c '%U %a' "$T/locks")" = "root 755"
check "a lock file is root's, and only root may open it ($(stat -c '%U %a' "$key3"))" \
	test "$(stat -c '%U %a' "$key3")" = "root 600"
setpriv --reuid=65534 --regid=65534 --clear-groups bash -c \
	'exec 8<"$1" && flock -n 8 && echo held && exec sleep 600' _ "$key3" >"$T/nb" 2>&1 &
nb=$!
while kill -0 $nb 2>/dev/null && ! grep -q held "$T/nb"; do sleep 0.05; done
check "user nobody cannot take the lock of LUN 3 ($(head -c 200 "$T/nb"))" \
	sh -c "! grep -q held '$T/nb'"
expect_exit 0 "a copy onto LUN 3 is not stopped by user nobody" "$BLKCLONE" copy "$U/4" "$U/3"
kill $nb 2>/dev/null
wait $nb 2>/dev/null
check "user nobody cannot make a lock file" \
	setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "! touch '$T/locks/x.lock' 2>/dev/null"
# The built-in lock directory as blkclone before 0.2 left it (root's, mode
# 01777) is taken back to 0755 and used; one owned by another user is
# refused, never repaired.  In a mount namespace of its own, over a tmpfs
# on /run/lock, so the host's directory is not touched.
unshare -m bash -c '
	mount -t tmpfs tmpfs /run/lock && mkdir /run/lock/blkclone &&
	chmod 1777 /run/lock/blkclone &&
	env -u BLKCLONE_LOCK_DIR "$1" copy "$2" "$3" >/dev/null 2>"$4/old-err"; echo "rc=$?"
	stat -c "%U %a" /run/lock/blkclone
	chown nobody /run/lock/blkclone
	env -u BLKCLONE_LOCK_DIR "$1" copy "$2" "$3" >/dev/null 2>"$4/nobody-err"; echo "rc=$?"
	stat -c "%U %a" /run/lock/blkclone' _ "$BLKCLONE" "$U/4" "$U/3" "$T" >"$T/old-dir" 2>&1
check "an old 01777 /run/lock/blkclone: the copy runs ($(tr '\n' ' ' <"$T/old-dir") $(head -c 200 "$T/old-err"))" \
	test "$(sed -n 1p "$T/old-dir")" = rc=0
check "and the directory is root's 755 again" test "$(sed -n 2p "$T/old-dir")" = "root 755"
check "one owned by nobody is refused (exit 2) and left as it is" \
	test "$(sed -n 3,4p "$T/old-dir" | tr '\n' ' ')" = "rc=2 nobody 755 "
check "the refusal names the directory and its owner" \
	grep -q "lock directory /run/lock/blkclone is owned by uid 65534 (nobody)" "$T/nobody-err"
finish
