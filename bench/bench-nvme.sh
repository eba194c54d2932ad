#!/bin/bash
# NVMe Copy in the test VM (QEMU NVMe, TCG): blkclone's LV-to-LV clone on
# one namespace vs `nvme copy` scripted by hand vs blkclone's host copy,
# in one VM run.  Compare ratios only: the VM is emulated.
#   usage: bench/bench-nvme.sh [MiB]     (root, qemu-system-x86)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BLKCLONE:-$top/build/blkclone}
export BLKCLONE_VM_DIR=${BLKCLONE_VM_DIR:-$(mktemp -d /var/tmp/blkclone-bench-vm.XXXXXX)}
export BLKCLONE_VM_PORT=${BLKCLONE_VM_PORT:-15260}
vm=$top/tests/vm/vm.sh
trap '"$vm" stop >/dev/null 2>&1 || true' EXIT
"$vm" start "$B"
"$vm" exec "MB=${1:-256} sh /guest/bench-nvme.sh"
