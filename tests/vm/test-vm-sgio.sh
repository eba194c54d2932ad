#!/bin/bash
# blkclone over SG_IO inside the test VM: LIO through tcm_loop, LVs on its LUs.
exec bash "$(dirname "$0")/guest-run.sh" sgio
