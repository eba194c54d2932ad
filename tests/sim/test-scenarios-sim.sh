#!/bin/bash
# The shared scenario list (tests/scenarios/common.scn): its rules first
# (scsi-scenario --check: sim-lio expects what lio does on every row,
# sim-spc what tgt does unless the row says why not), then the list
# against both of the simulator's personalities.  The same list runs
# against tgt in tests/integration/test-iscsi-tgt.sh and against LIO in
# tests/vm/test-vm-xcopy-iscsi.sh.
S=$TOP_BUILDDIR/tests/sim/scsi-scenario
L=$TOP_SRCDIR/tests/scenarios/common.scn
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
rc=0
"$S" --check "$L" || rc=1
# the check itself: each of these rows breaks one rule and must be refused
while IFS= read -r row; do
	printf '%s\n' "$row" >"$T/bad.scn"
	if "$S" --check "$T/bad.scn" >"$T/out"; then
		echo "not ok - --check accepted: $row"
		rc=1
	else
		echo "ok - --check refuses: $row ($(grep '^not ok' "$T/out" | sed "s|^not ok - [^:]*:[0-9]*: ||"))"
	fi
done <<'ROWS'
drift | 00 00 00 00 00 00 | none | lio: good | sim-lio: check 5
half | 00 00 00 00 00 00 | none | lio: good
drift | 00 00 00 00 00 00 | none | tgt: good | sim-spc: check 5
half | 00 00 00 00 00 00 | none | sim-spc: good
says it differs | 00 00 00 00 00 00 | none | tgt, sim-spc: good | sim-spc != tgt: but they do not
lio may not differ | 00 00 00 00 00 00 | none | lio: good | sim-lio: check 5 | sim-lio != lio: why
unverified sim | 00 00 00 00 00 00 | none | sim-spc, tgt: good | unverified: sim-spc
unknown label | 00 00 00 00 00 00 | none | lio, sim-lio, tgtd: good
twice | 00 00 00 00 00 00 | none | lio, sim-lio: good | lio: good
junk | 00 00 00 00 00 00 | none | lio, sim-lio: good, really
never matches | 12 00 00 00 60 00 | in 96 | lio, sim-lio: good; byte 5 & 08 = 10
ROWS
for p in sim-lio sim-spc; do
	"$S" "$p" "$p" "$L" || rc=1
done
exit $rc
