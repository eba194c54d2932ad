#!/bin/bash
# Every --json object carries exactly the keys doc/json-schema.md lists:
# no documented key missing, no undocumented key present.
. "$(dirname "$0")/../lib/common.sh"
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }

DOC=$TOP_SRCDIR/doc/json-schema.md
# keys(FILE, JQ-PATH): sorted key list of the object at PATH
keys() { jq -r "$2 | keys_unsorted[]" "$1" | sort | tr '\n' ' '; }
# doc_keys N: the keys in the first column of the document's Nth key table
# (1 copy, 2 probe, 3 a probe volume, 4 map, 5 zero, 6 job status, 7 a job
# pair, 8 job start, 9 copy --to); "a, b" rows are two
# keys.  The lists this test compares come from the document itself.
doc_keys() {
	awk -v want="$1" '
		/^\| key \| type \| meaning \|$/ { n++; intable = (n == want); next }
		intable && /^\|---/ { next }
		intable && /^\| / { split($0, c, "|"); k = c[2]; gsub(/ /, "", k);
			m = split(k, ks, ","); for (i = 1; i <= m; i++) print ks[i]; next }
		intable { intable = 0 }' "$DOC" | sort | tr '\n' ' '
}
check "the document has the nine key tables" test "$(grep -c '^| key | type | meaning |$' "$DOC")" = 9
same() {	# same WHAT GOT WANT
	if [ "$2" = "$(echo $3 | tr ' ' '\n' | sort | tr '\n' ' ')" ]; then pass "$1"
	else fail "$1: got [$2], documented [$3]"; fi
}

make_sparse "$T/s.img" 16 4 256 1
bcrun 0 "$T/copy.json" "$T/err" copy --json "$T/s.img" "$T/d.img"
same "copy keys, as doc/json-schema.md's copy table" "$(keys "$T/copy.json" .)" "$(doc_keys 1)"
same "plan keys" "$(keys "$T/copy.json" .plan)" "method steps destination_proven_zero holes note identity consistency consistency_reason"
same "plan step keys" "$(keys "$T/copy.json" '.plan.steps[0]')" "method usable reason consistency consistency_reason"
check "copy schema is 1" test "$(jq .schema "$T/copy.json")" = 1
check "a host copy reports its I/O" test "$(jq -r .method "$T/copy.json")" = host
same "host_io keys" "$(keys "$T/copy.json" .host_io)" "chunk_bytes workers flushes immed_flushes depth write_behind_bytes"
check "host_io: 1 MiB reads, file volumes' 4 workers, no flush before the last" \
	test "$(jq -c '[.host_io.chunk_bytes, .host_io.workers, .host_io.flushes]' "$T/copy.json")" = "[1048576,4,0]"

bcrun 3 "$T/fail.json" "$T/err" copy --json --offload=require "$T/s.img" "$T/d.img"
same "failed copy keys, as the copy table" "$(keys "$T/fail.json" .)" "$(doc_keys 1)"
check "no host copy ran: host_io is null" test "$(jq -c .host_io "$T/fail.json")" = null

bcrun 0 "$T/probe.json" "$T/err" probe --json "$T/s.img" "$T/d.img"
same "probe keys, as the probe table" "$(keys "$T/probe.json" .)" "$(doc_keys 2)"
same "volume keys, as the volume table" "$(keys "$T/probe.json" '.volumes[0]')" "$(doc_keys 3)"
same "capability keys" "$(keys "$T/probe.json" '.volumes[0].capabilities')" \
	"xcopy_lid1 token_copy nvme_copy reflink write_same_unmap zeroout unmap extent_map zero_init"
same "segment keys" "$(keys "$T/probe.json" '.volumes[0].segments[0]')" "start length lu_offset"
check "a file is one window onto itself, on no multipath map" \
	test "$(jq -c '.volumes[0] | [(.segments | length), .segments[0].start, .segments[0].length, .segments[0].lu_offset, .multipath, .stack_stopped]' "$T/probe.json")" = "[1,0,$((16 << 20)),0,null,null]"
same "capability fields" "$(keys "$T/probe.json" '.volumes[0].capabilities.zero_init')" "state reason"
same "limit keys" "$(keys "$T/probe.json" '.volumes[0].limits')" \
	"xcopy_lid1 token_copy nvme_copy unmap max_write_same_blocks"
same "xcopy limit keys" "$(keys "$T/probe.json" '.volumes[0].limits.xcopy_lid1')" \
	"max_cscd_descriptors max_segment_descriptors max_descriptor_list_length max_segment_length max_concurrent_copies total_concurrent_copies"
