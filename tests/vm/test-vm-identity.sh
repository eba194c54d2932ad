#!/bin/bash
# One LU or file reached two ways is one volume, inside the test VM:
# /dev/sgN, a second tcm_loop path, by-id links, dm-multipath, loop
# partitions; /dev/sgN destinations held through their sd device and the
# LU's designator locks (tests/vm/guest/test-identity.sh).
exec bash "$(dirname "$0")/guest-run.sh" identity
