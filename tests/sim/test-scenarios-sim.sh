#!/bin/bash
# The shared scenario list against the simulator's LIO personality; the
# same list runs against LIO itself in tests/vm/test-vm-xcopy-iscsi.sh.
exec "$TOP_BUILDDIR/tests/sim/scsi-scenario" sim-lio sim-lio "$TOP_SRCDIR/tests/scenarios/common.scn"
