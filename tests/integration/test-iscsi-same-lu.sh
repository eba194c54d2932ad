#!/bin/bash
# One LU reached two ways is one volume.  tgt listens on 127.0.0.1 and
# 127.0.0.2 (a second portal of the same target): a copy of a LUN onto
# itself through the two addresses, or through localhost and 127.0.0.2,
# exits 2 saying it is the same LU, and writes nothing (the backing
# file's bytes and mtime are unchanged); the same LU under a second target
# name (one scsi_id) is refused as well, by its designator.  Two LUs of
# two tgtd instances that present the same designators (tgt derives them
# from tid and LUN) are taken for one LU too: refused, and the message
# says how to tell them apart (man blkclone, IDENTITY).  Two different
# LUNs still copy, byte-identical.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/tgt-target.sh"
need_root
command -v tgtd >/dev/null || { echo "SKIP: tgt not installed"; exit 77; }
CLEANUP_HOOKS="tgt_stop $CLEANUP_HOOKS"

IQN=iqn.2026-11.test.blkclone:same-lu
IQN2=iqn.2026-11.test.blkclone:same-lu-alias
make_sparse "$T/a.img" 8 6 256 41
make_sparse "$T/b.img" 8 6 256 42
truncate -s 8M "$T/c.img"
tgt_start && tgt_target 1 "$IQN" && tgt_lun 1 1 "$T/a.img" && tgt_lun 1 2 "$T/b.img" &&
	tgt_lun 1 3 "$T/c.img" || exit 1
tgtadm -C "$TGT_CTL" --lld iscsi --op new --mode portal \
	--param portal=127.0.0.2:"$TGT_PORT" || exit 1
P=$TGT_PORT

state() { echo "$(md5sum <"$1") $(stat -c %y "$1")"; }	# bytes and mtime
a0=$(state "$T/a.img")

refused_same_lu() {	# WHAT SRC DST: exit 2, "same LU", nothing written
	expect_exit 2 "$1: refused" "$BLKCLONE" copy "$2" "$3"
	expect_msg "check: source and destination are the same volume: the same LU \(" \
		"$1: the message says it is the same LU"
	check "$1: the LU is untouched (bytes and mtime)" test "$(state "$T/a.img")" = "$a0"
}
refused_same_lu "127.0.0.1 onto 127.0.0.2" \
	"iscsi://127.0.0.1:$P/$IQN/1" "iscsi://127.0.0.2:$P/$IQN/1"
expect_msg "naa:6[0-9a-f]{31} on both" "127.0.0.1 onto 127.0.0.2: names the designator"
refused_same_lu "localhost onto 127.0.0.2" \
	"iscsi://localhost:$P/$IQN/1" "iscsi://127.0.0.2:$P/$IQN/1"
refused_same_lu "127.0.0.2 onto 127.0.0.1" \
	"iscsi://127.0.0.2:$P/$IQN/1" "iscsi://127.0.0.1:$P/$IQN/1"

# the same LU under a second target name: one scsi_id, so one designator
tgt_target 2 "$IQN2" && tgt_lun 2 1 "$T/a.img" || exit 1
for tl in "1 1" "2 1"; do
	set -- $tl
	tgtadm -C "$TGT_CTL" --lld iscsi --op update --mode logicalunit --tid "$1" \
		--lun "$2" --params scsi_id=5a3e1d0 || exit 1
done
refused_same_lu "another target name for the same LU" \
	"iscsi://127.0.0.2:$P/$IQN2/1" "iscsi://127.0.0.1:$P/$IQN/1"

# two different LUNs: still a copy, byte-identical
expect_exit 0 "LUN 1 onto LUN 3 through the second portal" \
	"$BLKCLONE" copy "iscsi://127.0.0.1:$P/$IQN/1" "iscsi://127.0.0.2:$P/$IQN/3"
check "LUN 3 equals LUN 1" cmp -s "$T/a.img" "$T/c.img"
expect_exit 0 "LUN 2 onto LUN 3 through localhost" \
	"$BLKCLONE" copy "iscsi://127.0.0.2:$P/$IQN/2" "iscsi://localhost:$P/$IQN/3"
check "LUN 3 equals LUN 2" cmp -s "$T/b.img" "$T/c.img"

# a second tgtd: its tid 1 LUN 1 presents the designators of the first's
# tid 1 LUN 1 (before scsi_id was set there): one LU, as far as anyone
# can tell from the wire
naa_of() { "$BLKCLONE" probe "$1" | sed -n 's/^  designator: *naa //p' | sort | tr '\n' ' '; }
tid1_naa=$(naa_of "iscsi://127.0.0.1:$P/$IQN/2")
first=("$TGT_PORT" "$TGT_CTL" "$TGT_PID")
truncate -s 8M "$T/other.img"
tgt_start && tgt_target 1 "$IQN-other" && tgt_lun 1 2 "$T/other.img" || exit 1
second_pid=$TGT_PID
stop_second() { kill -9 "$second_pid" 2>/dev/null; wait "$second_pid" 2>/dev/null; true; }
CLEANUP_HOOKS="stop_second $CLEANUP_HOOKS"
P2=$TGT_PORT
TGT_PORT=${first[0]} TGT_CTL=${first[1]} TGT_PID=${first[2]}
other_naa=$(naa_of "iscsi://127.0.0.1:$P2/$IQN-other/2")
check "the second tgtd's LUN 2 reports the first's designators ($other_naa)" \
	test -n "$other_naa" -a "$other_naa" = "$tid1_naa"
other0=$(state "$T/other.img")
expect_exit 2 "a different LU with the same designators: refused" \
	"$BLKCLONE" copy "iscsi://127.0.0.1:$P/$IQN/2" "iscsi://127.0.0.1:$P2/$IQN-other/2"
expect_msg "the same LU \(naa:[0-9a-f]+ on both\).*scsi_id" \
	"the message names the designator and how to make it distinct"
check "the second tgtd's LU is untouched" test "$(state "$T/other.img")" = "$other0"
finish
