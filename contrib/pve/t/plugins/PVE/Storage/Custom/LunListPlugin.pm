package PVE::Storage::Custom::LunListPlugin;

# Another third-party iSCSI plugin that, like the blkclone plugin, lets
# the administrator list the LUNs it may use, under the same obvious
# name: 'luns' (t/plugin-load.t, the clash case).

use strict;
use warnings;

use base qw(PVE::Storage::Plugin);

sub api { return 13; }

sub type { return 'luniscsi'; }

sub properties {
    return { luns => { description => 'LUNs to use.', type => 'string' } };
}

sub options {
    return { portal => { fixed => 1 }, target => { fixed => 1 }, luns => { optional => 1 } };
}

1;
