package PVE::RPCEnvironment;

# Stub of pve-access-control's PVE::RPCEnvironment, which PVE::Storage
# loads; not among the sources the tests run against (t/lib/PVEEnv.pm).
# The tests never fork a worker or check permissions.

use strict;
use warnings;

use base 'PVE::RESTEnvironment';

1;
