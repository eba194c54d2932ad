#!/bin/bash
# Clone jobs (blkclone job ...) on tgt: a 4 GiB thin LUN copied as a job
# with monotonic progress, byte-equal and thin; a cancel while the copy is
# held at the gate (tests/lib/gate.sh) leaves a resume offset below the
# held read, and --resume finishes it with the cancelled job's fixed I/O
# shape (--io-depth, --chunk, --write-behind); a kill -9 reads as "process died",
# and so does a record whose pid lives on under another boot or start time;
# a second job onto a busy destination and bad ids, records and job
# directories are refused with exit 2.  A job killed mid-copy is written
# as failed by the next status (list, wait and --resume agree), keeps the
# resume offset it recorded while running (what the destination had made
# durable), and --resume continues from there without writing below it
# (the gate counts the destination's writes).  Every stop happens at a known
# point (a read held at the gate, or the job's own log saying it got the
# signal), never after a fixed time.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/tgt-target.sh"
. "$(dirname "$0")/../lib/gate.sh"
need_root
command -v tgtd >/dev/null || { echo "SKIP: tgt not installed"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
CLEANUP_HOOKS="tgt_stop $CLEANUP_HOOKS"
export BLKCLONE_STATE_DIR=$T/state
# a read held at the gate must not time out and be retried on new
# sessions while the test holds it (each retry is one more held request)
export BLKCLONE_ISCSI_TIMEOUT=3600
JOBS=$BLKCLONE_STATE_DIR/jobs
IQN=iqn.2026-11.test.blkclone:jobs
GIB4=$((4096 << 20))
HALF=$((2048 << 20))

# a 4 GiB thin source: scattered extents, and data in its last MiB, so a
# read past the middle always comes
make_sparse "$T/src.img" 4096 40 8192 7
dd if=/dev/urandom of="$T/src.img" bs=1M seek=4095 count=1 conv=notrunc status=none
src_alloc=$(alloc_bytes "$T/src.img")
truncate -s $GIB4 "$T/dst.img"
# a 512 MiB source whose first 320 MiB are data, so more than two
# write-behind flushes' worth (128 MiB each) is written before a read
# past 288 MiB is held (section 3b)
dd if=/dev/urandom of="$T/src2.img" bs=1M count=320 status=none
truncate -s 512M "$T/src2.img" "$T/dst2.img"
gate_mount || exit 1
tgt_start && tgt_target 1 "$IQN" && tgt_lun 1 1 "$GATE_MNT/src.img" &&
	tgt_lun 1 2 "$GATE_MNT/dst.img" && tgt_lun 1 3 "$GATE_MNT/src2.img" &&
	tgt_lun 1 4 "$GATE_MNT/dst2.img" || exit 1
U=iscsi://127.0.0.1:$TGT_PORT/$IQN

st() { "$BLKCLONE" job status --json "$1" >"$T/st.json" 2>"$T/st.err"; jq -r "$2" "$T/st.json"; }
fresh_dst() { truncate -s 0 "$T/dst.img" && truncate -s $GIB4 "$T/dst.img"; }
njobs() { ls "$JOBS" 2>/dev/null | grep -c '\.json$'; }

# --- 1. a whole copy as a job, polled to the end ------------------------
bcrun 0 "$T/id1" "$T/e1" job start "$U/1" "$U/2"
id1=$(cat "$T/id1")
check "job start prints a 16-hex-digit id ($id1)" grep -Eqx '[0-9a-f]{16}' "$T/id1"
prev=0; mono=yes; polls=0
for i in $(seq 6000); do	# 600 s at most: a bound, not a wait for time
	state=$(st "$id1" .state)
	p=$(jq -r .progress "$T/st.json")
	polls=$((polls + 1))
	awk -v a="$prev" -v b="$p" 'BEGIN { exit !(b + 0 >= a + 0) }' || mono="no: $prev then $p"
	prev=$p
	[ "$state" = running ] || break
	sleep 0.1
done
note "polled $polls times; last progress $prev"
check "the job completed (state $state)" test "$state" = complete
check "progress never decreased ($mono)" test "$mono" = yes
check "progress ends at 100" test "$(jq .progress "$T/st.json")" = 100
check "bytes_done = bytes_total = 4 GiB" \
	test "$(jq -c '[.bytes_done, .bytes_total]' "$T/st.json")" = "[$GIB4,$GIB4]"
check "the pair's report is copy's JSON: ok, host" \
	test "$(jq -c '.pairs[0].report | [.status, .method, .size_bytes]' "$T/st.json")" = "[\"ok\",\"host\",$GIB4]"
check "pid, started, updated, consistency are there" \
	test "$(jq -c '[(.pid > 1), (.started > 0), (.updated >= .started), .consistency]' "$T/st.json")" = '[true,true,true,"bulk"]'
bcrun 0 /dev/null "$T/e1w" job wait "$id1"
check "the copy is byte-identical (cmp of the backing files)" cmp -s "$T/src.img" "$T/dst.img"
check "the destination is thin ($(alloc_bytes "$T/dst.img") <= $src_alloc allocated)" \
	test "$(alloc_bytes "$T/dst.img")" -le "$src_alloc"

# --- 2. held mid-copy: a second job, wait --timeout, cancel, resume -------
# (with a fixed I/O shape, which the resumed job must keep)
fresh_dst
gate_arm src.img read $HALF
bcrun 0 "$T/id2" "$T/e2" job start --json --io-depth=3 --chunk=256K --write-behind=8M "$U/1" "$U/2"
id2=$(jq -r .id "$T/id2")
check "job start --json: schema, id, state, consistency, pairs" \
	test "$(jq -c '[.schema, .state, .consistency, (.pairs | length), .pairs[0].method]' "$T/id2")" = '[1,"running","bulk",1,"host"]'
gate_wait_held 300 || exit 1
held=$(gate_low)
n=$(njobs)
bcrun 2 "$T/o" "$T/err" job start "$U/1" "$U/2"
expect_msg 'lock|busy|in use' "a second job onto the busy destination says why"
check "... and leaves no job behind" test "$(njobs)" = "$n"
bcrun 124 /dev/null "$T/e" job wait --timeout=1 "$id2"
check "the held job is still running" test "$(st "$id2" .state)" = running
"$BLKCLONE" job cancel "$id2" >"$T/c.out" 2>"$T/c.err" &
cpid=$!
wait_for "$JOBS/$id2.log" 'cancel requested' 300 || fail "the job never logged the cancel"
gate_open
wait $cpid
check "job cancel exits 0 ($(cat "$T/c.err"))" test $? = 0
check "job cancel reports the final state and the resume offset" \
	grep -Eq "cancelled.*|resume offset [0-9]+" "$T/c.out"
check "the job is cancelled" test "$(st "$id2" .state)" = cancelled
off=$(jq .pairs[0].resume_offset "$T/st.json")
note "held read at $held, resume offset $off"
check "the resume offset ($off) is below the held read ($held)" test "$off" -le "$held"
check "the resume offset is past the start" test "$off" -gt 0
check "everything below the resume offset is copied" cmp -s -n "$off" "$T/src.img" "$T/dst.img"
check "wait on a cancelled job exits 1, as copy stopped by a signal" \
	sh -c "'$BLKCLONE' job wait '$id2' 2>/dev/null; test \$? = 1"
bcrun 0 /dev/null "$T/e" job cancel "$id2"
bcrun 0 "$T/id3" "$T/e3" job start --resume="$id2"
id3=$(cat "$T/id3")
bcrun 0 /dev/null "$T/e3w" job wait "$id3"
check "the resumed job names the one it resumed" test "$(st "$id3" .resumed_from)" = "$id2"
rd=$(jq .pairs[0].report.read_bytes "$T/st.json")
check "it started at the resume offset: read $rd of the source's $src_alloc data bytes" \
	test "$rd" -lt "$src_alloc"
check "resumed: byte-identical" cmp -s "$T/src.img" "$T/dst.img"
check "the resumed job's record keeps the cancelled one's --io-depth, --chunk and --write-behind" \
	test "$(jq -c '.options | [.io_depth, .chunk, .write_behind]' "$JOBS/$id3.json")" = "[3,262144,8388608]"
check "... and its copy ran with them: depth 3 on 3 workers, 256 KiB, 8 MiB" \
	test "$(jq -c '.pairs[0].report.host_io | [.depth, .workers, .chunk_bytes, .write_behind_bytes]' "$JOBS/$id3.json")" = "[3,3,262144,8388608]"
bcrun 2 "$T/o" "$T/err" job start --resume="$id3"
expect_msg 'is complete' "a complete job is not resumed"

# --- 3. kill -9 of the job's process -------------------------------------
fresh_dst
gate_arm src.img read $HALF
bcrun 0 "$T/id4" "$T/e4" job start "$U/1" "$U/2"
id4=$(cat "$T/id4")
gate_wait_held 300 || exit 1
pid=$(st "$id4" .pid)
kill -9 "$pid"
for i in $(seq 1200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check "after kill -9 the next status says failed" test "$(st "$id4" .state)" = failed
check "... with 'process died'" grep -q 'process died' "$T/st.json"

# A record is alive only by pid, that pid's start time and this boot:
# the dead job's record pointed at a live stand-in process
cp "$JOBS/$id4.json" "$T/rec.orig"
sleep 1000 & standin=$!
tick=$(sed 's/.*) //' /proc/$standin/stat | awk '{print $20}')
boot=$(cat /proc/sys/kernel/random/boot_id)
as_record() {	# as_record PID_START BOOT_ID: the record, pointing at the stand-in
	jq -c --argjson pid "$standin" --argjson t "$1" --arg b "$2" \
		'.state = "running" | .pid = $pid | .pid_start = $t | .boot_id = $b' \
		"$T/rec.orig" >"$T/rec.new" && cat "$T/rec.new" >"$JOBS/$id4.json"
}
as_record "$tick" "$boot"
check "a record whose process, start time and boot all match reads running" \
	test "$(st "$id4" .state)" = running
as_record "$tick" 00000000-0000-0000-0000-000000000000
check "the same process under another boot id reads failed (a reboot)" \
	test "$(st "$id4" .state)" = failed
check "... with 'process died'" grep -q 'process died' "$T/st.json"
check "... and the record is written so, naming the restart" \
	test "$(jq -r '[.state, (.error | test("restarted since"))] | join(" ")' "$JOBS/$id4.json")" = "failed true"
as_record $((tick + 1)) "$boot"
check "a pid reused by another process (other start time) reads failed" \
	test "$(st "$id4" .state)" = failed
kill "$standin"; wait "$standin" 2>/dev/null
cat "$T/rec.orig" >"$JOBS/$id4.json"
gate_open
bcrun 0 /dev/null "$T/e" job forget "$id4"
check "forget removes the record and the log" test ! -e "$JOBS/$id4.json" -a ! -e "$JOBS/$id4.log"

# --- 3b. kill -9 mid-copy: the record says so, and --resume continues -----
# from what the destination made durable, rewriting nothing below it
MIB=$((1 << 20))
HOLD=$((288 << 20))
gate_arm src2.img read $HOLD
bcrun 0 "$T/id6" "$T/e6" job start "$U/3" "$U/4"
id6=$(cat "$T/id6")
gate_wait_held 300 || exit 1
held=$(gate_low)
# every read below the gate was written, more than 128 MiB of data went
# out, so the first write-behind flush was asked (after 128 MiB written;
# whether a second came before the gate depends on how fast the first
# was: the controller doubles write-behind after a slow one).  It made
# durable all below the chunks then in flight (all buffers together hold
# at most 32 MiB, whatever the workers): at least 96 MiB.  The job records it when the flush
# completes, though every worker is held (a bound, not a wait for time)
ro=0
for i in $(seq 600); do
	ro=$(jq .pairs[0].resume_offset "$JOBS/$id6.json" 2>/dev/null || echo 0)
	[ "${ro:-0}" -ge $((96 * MIB)) ] && break
	sleep 0.1
done
note "held read at $held; while running, the record's resume offset is $ro"
check "while it runs, the record's resume offset ($ro) is what the first flush made durable (>= 96 MiB)" \
	test "$ro" -ge $((96 * MIB))
check "... below the held read ($held)" test "$ro" -le "$held"
check "... and everything below it is on the destination" cmp -s -n "$ro" "$T/src2.img" "$T/dst2.img"
pid=$(st "$id6" .pid)
check "the job still runs before the kill" test "$(jq -r .state "$T/st.json")" = running
check "... and its record on disk says so (a live job's record is never rewritten by status)" \
	test "$(jq -r .state "$JOBS/$id6.json")" = running
kill -9 "$pid"
for i in $(seq 1200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check "after kill -9 status says failed" test "$(st "$id6" .state)" = failed
check "the record itself now says failed, 'process died' (written, not only shown)" \
	test "$(jq -r '[.state, (.error | startswith("process died")), .exit_code] | join(" ")' "$JOBS/$id6.json")" = "failed true 1"
check "... keeping the resume offset the job wrote ($ro)" \
	test "$(jq .pairs[0].resume_offset "$JOBS/$id6.json")" = "$ro"
check "... and no temporary file is left beside it" test ! -e "$JOBS/$id6.json.tmp"
bcrun 0 "$T/list" "$T/err" job list
check "job list says failed too" grep -q "^$id6 failed" "$T/list"
"$BLKCLONE" job wait "$id6" 2>"$T/err"; rc=$?
check "job wait exits 1 ($rc), 'process died'" sh -c "test $rc = 1 && grep -q 'process died' '$T/err'"

# progress never goes back: a record whose percent a writer lowered reads
# as its own bytes prove
cp "$JOBS/$id6.json" "$T/rec6"
jq -c '.progress = 1' "$T/rec6" >"$T/rec6.low" && cat "$T/rec6.low" >"$JOBS/$id6.json"
done6=$(jq '.bytes_done * 100 / .bytes_total' "$T/rec6")
p=$(st "$id6" .progress)
check "a record whose progress was lowered to 1 reads $p, not below its bytes ($done6%)" \
	awk -v a="$p" -v b="$done6" 'BEGIN { exit !(a + 0 >= b - 0.01) }'
cat "$T/rec6" >"$JOBS/$id6.json"

# the dead job's held read goes, and its connection with it: whatever
# the dead session had sent is done before the destination is watched
gate_open
for i in $(seq 600); do
	[ -z "$(tgtadm -C "$TGT_CTL" --lld iscsi --op show --mode conn --tid 1 2>/dev/null)" ] && break
	sleep 0.1
done
gate_watch dst2.img
bcrun 0 "$T/id7" "$T/e7" job start --resume="$id6"
id7=$(cat "$T/id7")
p=$(st "$id7" .progress)
want=$(awk -v r="$ro" 'BEGIN { printf "%.4f", r * 100 / (512 * 1048576) }')
check "the resumed job's first status starts at the resume offset's progress ($p >= $want)" \
	awk -v a="$p" -v b="$want" 'BEGIN { exit !(a + 0 >= b - 0.01) }'
bcrun 0 /dev/null "$T/e7w" job wait "$id7"
check "resumed after kill -9: byte-identical (cmp of the backing files)" cmp -s "$T/src2.img" "$T/dst2.img"
wlow=$(gate_wlow)
note "the resumed job wrote $(gate_writes) times to the destination, the lowest at byte $wlow"
check "it wrote the destination ($(gate_writes) writes)" test "$(gate_writes)" -gt 0
check "nothing below the resume offset ($ro) was written again (lowest write at $wlow)" \
	test "$wlow" -ge "$ro"
rd=$(st "$id7" .pairs[0].report.read_bytes)
check "it read $rd bytes: the source from the resume offset on" \
	test "$rd" -le $(( (320 << 20) - ro ))

# --- 4. --stall-timeout: a read held for good stalls the job --------------
#     The gate holds the first read: a 1 s watchdog may fire at any
#     pause longer than that before a later read (a flush on a loaded
#     machine), so the held read is the first one, and a job that stalled
#     even before it must end the same way, with nothing copied.
fresh_dst
gate_arm src.img read 0
bcrun 0 "$T/id5" "$T/e5" job start --stall-timeout=1 "$U/1" "$U/2"
id5=$(cat "$T/id5")
wait_for "$JOBS/$id5.log" 'no progress for 1 s' 300 || fail "the watchdog never fired"
low=$(gate_low)
note "the gate held $(gate_total) reads, the lowest at byte $low"
gate_open
"$BLKCLONE" job wait "$id5" 2>"$T/e5w"
check "a stalled job ends with exit 1" test $? = 1
check "it is failed, 'stalled'" test "$(st "$id5" '[.state, .error] | join(" ")')" = "failed stalled: no progress for 1 s"
[ "$low" -ge 0 ] 2>/dev/null || low=0
check "... with a resume offset at or below the held read ($low)" \
	test "$(jq .pairs[0].resume_offset "$T/st.json")" -le "$low"

# --- 5. refusals before any write: exit 2 or 3, no job left ---------------
n=$(njobs)
bcrun 2 "$T/o" "$T/err" job start "$U/1" "$U/1"
expect_msg 'same volume' "a job from a LUN onto itself is refused"
bcrun 3 "$T/o" "$T/err" job start --offload=require "$U/1" "$U/2"
check "refused jobs leave no record" test "$(njobs)" = "$n"
check "... and no log" test "$(ls "$JOBS" | grep -c '\.log$')" = "$n"

# --- 6. bad ids, records and directories ---------------------------------
bcrun 2 "$T/o" "$T/err" job status 0123456789abcdef
expect_msg 'no such job' "unknown id"
bcrun 2 "$T/o" "$T/err" job status ../../etc/passwd
expect_msg 'malformed job id' "malformed id"
bcrun 2 "$T/o" "$T/err" job wait 0123456789ABCDEF
expect_msg 'malformed job id' "upper-case id is malformed"
cp "$JOBS/$id1.json" "$JOBS/1111111111111111.json"
sed -i 's/"id": *"[0-9a-f]*"/"id":"1111111111111111"/' "$JOBS/1111111111111111.json"
chown nobody "$JOBS/1111111111111111.json"
bcrun 2 "$T/o" "$T/err" job status 1111111111111111
expect_msg 'owned by uid [0-9]+.*not by us' "a record owned by another user"
printf '{"schema": 1, "id": "2222222222222222", "state": 7}' >"$JOBS/2222222222222222.json"
bcrun 2 "$T/o" "$T/err" job status 2222222222222222
expect_msg 'corrupt or not blkclone.s: record: state has the wrong type' "a corrupt record"
head -c 2000000 /dev/zero >"$JOBS/3333333333333333.json"
bcrun 2 "$T/o" "$T/err" job status 3333333333333333
expect_msg 'larger than' "an oversized record"
bcrun 0 "$T/list" "$T/err" job list
check "job list still lists the good jobs" grep -q "^$id1 complete" "$T/list"
check "... and names each bad record" test "$(grep -c 'job' "$T/err")" -ge 3
bcrun 0 "$T/o" "$T/err" job status "$id1"
mkdir -p "$T/st2" "$T/elsewhere"; ln -s "$T/elsewhere" "$T/st2/jobs"
BLKCLONE_STATE_DIR=$T/st2 bcrun 2 "$T/o" "$T/err" job list
expect_msg 'jobs directory .* is a symbolic link' "a jobs directory that is a symlink (list)"
BLKCLONE_STATE_DIR=$T/st2 bcrun 2 "$T/o" "$T/err" job start "$T/src.img" "$T/new.img"
expect_msg 'is a symbolic link' "... (start)"
check "... start made nothing there" test -z "$(ls "$T/elsewhere")" -a ! -e "$T/new.img"
bcrun 2 "$T/o" "$T/err" job forget "$id1" extra
bcrun 2 "$T/o" "$T/err" job frob
expect_msg "unknown job command 'frob'" "unknown job command"

# --- a job started with a fixed I/O shape keeps it: in its record (what a
# --resume continues with) and in the copy it runs
dd if=/dev/urandom of="$T/io-src.img" bs=1M count=24 status=none
truncate -s 32M "$T/io-src.img"
bcrun 0 "$T/idio" "$T/eio" job start --io-depth=2 --chunk=512K --write-behind=16M \
	"$T/io-src.img" "$T/io-dst.img"
idio=$(cat "$T/idio")
bcrun 0 /dev/null "$T/eiow" job wait "$idio"
check "the record keeps --io-depth, --chunk and --write-behind" \
	test "$(jq -c '.options | [.io_depth, .chunk, .write_behind]' "$JOBS/$idio.json")" = "[2,524288,16777216]"
check "... and the copy ran with them: depth 2 on 2 workers, 512 KiB, 16 MiB" \
	test "$(jq -c '.pairs[0].report.host_io | [.depth, .workers, .chunk_bytes, .write_behind_bytes]' "$JOBS/$idio.json")" = "[2,2,524288,16777216]"
check "... and it is identical" cmp -s "$T/io-src.img" "$T/io-dst.img"
check "a job without them records 0: chosen as the copy goes" \
	test "$(jq -c '.options | [.io_depth, .chunk, .write_behind]' "$JOBS/$id1.json")" = "[0,0,0]"

finish
