#!/bin/bash
# Faults in the middle of blkclone copies, many runs each, as a markdown
# table: tgt on 127.0.0.1 (tests/lib/faults.sh says what each case does)
# and, for BUSY and TASK SET FULL, which tgt never answers, the
# simulator (tests/sim/fault-busy.c).
#
#   sudo bench/fault-table.sh [N]     N runs of each tgt case (default 6)
#   env: BLKCLONE (default build/blkclone), FAULT_BUSY (the simulator
#        program, default next to BLKCLONE: tests/sim/fault-busy, built by
#        make check), LONG_RUNS (tgt-offline-long, about 100 s each,
#        default 2), SIM_RUNS (per status, default 8), FAULT_MB (LUN size,
#        default 256)
# With the defaults: 6 x 6 + 2 + 2 x 8 = 54 runs in about 10 minutes.
# Each run's outcome goes to stderr; the table to stdout.  Exit 1 if any
# run was bad.
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib/common.sh"
. "$top/tests/lib/tgt-target.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/faults.sh"
need_root
N=${1:-6}
LONG_RUNS=${LONG_RUNS:-2}
SIM_RUNS=${SIM_RUNS:-8}
FAULT_BUSY=${FAULT_BUSY:-$(dirname "$BLKCLONE")/tests/sim/fault-busy}
CLEANUP_HOOKS="tgt_stop $CLEANUP_HOOKS"
[ -x "$BLKCLONE" ] || { echo "no blkclone at $BLKCLONE" >&2; exit 1; }
faults_init "${FAULT_MB:-256}" || exit 1

declare -A RUNS DONE CLEAN REFUSED BAD
rows=()
bad_total=0
tally() {	# CASE OUTCOME
	RUNS[$1]=$(( ${RUNS[$1]:-0} + 1 ))
	case $2 in
	completed) DONE[$1]=$(( ${DONE[$1]:-0} + 1 )) ;;
	clean) CLEAN[$1]=$(( ${CLEAN[$1]:-0} + 1 )) ;;
	refused) REFUSED[$1]=$(( ${REFUSED[$1]:-0} + 1 )) ;;
	*) BAD[$1]=$(( ${BAD[$1]:-0} + 1 )); bad_total=$((bad_total + 1)) ;;
	esac
}
one() {	# CASE RUNS
	local i t0
	rows+=("$1")
	for i in $(seq "$2"); do
		t0=$SECONDS
		# the fault strikes at a random point: 5-95% of the destination
		FAULT_AT=$(( (FAULT_MB << 20) / 100 * (5 + RANDOM % 91) ))
		fault_run "$1"
		tally "$1" "$FAULT_OUTCOME"
		echo "$1 run $i ($((SECONDS - t0)) s): $FAULT_OUTCOME ${FAULT_WHY:0:400}" >&2
	done
}
started=$SECONDS
for c in restart kill dst-offline src-offline tgt-offline refusals; do
	one "$c" "$N"
done
[ "$LONG_RUNS" -gt 0 ] && one tgt-offline-long "$LONG_RUNS"
if [ -x "$FAULT_BUSY" ] && [ "$SIM_RUNS" -gt 0 ]; then
	"$FAULT_BUSY" both "$SIM_RUNS" "$RANDOM" >"$T/sim.out"
	cat "$T/sim.out" >&2
	for k in busy task-set-full; do
		line=$(grep "^$k runs=" "$T/sim.out")
		rows+=("$k (simulator)")
		RUNS["$k (simulator)"]=$(sed -n 's/.* runs=\([0-9]*\).*/\1/p' <<<"$line")
		DONE["$k (simulator)"]=$(sed -n 's/.* completed=\([0-9]*\).*/\1/p' <<<"$line")
		CLEAN["$k (simulator)"]=$(sed -n 's/.* clean=\([0-9]*\).*/\1/p' <<<"$line")
		BAD["$k (simulator)"]=$(sed -n 's/.* bad=\([0-9]*\).*/\1/p' <<<"$line")
		bad_total=$((bad_total + ${BAD["$k (simulator)"]:-1}))
	done
else
	echo "no simulator program at $FAULT_BUSY (make check builds it): BUSY rows left out" >&2
fi

total=0
echo
echo "| case | runs | completed + verified | failed cleanly, resumed identical | refused, destination untouched | bad outcomes |"
echo "|---|---|---|---|---|---|"
for r in "${rows[@]}"; do
	total=$((total + ${RUNS[$r]:-0}))
	echo "| $r | ${RUNS[$r]:-0} | ${DONE[$r]:-0} | ${CLEAN[$r]:-0} | ${REFUSED[$r]:-0} | ${BAD[$r]:-0} |"
done
echo
echo "$total runs, $bad_total bad, $((SECONDS - started)) s; ${FAULT_MB:-256} MiB LUNs on tgt $(dpkg-query -W -f='${Version}' tgt 2>/dev/null) at 127.0.0.1"
[ "$bad_total" = 0 ]
