#!/bin/bash
# The SAN stack of issue 20 in the test VM (LIO under TCG): a 1 GiB LV to
# LV clone in one VG on a dm-multipath map over two tcm_loop paths to one
# LU, by blkclone (EXTENDED COPY, in the array), `qemu-img convert -n` and
# `dd` (both through the host), interleaved over ROUNDS rounds: medians,
# p10/p90, ratios and the bytes the map moved through the host
# (tests/vm/guest/bench-multipath.sh).  Times are of an emulated VM:
# compare ratios, never absolute speed.
#   usage: bench/bench-multipath.sh [MiB [ROUNDS]]   (root, qemu-system-x86, qemu-utils)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BLKCLONE:-$top/build/blkclone}
export BLKCLONE_VM_DIR=${BLKCLONE_VM_DIR:-$(mktemp -d /var/tmp/blkclone-bench-vm.XXXXXX)}
export BLKCLONE_VM_PORT=${BLKCLONE_VM_PORT:-15260}
export BLKCLONE_VM_QEMU_IMG=1	# qemu-img in the guest's initramfs
export EXEC_TIMEOUT=${EXEC_TIMEOUT:-3600}
vm=$top/tests/vm/vm.sh
trap '"$vm" stop >/dev/null 2>&1 || true' EXIT
"$vm" start "$B"
"$vm" exec "MB=${1:-1024} ROUNDS=${2:-5} sh /guest/bench-multipath.sh"
