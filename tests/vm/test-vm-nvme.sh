#!/bin/bash
# NVMe Copy inside the test VM: QEMU NVMe namespaces, LVs on them.
exec bash "$(dirname "$0")/guest-run.sh" nvme
