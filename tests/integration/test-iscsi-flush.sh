#!/bin/bash
# --flush against a real tgt: which SYNCHRONIZE CACHE commands the
# destination LU gets, seen through the CDB relay (tests/lib/cdb-trace.sh);
# the test asserts on that list and on the backing files (cmp), never on
# what blkclone says of itself alone.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/tgt-target.sh"
. "$(dirname "$0")/../lib/cdb-trace.sh"
need_root
trace_need
CLEANUP_HOOKS="tgt_stop $CLEANUP_HOOKS"
export BLKCLONE_STATE_DIR=$T/state

IQN=iqn.2026-12.test.blkclone:flush
make_sparse "$T/src.img" 64 12 2048 5
truncate -s 64M "$T/dst.img"
# more than the first write-behind (128 MiB) of data
truncate -s 160M "$T/wsrc.img"
dd if=/dev/urandom of="$T/wsrc.img" bs=1M count=140 seek=8 conv=notrunc status=none
truncate -s 160M "$T/wdst.img"
tgt_start || exit 1
tgt_target 1 "$IQN"
tgt_lun 1 1 "$T/src.img"
tgt_lun 1 2 "$T/dst.img"
tgt_lun 1 3 "$T/wsrc.img"
tgt_lun 1 4 "$T/wdst.img"

trace_start "$IQN"

# syncs LUN: the SYNCHRONIZE CACHE CDBs (10 and 16) LUN got, one a line
syncs() { awk -v l="$1" '$1 == l && ($2 ~ /^35/ || $2 ~ /^91/) { print $2 }' "$T/log"; }
# last LUN: the last command LUN got
last() { awk -v l="$1" '$1 == l { c = $2 } END { print c }' "$T/log"; }
fresh() { : >"$T/log"; truncate -s 0 "$T/dst.img"; truncate -s 64M "$T/dst.img"; }

# --- default (end): one flush of the whole LU, after every write
fresh
bcrun 0 "$T/out" "$T/err" copy --json "$U/1" "$U/2"
check "the copy is byte-equal to the source (cmp of the backing files)" cmp -s "$T/src.img" "$T/dst.img"
check "the relay saw the copy's writes to LUN 2 ($(grep -c '^2 8a' "$T/log") WRITE(16))" grep -q '^2 8a' "$T/log"
n=$(syncs 2 | wc -l)
wb=$(jq .host_io.flushes "$T/out")
check "default: LUN 2 got $n SYNCHRONIZE CACHE, the $wb write-behind ones and the final one" \
	test "$n" = $((wb + 1))
check "default: the last command LUN 2 got is SYNCHRONIZE CACHE(16) of the whole LU without IMMED ($(last 2))" \
	test "$(last 2)" = 91000000000000000000000000000000
check "default: --json says policy end, $n flushes, nothing unflushed ($(jq -c .flush "$T/out"))" \
	sh -c "jq -e '.flush == {\"policy\": \"end\", \"count\": $n, \"unflushed_bytes\": 0, \"durable_offset\": .size_bytes}' '$T/out' >/dev/null"
check "the source LU got its one flush before it was read" test "$(syncs 1 | wc -l)" = 1

# --- write-behind: the flushes along the way go with IMMED (the flusher
# thread); a target that refuses IMMED (ILLEGAL REQUEST) gets that flush
# again without, and every later one without: one refusal per volume.
# The final flush never has IMMED.  tgt 1.0.x refuses it; either way the
# trace must match what --json says.
: >"$T/log"
bcrun 0 "$T/out" "$T/err" copy --json "$U/3" "$U/4"
check "write-behind: byte-equal" cmp -s "$T/wsrc.img" "$T/wdst.img"
wb=$(jq .host_io.flushes "$T/out"); im=$(jq .host_io.immed_flushes "$T/out")
seq4=$(syncs 4 | cut -c1-4 | tr '\n' ' ')
note "LUN 4's SYNCHRONIZE CACHE, opcode and byte 1: $seq4; write-behind $wb, answered early $im"
check "write-behind: at least one flush along the way ($wb)" test "$wb" -ge 1
if [ "$im" = 0 ]; then
	want="9102 $(printf '9100 %.0s' $(seq $((wb + 1))))"
