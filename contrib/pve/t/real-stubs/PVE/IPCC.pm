package PVE::IPCC;

# Stub of pve-cluster's PVE::IPCC (an XS module talking to pmxcfs), for
# running the tests against real PVE sources (t/lib/PVEEnv.pm).  Every
# request answers as a quiet, unchanged cluster filesystem would, which
# is all PVE::Cluster::cfs_update() (called inside the cluster lock)
# needs.

use strict;
use warnings;

sub ipcc_send_rec {
    $! = 0;
    return '{"starttime":1,"clinfo":1,"vmlist":1,"version":1}';
}

1;
