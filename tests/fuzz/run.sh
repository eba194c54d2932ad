#!/bin/bash
# Build every tests/fuzz/fuzz-*.c with clang's libFuzzer + ASan + UBSan
# against the library sources, and run each for a bounded time with seeds
# from fixtures/.  FUZZ_SECONDS (default 20) per target; exit non-zero on
# any crash.  Usage: tests/fuzz/run.sh [BUILD_DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/build-fuzz}
secs=${FUZZ_SECONDS:-20}
mkdir -p "$out"
command -v clang >/dev/null || { echo "SKIP: clang not installed"; exit 77; }

# config.h from any configured build dir, or a minimal one
cfg=$(ls "$top"/build/config.h 2>/dev/null || true)
[ -n "$cfg" ] || { echo '#define _GNU_SOURCE 1' >"$out/config.h"; cfg=$out/config.h; }

CFLAGS="-g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
	-include $cfg -I$top/include -I$top/src $(pkg-config --cflags libnvme libiscsi)"
# each target: its harness plus the library sources it needs
declare -A SRCS=(
	[fuzz-nvme-identify]="src/nvme/identify.c"
	[fuzz-address]="src/address.c src/sysfs.c"
)
# extra targets register themselves in tests/fuzz/targets.list:
#   NAME SOURCE...
if [ -f "$top/tests/fuzz/targets.list" ]; then
	while read -r name srcs; do
		[ -n "$name" ] && [ "${name#\#}" = "$name" ] && SRCS[$name]=$srcs
	done <"$top/tests/fuzz/targets.list"
fi
status=0
for t in "${!SRCS[@]}"; do
	files=""
	for s in ${SRCS[$t]}; do files="$files $top/$s"; done
	# shellcheck disable=SC2086
	clang $CFLAGS -o "$out/$t" "$top/tests/fuzz/$t.c" $files $(pkg-config --libs libnvme libiscsi) -lsgutils2 ||
		{ status=1; continue; }
	corpus="$out/corpus-$t"; mkdir -p "$corpus"
	seeds="$top/fixtures/fuzz/$t"
	[ -d "$seeds" ] || seeds=""
	echo "=== $t: ${secs}s"
	if "$out/$t" -max_total_time="$secs" -print_final_stats=1 "$corpus" $seeds \
		>"$out/$t.log" 2>&1; then
		grep -E 'stat::number_of_executed_units' "$out/$t.log" | sed "s/^/$t: /"
	else
		tail -n 40 "$out/$t.log"; status=1
	fi
done
exit $status