same "token limit keys" "$(keys "$T/probe.json" '.volumes[0].limits.token_copy')" \
	"max_range_descriptors max_inactivity_timeout default_inactivity_timeout max_token_transfer_blocks optimal_transfer_blocks"
same "nvme limit keys" "$(keys "$T/probe.json" '.volumes[0].limits.nvme_copy')" "mssrl mcl msrc"
same "unmap limit keys" "$(keys "$T/probe.json" '.volumes[0].limits.unmap')" \
	"max_lba_count max_descriptors granularity alignment alignment_valid"
same "reported_opcodes keys" "$(keys "$T/probe.json" '.volumes[0].reported_opcodes')" \
	"state reason commands truncated extended_copy populate_token write_using_token receive_rod_token_information receive_copy_operating_parameters write_same_16 unmap get_lba_status"
check "a file's reported_opcodes are null" \
	test "$(jq -c '.volumes[0].reported_opcodes | [.state, .commands, .unmap]' "$T/probe.json")" = '["unknown",null,null]'
check "capability states are from the documented set" \
	test -z "$(jq -r '.volumes[].capabilities[].state' "$T/probe.json" | grep -vE '^(supported|unsupported|unknown)$')"

bcrun 0 "$T/map.json" "$T/err" map --json "$T/s.img"
same "map keys, as the map table" "$(keys "$T/map.json" .)" "$(doc_keys 4)"
same "extent keys" "$(keys "$T/map.json" '.extents[0]')" "offset length lba blocks state"
same "totals keys" "$(keys "$T/map.json" .totals)" "mapped_bytes deallocated_bytes anchored_bytes"
check "extents tile the volume" test "$(jq '[.extents[].length] | add' "$T/map.json")" = $((16 << 20))

bcrun 0 "$T/zero.json" "$T/err" zero --json "$T/d.img"
same "zero keys, as the zero table" "$(keys "$T/zero.json" .)" "$(doc_keys 5)"

check "two plain files: a host copy, bulk, and the plan says what must stay still" \
	test "$(jq -r '[.plan.method, .plan.consistency, (.plan.consistency_reason | test("keep the source still")), .plan.steps[0].consistency] | @tsv' "$T/probe.json")" = "$(printf 'host\tbulk\ttrue\t')"

# --flush and durable_offset: only a flush makes bytes known durable
same "flush keys" "$(keys "$T/copy.json" .flush)" "policy count unflushed_bytes durable_offset"
check "copy under --flush=end: durable to the end, nothing unflushed" \
	test "$(jq -c '.flush | [.policy, .durable_offset, .unflushed_bytes]' "$T/copy.json")" = "[\"end\",$((16 << 20)),0]"
bcrun 0 "$T/never.json" "$T/err" copy --json --flush=never "$T/s.img" "$T/dn.img"
check "copy under --flush=never: whole (resume_offset), but nothing known durable (durable_offset 0)" \
	test "$(jq -c '[.status, .resume_offset, .flush.policy, .flush.count, .flush.durable_offset]' "$T/never.json")" = "[\"ok\",$((16 << 20)),\"never\",0,0]"
bcrun 0 "$T/never2.json" "$T/err" copy --json --flush=never --to="$T/dn1.img" --to="$T/dn2.img" "$T/s.img"
check "copy --to under --flush=never: each destination whole, none known durable" \
	test "$(jq -c '[.pairs[] | [.report.resume_offset, .report.flush.durable_offset, .report.fanout]] | unique' "$T/never2.json")" = "[[$((16 << 20)),0,2]]"

# copy --to: one object, a job pair per destination, each with a copy report
bcrun 0 "$T/to.json" "$T/err" copy --json --to="$T/t1.img" --to="$T/t2.img" "$T/s.img"
same "copy --to keys, as the copy --to table" "$(keys "$T/to.json" .)" "$(doc_keys 9)"
same "copy --to pair keys, as the job pair table" "$(keys "$T/to.json" '.pairs[0]')" "$(doc_keys 7)"
same "copy --to pair report keys, as the copy table" "$(keys "$T/to.json" '.pairs[1].report')" "$(doc_keys 1)"
check "copy --to: schema 1, ok, two pairs fanned out by 2" \
	test "$(jq -c '[.schema, .status, .exit_code, [.pairs[].report.fanout]]' "$T/to.json")" = '[1,"ok",0,[2,2]]'