else
	want="$(printf '9102 %.0s' $(seq "$wb"))9100 "
fi
check "write-behind: LUN 4 got [$want], got [$seq4]" test "$seq4" = "$want"
check "write-behind: the last command LUN 4 got is the final SYNCHRONIZE CACHE(16) without IMMED" \
	test "$(last 4)" = 91000000000000000000000000000000
check "write-behind: --json counts every flush that succeeded ($(jq -c .flush "$T/out"))" \
	sh -c "jq -e '.flush.count == $wb + 1 and .flush.unflushed_bytes == 0 and .flush.durable_offset == .size_bytes' '$T/out' >/dev/null"

# --- never: no flush of the destination at all
fresh
bcrun 0 "$T/out" "$T/err" copy --json --flush=never "$U/1" "$U/2"
check "never: the copy is byte-equal to the source" cmp -s "$T/src.img" "$T/dst.img"
check "never: LUN 2 got writes ($(grep -c '^2 8a' "$T/log")) and no SYNCHRONIZE CACHE ($(syncs 2 | tr '\n' ' '))" \
	sh -c "grep -q '^2 8a' '$T/log' && test -z \"\$(awk '\$1 == 2 && (\$2 ~ /^35/ || \$2 ~ /^91/)' '$T/log')\""
check "never: --json says policy never, 0 flushes, every byte written unflushed ($(jq -c .flush "$T/out"))" \
	sh -c "jq -e '.flush.policy == \"never\" and .flush.count == 0 and .flush.unflushed_bytes == .written_bytes + .zeroed_bytes and .written_bytes > 0 and .flush.durable_offset == 0 and .resume_offset == .size_bytes' '$T/out' >/dev/null"
check "never: the source is still flushed before it is read" test "$(syncs 1 | wc -l)" = 1
bcrun 0 "$T/out" "$T/err" copy --flush=never "$U/1" "$U/2"
check "never: copy says nothing on stderr ($(head -c 300 "$T/err"))" test ! -s "$T/err"
check "never: the text report says the destination was not flushed" grep -q 'not flushed (--flush=never)' "$T/out"

# --- job start shares the option; a job's record keeps it for --resume
fresh
bcrun 0 "$T/id" "$T/err" job start --flush=never "$U/1" "$U/2"
bcrun 0 /dev/null "$T/err" job wait "$(cat "$T/id")"
check "job start --flush=never: byte-equal, and LUN 2 got no SYNCHRONIZE CACHE" \
	sh -c "cmp -s '$T/src.img' '$T/dst.img' && test -z \"\$(awk '\$1 == 2 && (\$2 ~ /^35/ || \$2 ~ /^91/)' '$T/log')\""
check "the job's record keeps flush never" \
	sh -c "jq -e '.options.flush == \"never\"' '$BLKCLONE_STATE_DIR/jobs/$(cat "$T/id").json' >/dev/null"
fresh
bcrun 0 "$T/id" "$T/err" job start "$U/1" "$U/2"
bcrun 0 /dev/null "$T/err" job wait "$(cat "$T/id")"
check "job start (default): the last command LUN 2 got is the final SYNCHRONIZE CACHE(16)" \
	test "$(last 2)" = 91000000000000000000000000000000

# --- a bad value is refused before anything is opened
bcrun 2 /dev/null "$T/err" copy --flush=sometimes "$U/1" "$U/2"
expect_msg "^blkclone: --flush must be end or never, not 'sometimes'" "a bad --flush value is named"
bcrun 2 /dev/null "$T/err" job start --flush= "$U/1" "$U/2"
finish
