# Sourced by tests that assert on the SCSI commands a tgt LU got: tgt
# keeps no command log, so blkclone talks to it through
# tests/tools/iscsi-trace.py, a relay that writes "LUN CDB-in-hex" for
# every command to $T/log.  Source after common.sh and tgt-target.sh.
#   trace_need           exit 77 (skip) without tgtd, jq or python3
#   trace_start IQN      start the relay in front of tgt's portal; sets U
#                        to the relay's URL of IQN
#   count LUN PREFIX     how many CDBs LUN got that start with PREFIX (hex)
#   stop_trace           stop the relay (a cleanup hook)

trace_need() {
	local c
	for c in tgtd jq python3; do
		command -v "$c" >/dev/null || { echo "SKIP: $c not installed"; exit 77; }
	done
}

TRACE_PID=
stop_trace() { [ -n "$TRACE_PID" ] && kill "$TRACE_PID" 2>/dev/null; wait "$TRACE_PID" 2>/dev/null; TRACE_PID=; }
CLEANUP_HOOKS="stop_trace ${CLEANUP_HOOKS:-}"

trace_start() {
	python3 "$TOP_SRCDIR/tests/tools/iscsi-trace.py" "$TGT_PORT" "$T/trace.status" "$T/log" &
	TRACE_PID=$!
	wait_for "$T/trace.status" '^port ' 120 || { fail "the relay did not start"; finish; exit 1; }
	U=iscsi://127.0.0.1:$(sed -n 's/^port //p' "$T/trace.status")/$1
}

count() { awk -v l="$1" -v p="$2" '$1 == l && index($2, p) == 1 { n++ } END { print n + 0 }' "$T/log"; }
