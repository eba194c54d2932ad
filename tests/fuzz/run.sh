#!/bin/bash
# Build every tests/fuzz/fuzz-*.c with clang's libFuzzer + ASan + UBSan
# against the library sources, and run each for a bounded time with seeds
# from fixtures/ (see make_seeds).  FUZZ_SECONDS (default 20) per target,
# one target at a time; exit non-zero on any crash.  Usage: tests/fuzz/run.sh [BUILD_DIR]
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
	[fuzz-address]="src/volume/address.c src/transport/iscsi/url.c src/util/sysfs.c"
)
# extra targets register themselves in tests/fuzz/targets.list:
#   NAME SOURCE...
if [ -f "$top/tests/fuzz/targets.list" ]; then
	while read -r name srcs; do
		[ -n "$name" ] && [ "${name#\#}" = "$name" ] && SRCS[$name]=$srcs
	done <"$top/tests/fuzz/targets.list"
fi
# Seeds: fixtures/fuzz/NAME/* as they are, and the captured replies that
# tests/fuzz/seeds.list names for NAME (*.hex, '#' comments, converted
# to bytes).
make_seeds() {	# make_seeds NAME DIR
	local f n=0 name paths
	if [ -d "$top/fixtures/fuzz/$1" ]; then
		cp "$top/fixtures/fuzz/$1"/* "$2"/ 2>/dev/null || true
	fi
	[ -f "$top/tests/fuzz/seeds.list" ] || return 0
	while read -r name paths; do
		[ "$name" = "$1" ] || continue
		# shellcheck disable=SC2086
		for f in $(cd "$top" && find $paths -name '*.hex' | sort); do
			n=$((n + 1))
			sed 's/#.*//' "$top/$f" | xxd -r -p >"$2/hex-$n-$(basename "$f" .hex)"
		done
	done <"$top/tests/fuzz/seeds.list"
}
status=0
total=0
for t in $(printf '%s\n' "${!SRCS[@]}" | sort); do
	files=""
	for s in ${SRCS[$t]}; do files="$files $top/$s"; done
	# shellcheck disable=SC2086
	clang $CFLAGS -o "$out/$t" "$top/tests/fuzz/$t.c" $files $(pkg-config --libs libnvme libiscsi) -lsgutils2 ||
		{ status=1; continue; }
	corpus="$out/corpus-$t"; mkdir -p "$corpus"
	seeds="$out/seeds-$t"; rm -rf "$seeds"; mkdir -p "$seeds"
	make_seeds "$t" "$seeds"
	echo "=== $t: ${secs}s, $(find "$seeds" -type f | wc -l) seeds"
	if "$out/$t" -max_total_time="$secs" -print_final_stats=1 "$corpus" "$seeds" \
		>"$out/$t.log" 2>&1; then
		n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
		echo "$t: ${n:-0} executions"
		total=$((total + ${n:-0}))
	else
		tail -n 40 "$out/$t.log"; status=1
	fi
done
echo "fuzz: $total executions in total"
exit $status
