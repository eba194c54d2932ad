#!/bin/bash
# Every --json object carries exactly the keys doc/json-schema.md lists:
# no documented key missing, no undocumented key present.
. "$(dirname "$0")/../lib/common.sh"
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }

# keys(FILE, JQ-PATH): sorted key list of the object at PATH
keys() { jq -r "$2 | keys_unsorted[]" "$1" | sort | tr '\n' ' '; }
same() {	# same WHAT GOT WANT
	if [ "$2" = "$(echo $3 | tr ' ' '\n' | sort | tr '\n' ' ')" ]; then pass "$1"
	else fail "$1: got [$2], documented [$3]"; fi
}

make_sparse "$T/s.img" 16 4 256 1
"$BLKCLONE" copy --json "$T/s.img" "$T/d.img" >"$T/copy.json"
same "copy keys" "$(keys "$T/copy.json" .)" \
	"schema source destination status error method size_bytes offloaded_bytes read_bytes written_bytes zeroed_bytes skipped_bytes resume_offset seconds host_io verified fallback plan"
same "plan keys" "$(keys "$T/copy.json" .plan)" "method steps destination_proven_zero holes note"
same "plan step keys" "$(keys "$T/copy.json" '.plan.steps[0]')" "method usable reason"
check "copy schema is 1" test "$(jq .schema "$T/copy.json")" = 1
check "a host copy reports its I/O" test "$(jq -r .method "$T/copy.json")" = host
same "host_io keys" "$(keys "$T/copy.json" .host_io)" "chunk_bytes workers flushes"
check "host_io: 1 MiB reads, file volumes' 4 workers, no flush before the last" \
	test "$(jq -c '[.host_io.chunk_bytes, .host_io.workers, .host_io.flushes]' "$T/copy.json")" = "[1048576,4,0]"

"$BLKCLONE" copy --json --offload=require "$T/s.img" "$T/d.img" >"$T/fail.json" 2>/dev/null
same "failed copy keys" "$(keys "$T/fail.json" .)" \
	"schema source destination status error method size_bytes offloaded_bytes read_bytes written_bytes zeroed_bytes skipped_bytes resume_offset seconds host_io verified fallback plan"
check "no host copy ran: host_io is null" test "$(jq -c .host_io "$T/fail.json")" = null

"$BLKCLONE" probe --json "$T/s.img" "$T/d.img" >"$T/probe.json"
same "probe keys" "$(keys "$T/probe.json" .)" "schema volumes plan"
same "volume keys" "$(keys "$T/probe.json" '.volumes[0]')" \
	"address backend location copy_domain lu_location lu_offset stack vendor product revision serial designators size_bytes logical_block_size physical_block_size optimal_transfer_bytes maximum_transfer_bytes read_only provisioning map_source sparse_copy_volume capabilities limits reported_opcodes"
same "capability keys" "$(keys "$T/probe.json" '.volumes[0].capabilities')" \
	"xcopy_lid1 token_copy nvme_copy reflink write_same_unmap zeroout unmap extent_map zero_init"
same "capability fields" "$(keys "$T/probe.json" '.volumes[0].capabilities.zero_init')" "state reason"
same "limit keys" "$(keys "$T/probe.json" '.volumes[0].limits')" \
	"xcopy_lid1 token_copy nvme_copy unmap max_write_same_blocks"
same "xcopy limit keys" "$(keys "$T/probe.json" '.volumes[0].limits.xcopy_lid1')" \
	"max_cscd_descriptors max_segment_descriptors max_descriptor_list_length max_segment_length max_concurrent_copies"
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

"$BLKCLONE" map --json "$T/s.img" >"$T/map.json"
same "map keys" "$(keys "$T/map.json" .)" "schema address size_bytes block_size source extents totals"
same "extent keys" "$(keys "$T/map.json" '.extents[0]')" "offset length lba blocks state"
same "totals keys" "$(keys "$T/map.json" .totals)" "mapped_bytes deallocated_bytes anchored_bytes"
check "extents tile the volume" test "$(jq '[.extents[].length] | add' "$T/map.json")" = $((16 << 20))

"$BLKCLONE" zero --json "$T/d.img" >"$T/zero.json"
same "zero keys" "$(keys "$T/zero.json" .)" "schema address status error size_bytes zeroed_bytes seconds"

# every documented table row appears in the document (the doc and this
# test stay one list)
for k in resume_offset sparse_copy_volume map_source alignment_valid anchored_bytes zeroed_bytes reported_opcodes receive_copy_operating_parameters; do
	check "doc lists $k" grep -q "$k" "$TOP_SRCDIR/doc/json-schema.md"
done
finish