# jobs: the status of a finished job on files, and what start prints
export BLKCLONE_STATE_DIR=$T/state
bcrun 0 "$T/job.json" "$T/err" job start --json "$T/s.img" "$T/j.img"
same "job start keys, as the job start table" "$(keys "$T/job.json" .)" "$(doc_keys 8)"
same "job start pair keys" "$(keys "$T/job.json" '.pairs[0]')" "source destination method consistency"
jid=$(jq -r .id "$T/job.json")
bcrun 0 /dev/null "$T/err" job wait "$jid"
bcrun 0 "$T/jst.json" "$T/err" job status --json "$jid"
same "job status keys, as the job status table" "$(keys "$T/jst.json" .)" "$(doc_keys 6)"
same "job pair keys, as the job pair table" "$(keys "$T/jst.json" '.pairs[0]')" "$(doc_keys 7)"
same "a finished pair's report has the copy keys" "$(keys "$T/jst.json" '.pairs[0].report')" "$(doc_keys 1)"
bcrun 0 "$T/jn.json" "$T/err" job start --json --flush=never "$T/s.img" "$T/jn.img"
bcrun 0 /dev/null "$T/err" job wait "$(jq -r .id "$T/jn.json")"
bcrun 0 "$T/jns.json" "$T/err" job status --json "$(jq -r .id "$T/jn.json")"
check "a job under --flush=never: the pair complete, its report says nothing known durable" \
	test "$(jq -c '[.state, .pairs[0].resume_offset, .pairs[0].report.flush.policy, .pairs[0].report.flush.durable_offset]' "$T/jns.json")" = "[\"complete\",$((16 << 20)),\"never\",0]"
check "job status schema is 1, state complete" test "$(jq -c '[.schema, .state, .exit_code]' "$T/jst.json")" = '[1,"complete",0]'
bcrun 0 "$T/jl.json" "$T/err" job list --json
same "job list keys" "$(keys "$T/jl.json" .)" "schema jobs"
same "job list entry keys" "$(keys "$T/jl.json" '.jobs[0]')" "id state progress pairs started"
for k in jobs progress pairs started; do
	check "doc names the job list key $k" grep -Eq "[\`{ ,(]$k[\`}:, ]" "$DOC"
done

check "a file is its own unit, named by device and inode" \
	test "$(jq -c '.volumes[0] | [.unit, (.unit_keys | length), .unit_known_by_path_only, (.unit_keys[0] | startswith("file:"))]' "$T/probe.json")" = '["file",1,false,true]'
check "the plan says the two files have no name in common" \
	test "$(jq -r .plan.identity "$T/probe.json")" = "file and file with no name in common"
# File names are bytes: one that is not UTF-8 (Latin-1 0xe9, a 0xff, then
# a valid "\xc3\xa9") still gives valid UTF-8 JSON, a strict parser reads
# it, and each invalid byte comes back as the character of that number.
odd=$T/$(printf 'n\xe9\xff-\xc3\xa9.img')
cp "$T/s.img" "$odd"
"$BLKCLONE" copy --json "$odd" "$odd.copy" >"$T/odd.json" 2>"$T/odd.err"
rc=$?; check "copy of a non-UTF-8 file name exits 0 ($(cat "$T/odd.err"))" test $rc = 0
check "its JSON is valid UTF-8" iconv -f UTF-8 -t UTF-8 "$T/odd.json" -o /dev/null
check "its JSON parses (python3 json, strict UTF-8)" python3 -X utf8 -c '
import json, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8", "strict"))
# the name as given (argv bytes); valid UTF-8 as is, other bytes as U+00XX
exp = "".join(chr(ord(c) - 0xdc00) if 0xdc80 <= ord(c) <= 0xdcff else c for c in sys.argv[2])
sys.exit(0 if d["source"] == exp and d["destination"] == exp + ".copy" else 1)
' "$T/odd.json" "$odd"
check "jq reads it" sh -c "jq -e .source '$T/odd.json' >/dev/null"

# nested objects: every key this test lists for them is in the document's
# text for that object (the tables above cover the top levels both ways)
for k in method steps destination_proven_zero holes note usable reason chunk_bytes workers flushes \
	max_cscd_descriptors max_segment_descriptors max_descriptor_list_length max_segment_length \
	max_concurrent_copies total_concurrent_copies max_range_descriptors max_inactivity_timeout default_inactivity_timeout \
	max_token_transfer_blocks optimal_transfer_blocks mssrl mcl msrc max_lba_count max_descriptors \
	granularity alignment alignment_valid max_write_same_blocks offset length lba blocks state \
	mapped_bytes deallocated_bytes anchored_bytes commands truncated extended_copy populate_token \
	write_using_token receive_rod_token_information receive_copy_operating_parameters write_same_16 \
	unmap get_lba_status xcopy_lid1 token_copy nvme_copy reflink write_same_unmap zeroout \
	extent_map zero_init; do
	check "doc names the nested key $k" grep -Eq "[\`{ ,(]$k[\`}:, ]" "$DOC"
done
finish
