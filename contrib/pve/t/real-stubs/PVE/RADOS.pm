package PVE::RADOS;

# Stub of librados2-perl (XS), which pve-storage's RBD and CephFS
# plugins load; the tests never talk to Ceph (t/lib/PVEEnv.pm).

1;
