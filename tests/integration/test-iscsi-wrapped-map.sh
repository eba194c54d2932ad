#!/bin/bash
# A thin tgt LU larger than 2 TiB with data past a hole of 2^32 blocks or
# more: tgt (usr/sbc.c) puts such a hole's length into GET LBA STATUS's
# 32-bit count unsplit, so the count wraps (to exactly 0 for a hole of
# 2^32 blocks) and the next descriptor starts where the hole really ends.
# blkclone refused the whole reply as malformed and the copy stopped at
# the first such hole.  The copy must go through, read only the data, and
# leave the destination's backing file with the source's data segments
# only (SEEK_DATA/SEEK_HOLE on the backing files, cmp of the data).  A
# first hole of exactly 2^32 blocks wraps to 0 in the probe's own
# question at LBA 0, which the probe took for a refusal of the command.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/tgt-target.sh"
need_root
CLEANUP_HOOKS="tgt_stop $CLEANUP_HOOKS"
export BLKCLONE_STATE_DIR=$T/state

IQN=iqn.2026-12.test.blkclone:wrapped
TiB=$((1 << 40))
MiB=1048576
# 15 TiB fits ext4's largest file; 512-byte blocks: 2^32 blocks = 2 TiB.
# src: data at 0, at 3 TiB (after a hole whose count wraps) and at 9 TiB.
# src2: data at 2 TiB only, so the first hole is exactly 2^32 blocks and
# its count wraps to 0 -- in the probe's own first question, at LBA 0.
PIECES1="0 $((3 * TiB)) $((9 * TiB))"
PIECES2="$((2 * TiB))"
truncate -s 15T "$T/src.img" "$T/src2.img" || { fail "cannot make 15 TiB sparse files in $T"; exit 1; }
for o in $PIECES1; do
	dd if=/dev/urandom of="$T/src.img" bs=1M count=4 seek=$((o / MiB)) conv=notrunc status=none
done
dd if=/dev/urandom of="$T/src2.img" bs=1M count=4 seek=$((PIECES2 / MiB)) conv=notrunc status=none
truncate -s 15T "$T/dst2.img" "$T/dst3.img" "$T/dst5.img"
tgt_start || exit 1
tgt_target 1 "$IQN"
tgt_lun 1 1 "$T/src.img"
tgt_lun 1 2 "$T/dst2.img"
tgt_lun 1 3 "$T/dst3.img"
tgt_lun 1 4 "$T/src2.img"
tgt_lun 1 5 "$T/dst5.img"
U=iscsi://127.0.0.1:$TGT_PORT/$IQN

# the data segments of FILE, "offset+length" each, from the file system
segments() {
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY); end = os.fstat(fd).st_size; pos = 0
while pos < end:
    try:
        d = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE); print("%d+%d" % (d, h - d)); pos = h' "$1" | tr '\n' ' '
}
# the segments PIECES of 4 MiB each make
want() { local o; for o in "$@"; do printf '%d+%d ' "$o" $((4 * MiB)); done; }
# between V LO HI: LO <= V <= HI
between() { [ "${1:-0}" -ge "$2" ] && [ "${1:-0}" -le "$3" ]; }
check "src's backing file holds its three 4 MiB pieces" [ "$(segments "$T/src.img")" = "$(want $PIECES1)" ]
check "src2's backing file holds its 4 MiB piece" [ "$(segments "$T/src2.img")" = "$(want $PIECES2)" ]

# mapped LUN PIECES...: the LU's map comes from GET LBA STATUS and maps
# its data, and at most a block where a count wrapped to 0.  Without the
# map every copy below reads all 15 TiB (it did, until killed, before the
# fix), so the test ends if a map is wrong.
mapped() {
	local lun=$1 m
	shift
	"$BLKCLONE" map --json "$U/$lun" >"$T/map.$lun" 2>"$T/maperr.$lun"
	check "map of LUN $lun: exit 0 ($(head -c 300 "$T/maperr.$lun"))" [ -s "$T/map.$lun" ]
	check "map of LUN $lun: from GET LBA STATUS ($(jq -r .source "$T/map.$lun"))" \
		[ "$(jq -r .source "$T/map.$lun")" = get_lba_status ]
	m=$(jq '[.extents[] | select(.state == "mapped") | .length] | add' "$T/map.$lun")
	check "map of LUN $lun: its $# data pieces mapped, and at most a block where a count wrapped to 0 ($m bytes)" \
		between "$m" $(($# * 4 * MiB)) $(($# * 4 * MiB + 64 * 512))
}
mapped 1 $PIECES1
mapped 4 $PIECES2
if [ "$FAILS" != 0 ]; then finish; exit 1; fi

# copied SRC DST FILE WHAT "PIECES" [OPTS]: the copy of LUN SRC onto LUN
# DST exits 0; the destination's file holds the source's data segments
# only, and each piece reads as the source's
copied() {
	local s=$1 n=$2 sf=$3 what=$4 pieces=$5 rc o
	shift 5
	# a bound for the failing case (a copy without the map reads 15
	# TiB), not a wait: the copy takes well under a second here
	timeout 300 "$BLKCLONE" copy --json "$@" "$U/$s" "$U/$n" >"$T/out.$n" 2>"$T/err.$n"
	rc=$?
	check "$what: exit 0 (was $rc: $(head -c 300 "$T/err.$n"))" [ "$rc" = 0 ]
	# shellcheck disable=SC2086
	check "$what: the destination's data segments are the source's" \
		[ "$(segments "$T/dst$n.img")" = "$(want $pieces)" ]
	for o in $pieces; do
		check "$what: the 4 MiB at byte $o read as the source's" \
			cmp -s <(dd if="$T/$sf" bs=1M skip=$((o / MiB)) count=4 status=none) \
			<(dd if="$T/dst$n.img" bs=1M skip=$((o / MiB)) count=4 status=none)
	done
	# read: the data, and at most a block at each place the count
	# wrapped to 0 (no length: taken as one mapped block)
	set -- $pieces
	check "$what: read the data, not the holes ($(jq .read_bytes "$T/out.$n") bytes)" \
		between "$(jq .read_bytes "$T/out.$n")" $(($# * 4 * MiB)) $(($# * 4 * MiB + 64 * 512))
}
copied 1 2 src.img "src onto a destination declared zero (--dest-zeroed)" "$PIECES1" --dest-zeroed
# the destination's own map (asked to leave its holes alone) wraps too
copied 1 3 src.img "src onto a thin destination whose map proves zero" "$PIECES1"
# zeroed: at most a block where its count wrapped to 0 (taken as data,
# so made zero); its holes were left alone, not zeroed whole
check "src: the thin destination's holes were left alone ($(jq .zeroed_bytes "$T/out.3") bytes zeroed)" \
	between "$(jq .zeroed_bytes "$T/out.3")" 0 $((64 * 512))
copied 4 5 src2.img "src2 (first hole 2^32 blocks) onto a destination declared zero" "$PIECES2" --dest-zeroed

finish
