#!/bin/bash
# Faults on tgt beyond a killed tgtd (test-iscsi-faults.sh), one run each
# (bench/fault-table.sh repeats them): a LUN taken offline under the
# destination and under the source fails cleanly (exit 1 naming device,
# command, LBA, NOT READY 3A/00 and --resume-from, everything before that
# LBA already copied) and the resume finishes byte-identical; a target set
# offline for 3 s ends either way;
# refusals (exit 2/3) leave the destination's bytes as they were.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/tgt-target.sh"
. "$(dirname "$0")/../lib/gate.sh"
. "$(dirname "$0")/../lib/faults.sh"
need_root
command -v tgtd >/dev/null || { echo "SKIP: tgt not installed"; exit 77; }
CLEANUP_HOOKS="tgt_stop $CLEANUP_HOOKS"
faults_init 256 || exit 1

expect_case() {	# CASE OUTCOME-REGEX
	local t0=$SECONDS
	fault_run "$1"
	note "$1 after $((SECONDS - t0)) s: $FAULT_OUTCOME ${FAULT_WHY:0:300}"
	check "$1: $2" grep -Eqx "$2" <<<"$FAULT_OUTCOME"
}
expect_case dst-offline clean
check "dst-offline: the message names the destination and decodes the sense" \
	grep -q "/$FAULT_IQN/2: [A-Z].* at LBA .*Not Ready.*Medium not present (3a/00)" "$T/frun.err"
expect_case src-offline clean
# the copy is held at its destination's middle when the source goes
# offline: the next source command fails (a READ(16), or GET LBA STATUS
# where the copy asks the source's map in pieces)
check "src-offline: the message names the source's READ(16) or GET LBA STATUS and decodes the sense" \
	grep -Eq "/$FAULT_IQN/1: (READ\(16\)|GET LBA STATUS) at LBA .*Not Ready.*\(3a/00\)" "$T/frun.err"
# tgt drops what arrives while it is offline: with one command in flight
# the copy completed; with several, one may go unanswered and the copy
# is resent on a new session after the 30 s command timeout
expect_case tgt-offline "completed|clean"
expect_case refusals refused
finish
