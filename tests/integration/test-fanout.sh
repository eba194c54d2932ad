#!/bin/bash
# Template fan-out on tgt: one job copies a thin source LUN onto three
# destinations -- one dirty (old data everywhere, thin), one empty on a
# LUN that reports no thin provisioning (no LBPRZ: its holes must be
# zeroed), one empty thin with LBPRZ (its holes may be skipped) -- reading
# the source once.  Each destination is byte-identical by cmp of its
# backing file; the thin ones are as thin as the source; the source's
# backing file was read as much as by a single copy, counted by the FUSE
# gate under tgt (tests/tools/gatefs.c), not by blkclone.  Then one
# destination fails at a known point (the source's reads held at the
# gate, the LUN taken offline, the gate opened): that pair fails with a
# resume offset below the held read, the others complete, and --resume
# finishes the failed one alone.  Then the same without a job, copy --to:
# the bytes, the thinness and the one read again, the refusals (exit 2,
# the exact words, nothing written: the gate counts no write), and one
# destination offline mid-copy reported with its resume offset while the
# others complete, and the source offline mid-copy stopping both with their
# resume offsets: each no further than the source's next data after the
# highest byte the target ever read of it (the gate counts that), and
# everything below it on the destination.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/tgt-target.sh"
. "$(dirname "$0")/../lib/gate.sh"
need_root
command -v tgtd >/dev/null || { echo "SKIP: tgt not installed"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
CLEANUP_HOOKS="tgt_stop $CLEANUP_HOOKS"
export BLKCLONE_STATE_DIR=$T/state
# a read held at the gate must not time out and be retried meanwhile
export BLKCLONE_ISCSI_TIMEOUT=3600
IQN=iqn.2026-11.test.blkclone:fanout
MB=256
SIZE=$((MB << 20))
HALF=$((SIZE / 2))

# a thin source with scattered extents and data in its last 40 MiB: a
# read past the middle always comes, and when the source goes offline
# with reads held at the gate, reads the target never accepted are still
# to come, whatever the ceiling: a copy has at most 32 MiB in flight
# (src/core/hostcopy.c, POOL_BYTES)
make_sparse "$T/src.img" $MB 30 2048 5
dd if=/dev/urandom of="$T/src.img" bs=1M seek=$((MB - 40)) count=40 conv=notrunc status=none
src_alloc=$(alloc_bytes "$T/src.img")
dd if=/dev/urandom of="$T/old.img" bs=1M count=$MB status=none
fresh() {	# in place: tgt holds the files open
	cp "$T/old.img" "$T/dirty.img"
	truncate -s 0 "$T/thick.img" "$T/thin.img"
	truncate -s $SIZE "$T/thick.img" "$T/thin.img"
}
fresh
truncate -s $SIZE "$T/one.img"
gate_mount || exit 1
tgt_start && tgt_target 1 "$IQN" &&
	tgt_lun 1 1 "$GATE_MNT/src.img" &&
	tgt_lun 1 2 "$GATE_MNT/dirty.img" &&
	tgt_lun 1 3 "$GATE_MNT/thick.img" 512 thick &&
	tgt_lun 1 4 "$GATE_MNT/thin.img" &&
	tgt_lun 1 5 "$GATE_MNT/one.img" || exit 1
U=iscsi://127.0.0.1:$TGT_PORT/$IQN
st() { "$BLKCLONE" job status --json "$1" >"$T/st.json" 2>"$T/st.err"; jq -r "$2" "$T/st.json"; }
pair() { jq -r ".pairs[$1].$2" "$T/st.json"; }

# --- what one copy reads of the source, as the gate counts it ----------
gate_count src.img
bcrun 0 "$T/one.json" "$T/e0" copy --json "$U/1" "$U/5"
one_read=$(gate_read)
note "a single copy: the target read $one_read bytes of the source ($src_alloc allocated)"
check "a single copy's source reads equal its report's read_bytes" \
	test "$one_read" = "$(jq .read_bytes "$T/one.json")"

# --- 1. one source, three destinations: job start SRC DST SRC DST ... ---
gate_count src.img
# the source typed two ways: one volume by its identity, not its address
U_LOCAL=iscsi://localhost:$TGT_PORT/$IQN
bcrun 0 "$T/id1" "$T/e1" job start --json "$U/1" "$U/2" "$U_LOCAL/1" "$U/3" "$U/1" "$U/4"
id1=$(jq -r .id "$T/id1")
bcrun 0 /dev/null "$T/e1w" job wait "$id1"
fan_read=$(gate_read)
st "$id1" . >/dev/null
note "fan-out to 3: the target read $fan_read bytes of the source"
check "the job completed" test "$(jq -r .state "$T/st.json")" = complete
check "the source was read once: as much as a single copy ($fan_read = $one_read)" \
	test "$fan_read" = "$one_read"
check "every pair says it shared its reads with 3 (fanout) and read that much" \
	test "$(jq -c '[.pairs[].report | [.fanout, .read_bytes]] | unique' "$T/st.json")" = "[[3,$one_read]]"
check "the log says the pairs share their source" grep -q 'share their source' "$BLKCLONE_STATE_DIR/jobs/$id1.log"
for f in dirty thick thin; do
	check "$f: byte-identical (cmp of the backing files)" cmp -s "$T/src.img" "$T/$f.img"
done
for f in dirty thin; do
	a=$(alloc_bytes "$T/$f.img")
	check "$f: as thin as the source ($a <= $src_alloc allocated)" test "$a" -le "$src_alloc"
done
note "thick (no LBPRZ): $(alloc_bytes "$T/thick.img") bytes allocated: its holes had to be zeroed"
check "dirty: its holes zeroed, none skipped (old data there)" \
	test "$(pair 0 'report | [(.zeroed_bytes > 0), .skipped_bytes] | tostring')" = '[true,0]'
check "thick: every hole written or zeroed, none skipped (nothing proves them zero)" \
	test "$(pair 1 'report | [.written_bytes + .zeroed_bytes, .skipped_bytes] | tostring')" = "[$SIZE,0]"
check "thin with LBPRZ: its holes skipped, nothing zeroed" \
	test "$(pair 2 'report | [.zeroed_bytes, (.skipped_bytes > 0)] | tostring')" = '[0,true]'

# --- 2. the --to form is the same job --------------------------------------
fresh
bcrun 0 "$T/id2" "$T/e2" job start --to="$U/2" --to="$U/3" --to="$U/4" "$U/1"
id2=$(cat "$T/id2")
bcrun 0 /dev/null "$T/e2w" job wait "$id2"
st "$id2" . >/dev/null
check "--to: three pairs from one SRC, fanned out" \
	test "$(jq -c '[.pairs[].report.fanout]' "$T/st.json")" = '[3,3,3]'
check "--to: all three byte-identical" \
	sh -c "cmp -s '$T/src.img' '$T/dirty.img' && cmp -s '$T/src.img' '$T/thick.img' && cmp -s '$T/src.img' '$T/thin.img'"
bcrun 2 /dev/null "$T/err" job start --to="$U/2" "$U/1" "$U/3"
expect_msg 'exactly one SRC' "--to with two addresses is refused"
cp "$T/old.img" "$T/dirty.img"
n_jobs=$(ls "$BLKCLONE_STATE_DIR/jobs" | wc -l)
bcrun 2 /dev/null "$T/err" job start --to="$U/2" --to="$U/4" --to="$U_LOCAL/2" "$U/1"
expect_msg "destinations 1 and 3 are the same volume.* each must be written once" \
	"job start: one LU under two addresses among the destinations is refused, named"
check "... no job left behind, the LU untouched" \
	sh -c "test \"\$(ls '$BLKCLONE_STATE_DIR/jobs' | wc -l)\" = $n_jobs && cmp -s '$T/old.img' '$T/dirty.img'"
# a pair reading what an earlier pair writes, and one writing what an
# earlier pair reads, each under a second address of the LU
bcrun 2 /dev/null "$T/err" job start "$U/1" "$U/2" "$U_LOCAL/2" "$U/4"
expect_msg "pair 2's source is pair 1's destination \(the same volume\): a job cannot read a volume while it writes it" \
	"job start: a pair whose source is an earlier pair's destination (another address of the LU) is refused, named"
bcrun 2 /dev/null "$T/err" job start "$U/1" "$U/2" "$U/4" "$U_LOCAL/1"
expect_msg "pair 1's source is pair 2's destination \(the same volume\): a job cannot read a volume while it writes it" \
	"job start: a pair whose destination is an earlier pair's source is refused, named"
check "... no job left behind, the LUs untouched" \
	sh -c "test \"\$(ls '$BLKCLONE_STATE_DIR/jobs' | wc -l)\" = $n_jobs && cmp -s '$T/old.img' '$T/dirty.img'"

# --- 3. one destination fails at a known point; the others go on ---------
fresh
gate_arm src.img read $HALF
bcrun 0 "$T/id3" "$T/e3" job start --to="$U/2" --to="$U/3" --to="$U/4" "$U/1"
id3=$(cat "$T/id3")
gate_wait_held 300 || exit 1
held=$(gate_low)
# the thick destination goes away while the source's reads are held:
# every command to it from here on is answered NOT READY
tgtadm -C "$TGT_CTL" --lld iscsi --op update --mode logicalunit --tid 1 --lun 3 \
	--params removable=1,online=0
gate_open
sh -c "'$BLKCLONE' job wait '$id3' 2>/dev/null; exit \$?"
rc=$?
check "job wait says the job failed (exit $rc)" test "$rc" = 1
st "$id3" . >/dev/null
check "the job is failed" test "$(jq -r .state "$T/st.json")" = failed
check "the failed pair is the offline one, the others are done" \
	test "$(jq -c '[.pairs[].exit_code]' "$T/st.json")" = '[0,1,0]'
check "its error names the device and the status" \
	sh -c "jq -r '.pairs[1].report.error' '$T/st.json' | grep -Eq '/3: .*(Not Ready|Medium not present)'"
off=$(pair 1 resume_offset)
note "held read at $held, the failed pair's resume offset $off"
check "its resume offset ($off) is at or below the held read ($held)" test "$off" -le "$held"
check "everything below it is on the failed destination" cmp -s -n "$off" "$T/src.img" "$T/thick.img"
check "the others completed byte-identical" \
	sh -c "cmp -s '$T/src.img' '$T/dirty.img' && cmp -s '$T/src.img' '$T/thin.img'"
tgtadm -C "$TGT_CTL" --lld iscsi --op update --mode logicalunit --tid 1 --lun 3 \
	--params online=1,removable=0
bcrun 0 "$T/id4" "$T/e4" job start --resume="$id3"
id4=$(cat "$T/id4")
bcrun 0 /dev/null "$T/e4w" job wait "$id4"
st "$id4" . >/dev/null
check "--resume continues only the failed pair" \
	test "$(jq -c '[.pairs[].destination]' "$T/st.json")" = "[\"$U/3\"]"
check "resumed: byte-identical" cmp -s "$T/src.img" "$T/thick.img"

# --- 4. copy --to: the same fan-out without a job ---------------------------
fresh
gate_count src.img
bcrun 0 "$T/c4.json" "$T/e4c" copy --json --to="$U/2" --to="$U/3" --to="$U/4" "$U/1"
c4_read=$(gate_read)
check "copy --to: the source was read once ($c4_read = $one_read)" test "$c4_read" = "$one_read"
check "copy --to: ok, exit 0, one pair per --to in order, each done and fanned out" \
	test "$(jq -c '[.status, .exit_code, [.pairs[] | [.destination, .exit_code, .resume_offset, .report.fanout, .report.status]]]' "$T/c4.json")" = \
	"[\"ok\",0,[[\"$U/2\",0,$SIZE,3,\"ok\"],[\"$U/3\",0,$SIZE,3,\"ok\"],[\"$U/4\",0,$SIZE,3,\"ok\"]]]"
for f in dirty thick thin; do
	check "copy --to: $f byte-identical (cmp of the backing files)" cmp -s "$T/src.img" "$T/$f.img"
done
for f in dirty thin; do
	a=$(alloc_bytes "$T/$f.img")
	check "copy --to: $f as thin as the source ($a <= $src_alloc allocated)" test "$a" -le "$src_alloc"
done
check "copy --to: the thin LBPRZ destination skipped its holes" \
	test "$(jq -c '.pairs[2].report | [.zeroed_bytes, (.skipped_bytes > 0)]' "$T/c4.json")" = '[0,true]'
fresh
bcrun 0 "$T/c4t" "$T/e4t" copy --to="$U/2" --to="$U/4" "$U/1"
check "copy --to, text: one report per destination and the tally" \
	sh -c "grep -c ' -> ' '$T/c4t' | grep -qx 2 && grep -qx '2 of 2 destinations done' '$T/c4t'"

# --- 5. copy --to refusals: exit 2, nothing written to any destination ------
cp "$T/old.img" "$T/dirty.img"
cp "$T/old.img" "$T/thick.img"
untouched() { cmp -s "$T/old.img" "$T/dirty.img" && cmp -s "$T/old.img" "$T/thick.img"; }
gate_watch dirty.img
bcrun 2 /dev/null "$T/err" copy --to="$U/2" --to="$U/3" --to="$U_LOCAL/2" "$U/1"
expect_msg "destinations 1 and 3 are the same volume.* each must be written once" \
	"one LU under two addresses among the --to destinations is refused, named"
expect_msg 'nothing was written to any destination' "... and says nothing was written"
check "... and nothing was: no write reached dirty.img at the gate ($(gate_writes)), both unchanged" \
	sh -c "test '$(gate_writes)' = 0 && cmp -s '$T/old.img' '$T/dirty.img' && cmp -s '$T/old.img' '$T/thick.img'"
bcrun 2 /dev/null "$T/err" copy --to="$U/2" --to="$U/2" "$U/1"
expect_msg '^blkclone: --to: destination 2 is destination 1 again: each is written once$' \
	"the same --to twice is refused"
bcrun 2 /dev/null "$T/err" copy --to="$U/2" --to="$U_LOCAL/1" "$U/1"
expect_msg 'destination 2 .* refused: nothing was written to any destination' \
	"the source among the --to destinations is refused, nothing written"
expect_msg 'source and destination are the same volume' "... by the copy check's words"
bcrun 2 /dev/null "$T/err" copy $(for i in $(seq 33); do printf -- '--to=%s/%d ' "$U" $((i % 4 + 2)); done) "$U/1"
expect_msg '^blkclone: copy writes at most 32 destinations: too many --to$' "33 destinations are refused"
bcrun 2 /dev/null "$T/err" copy --to="$U/2" "$U/1" "$U/3"
expect_msg '^blkclone: with --to, copy takes exactly one SRC \(2 addresses given\)$' \
	"--to with SRC DST is refused"
bcrun 2 /dev/null "$T/err" copy --to="$U/2" --resume-from=8 "$U/1"
expect_msg '^blkclone: --resume-from continues one destination' "--to with --resume-from is refused"
bcrun 2 /dev/null "$T/err" copy --to="$U/2" --progress "$U/1"
expect_msg '^blkclone: --progress shows one copy: not with --to' "--to with --progress is refused"
bcrun 2 /dev/null "$T/err" zero --to="$U/2" "$U/3"
expect_msg "unrecognized option '--to=" "zero knows no --to"
check "after every refusal the destinations are untouched (cmp with what was there)" untouched

# --- 6. copy --to: one destination fails at a known point -------------------
# the thick LUN goes offline while the source's reads are held at the gate:
# that destination fails with a resume offset at or below the held read,
# the other two complete, copy exits 1, and copy --resume-from finishes the
# failed one alone.
fresh
gate_arm src.img read $HALF
"$BLKCLONE" copy --json --to="$U/2" --to="$U/3" --to="$U/4" "$U/1" >"$T/c6.json" 2>"$T/e6" &
c6=$!
gate_wait_held 300 $c6 || exit 1
held=$(gate_low)
tgtadm -C "$TGT_CTL" --lld iscsi --op update --mode logicalunit --tid 1 --lun 3 \
	--params removable=1,online=0
gate_open
wait $c6
rc=$?
tgtadm -C "$TGT_CTL" --lld iscsi --op update --mode logicalunit --tid 1 --lun 3 \
	--params online=1,removable=0
check "copy --to with one destination failing exits 1 ($rc)" test "$rc" = 1
check "the failed one is the offline one, the others are done" \
	test "$(jq -c '[.status, .exit_code, [.pairs[].exit_code]]' "$T/c6.json")" = '["failed",1,[0,1,0]]'
check "its error names the device and the status" \
	sh -c "jq -r '.pairs[1].report.error' '$T/c6.json' | grep -Eq '/3: .*(Not Ready|Medium not present)'"
off=$(jq -r '.pairs[1].resume_offset' "$T/c6.json")
lba=$(jq -r '.pairs[1].resume_lba' "$T/c6.json")
note "held read at $held, the failed destination's resume offset $off (LBA $lba)"
check "its resume offset ($off) is at or below the held read ($held), its LBA the same" \
	test "$off" -le "$held" -a "$((lba * 512))" = "$off"
check "stderr names it and how to finish it alone" \
	grep -q "to finish it alone: blkclone copy --resume-from=$lba $U/1 $U/3" "$T/e6"
check "everything below it is on the failed destination" cmp -s -n "$off" "$T/src.img" "$T/thick.img"
check "the others completed byte-identical" \
	sh -c "cmp -s '$T/src.img' '$T/dirty.img' && cmp -s '$T/src.img' '$T/thin.img'"
bcrun 0 /dev/null "$T/e6r" copy --resume-from="$lba" "$U/1" "$U/3"
check "resumed alone: byte-identical" cmp -s "$T/src.img" "$T/thick.img"

# --- 7. copy --to: the source fails mid-copy: every destination stops -------
# What all share failed: each destination stops with its own resume
# offset, nothing past it claimed, exit 1.  The reads held at the gate
# were accepted by tgt before the LU went offline, so they may complete
# and be copied: the resume offset may pass the held read.  What bounds
# it is what the target read of the source (the gate's count): past the
# highest byte read, only a hole can have been done without the source,
# so no destination may claim past the next data after it.
fresh
gate_count src.img
gate_arm src.img read $HALF
"$BLKCLONE" copy --json --to="$U/2" --to="$U/4" "$U/1" >"$T/c7.json" 2>"$T/e7" &
c7=$!
gate_wait_held 300 $c7 || exit 1
held=$(gate_low)
tgtadm -C "$TGT_CTL" --lld iscsi --op update --mode logicalunit --tid 1 --lun 1 \
	--params removable=1,online=0
gate_open
wait $c7
rc=$?
tgtadm -C "$TGT_CTL" --lld iscsi --op update --mode logicalunit --tid 1 --lun 1 \
	--params online=1,removable=0
rhigh=$(gate_rhigh)
bound=$(python3 -c '
import errno, os, sys
f = os.open(sys.argv[1], os.O_RDONLY)
try:
    print(os.lseek(f, int(sys.argv[2]), os.SEEK_DATA))
except OSError as e:
    if e.errno != errno.ENXIO:
        raise
    print(os.fstat(f).st_size)' "$T/src.img" "$rhigh")
note "held read at $held; the target read up to $rhigh of the source, its next data at $bound"
check "copy --to with its source failing exits 1 ($rc)" test "$rc" = 1
check "both destinations failed with the source's error" \
	test "$(jq -c '[.status, [.pairs[].exit_code], ([.pairs[].report.error | test("/1: ")] | unique)]' "$T/c7.json")" = '["failed",[1,1],[true]]'
for k in 0 1; do
	off=$(jq -r ".pairs[$k].resume_offset" "$T/c7.json")
	f=$([ $k = 0 ] && echo dirty || echo thin)
	note "destination $((k + 1)): resume offset $off"
	check "destination $((k + 1)): resume offset $off at or below the source's next data past what the target read ($bound)" \
		test "$off" -le "$bound" -a "$off" -lt "$SIZE"
	check "destination $((k + 1)): everything below $off copied" \
		cmp -s -n "$off" "$T/src.img" "$T/$f.img"
done

finish
