#!/bin/bash
# A thin tgt LU larger than 2 TiB with data past a hole of 2^32 blocks or
# more: tgt (usr/sbc.c) puts such a hole's length into GET LBA STATUS's
# 32-bit count unsplit, so the count wraps (to exactly 0 for a hole of
# 2^32 blocks) and the next descriptor starts where the hole really ends.
# blkclone refused the whole reply as malformed and the copy stopped at
# the first such hole.  The copy must go through, read only the data, and
# leave the destination's backing file with the source's data segments
# only (SEEK_DATA/SEEK_HOLE on the backing files, cmp of the data).
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/tgt-target.sh"
need_root
CLEANUP_HOOKS="tgt_stop $CLEANUP_HOOKS"
export BLKCLONE_STATE_DIR=$T/state

IQN=iqn.2026-12.test.blkclone:wrapped
TiB=$((1 << 40))
MiB=1048576
# 15 TiB fits ext4's largest file; 512-byte blocks: 2^32 blocks = 2 TiB.
# Data at 0, at 3 TiB (after a hole whose count wraps) and at 9 TiB.
truncate -s 15T "$T/src.img" || { fail "cannot make a 15 TiB sparse file in $T"; exit 1; }
for o in 0 $((3 * TiB)) $((9 * TiB)); do
	dd if=/dev/urandom of="$T/src.img" bs=1M count=4 seek=$((o / MiB)) conv=notrunc status=none
done
truncate -s 15T "$T/dst1.img" "$T/dst2.img"
tgt_start || exit 1
tgt_target 1 "$IQN"
tgt_lun 1 1 "$T/src.img"
tgt_lun 1 2 "$T/dst1.img"
tgt_lun 1 3 "$T/dst2.img"
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
want="0+$((4 * MiB)) $((3 * TiB))+$((4 * MiB)) $((9 * TiB))+$((4 * MiB)) "
check "the source's backing file holds the three 4 MiB pieces" [ "$(segments "$T/src.img")" = "$want" ]

# The map first: without it every copy below reads all 15 TiB (it did,
# until killed, before the fix), so the test ends here if it is wrong.
"$BLKCLONE" map --json "$U/1" >"$T/map.json" 2>"$T/map.err"
check "map of the source: exit 0 ($(head -c 300 "$T/map.err"))" [ -s "$T/map.json" ]
check "map of the source: from GET LBA STATUS ($(jq -r .source "$T/map.json"))" \
	[ "$(jq -r .source "$T/map.json")" = get_lba_status ]
mapped=$(jq '[.extents[] | select(.state == "mapped") | .length] | add' "$T/map.json")
# between V LO HI: LO <= V <= HI
between() { [ "${1:-0}" -ge "$2" ] && [ "${1:-0}" -le "$3" ]; }
check "map of the source: the 12 MiB of data mapped, and at most a block where a count wrapped to 0 ($mapped bytes)" \
	between "$mapped" $((12 * MiB)) $((12 * MiB + 64 * 512))
if [ "$FAILS" != 0 ]; then finish; exit 1; fi

# copied: the copy of LUN 1 onto LUN N (with OPTS) exits 0; the
# destination's file holds the source's data segments only, and each
# piece reads as the source's
copied() {
	local n=$1 what=$2 rc
	shift 2
	# a bound for the failing case (a copy without the map reads 15
	# TiB), not a wait: the copy takes well under a second here
	timeout 300 "$BLKCLONE" copy --json "$@" "$U/1" "$U/$n" >"$T/out.$n" 2>"$T/err.$n"
	rc=$?
	check "$what: exit 0 (was $rc: $(head -c 300 "$T/err.$n"))" [ "$rc" = 0 ]
	check "$what: the destination's data segments are the source's" \
		[ "$(segments "$T/dst$((n - 1)).img")" = "$want" ]
	for o in 0 $((3 * TiB)) $((9 * TiB)); do
		check "$what: the 4 MiB at byte $o read as the source's" \
			cmp -s <(dd if="$T/src.img" bs=1M skip=$((o / MiB)) count=4 status=none) \
			<(dd if="$T/dst$((n - 1)).img" bs=1M skip=$((o / MiB)) count=4 status=none)
	done
	# read: the data, and at most a block at each place the count
	# wrapped to 0 (no length: taken as one mapped block)
	check "$what: read the data, not the holes ($(jq .read_bytes "$T/out.$n") bytes)" \
		between "$(jq .read_bytes "$T/out.$n")" $((12 * MiB)) $((12 * MiB + 64 * 512))
}
copied 2 "onto a destination declared zero (--dest-zeroed)" --dest-zeroed
# the destination's own map (asked to leave its holes alone) wraps too
copied 3 "onto a thin destination whose map proves zero"
# zeroed: at most a block where its count wrapped to 0 (taken as data,
# so made zero); its holes were left alone, not zeroed whole
check "the thin destination's holes were left alone ($(jq .zeroed_bytes "$T/out.3") bytes zeroed)" \
	between "$(jq .zeroed_bytes "$T/out.3")" 0 $((64 * 512))

finish
