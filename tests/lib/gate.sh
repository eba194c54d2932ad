# Sourced after common.sh: hold a copy at a known point so that a fault
# strikes in its middle on any machine, however fast (tests/tools/gatefs.c).
# Backing files live in $T; the target (tgt) or blkclone opens them
# through the FUSE mount $GATE_MNT, where I/O can be held.
#
#   gate_mount               mount $T onto $GATE_MNT (fails the test if
#                            gatefs was not built: libfuse3-dev)
#   gate_arm FILE KIND OFF   hold KIND (read|write|any) I/O of $T/FILE
#                            that ends past byte OFF
#   gate_wait_held [SECS [PID]]  until a request is held (300 s at most;
#                            PID ending first, or a copy that never reaches
#                            the gate, is a harness error, reported as such)
#   gate_open                let every held request go, disarm
#   gate_total               requests held since the last arm
#   gate_low                 the lowest byte offset held since then (-1)
#   gate_watch FILE          count the writes to $T/FILE from now on
#   gate_writes              writes to the watched file since the watch
#   gate_wlow                the lowest byte offset they touched (-1)
#   gate_count FILE          count the bytes read from $T/FILE from now on
#   gate_read                the bytes read from it since (the target's
#                            reads: direct_io, no page cache in between)
#   gate_rhigh               the end of the highest byte read from it
#                            since (-1): a copy cannot have had more of it
#
# A test arms the gate, starts the copy, waits until it is held, injects
# the fault, and opens the gate: the copy cannot have ended before the
# fault, and nothing waits for a fixed time.

GATE_MNT=$T/gm
GATEFS=${GATEFS:-${TOP_BUILDDIR:-$(dirname "${BLKCLONE_BIN:-$BLKCLONE}")}/tests/tools/gatefs}

gate_mount() {
	if [ ! -x "$GATEFS" ]; then
		echo "gatefs not built ($GATEFS): install libfuse3-dev and fuse3, configure again" >&2
		return 1
	fi
	mkdir -p "$GATE_MNT" || return 1
	"$GATEFS" "$T" "$GATE_MNT" || return 1
	CLEANUP_HOOKS="$CLEANUP_HOOKS gate_umount"
	test -r "$GATE_MNT/.gate"
}

gate_umount() {
	mountpoint -q "$GATE_MNT" 2>/dev/null || return 0
	gate_open 2>/dev/null || true
	umount "$GATE_MNT" 2>/dev/null || umount -l "$GATE_MNT"
}

gate_arm() {
	echo "arm $1 $2 $3" >"$GATE_MNT/.gate"
}

gate_open() {
	echo open >"$GATE_MNT/.gate"
}

gate_held() {
	sed -n 's/^held //p' "$GATE_MNT/.gate"
}

gate_total() {
	sed -n 's/^total //p' "$GATE_MNT/.gate"
}

gate_low() {	# the lowest byte offset held since the last arm, or -1
	sed -n 's/^low //p' "$GATE_MNT/.gate"
}

gate_watch() {
	echo "watch $1" >"$GATE_MNT/.gate"
}

gate_writes() {
	sed -n 's/^writes //p' "$GATE_MNT/.gate"
}

gate_wlow() {	# the lowest byte offset written since gate_watch, or -1
	sed -n 's/^wlow //p' "$GATE_MNT/.gate"
}

gate_count() {
	echo "count $1" >"$GATE_MNT/.gate"
}

gate_read() {
	sed -n 's/^read //p' "$GATE_MNT/.gate"
}

gate_rhigh() {
	sed -n 's/^rhigh //p' "$GATE_MNT/.gate"
}

gate_wait_held() {	# [SECS [PID]]: PID gone before the gate is a harness error
	local i
	for i in $(seq $((${1:-300} * 20))); do
		[ "$(gate_held)" -gt 0 ] 2>/dev/null && return 0
		if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
			echo "harness: pid $2 ended before any I/O reached the gate" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "harness: no I/O reached the gate in ${1:-300} s" >&2
	return 1
}
