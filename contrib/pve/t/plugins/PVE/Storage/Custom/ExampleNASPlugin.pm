package PVE::Storage::Custom::ExampleNASPlugin;

# A second custom storage plugin, loaded beside the blkclone plugin in
# t/plugin-load.t: it declares properties of its own and uses some that
# pve-storage's plugins declare (server: nfs, username: rbd, password:
# cifs), as third-party plugins do.  It can do nothing else.

use strict;
use warnings;

use base qw(PVE::Storage::Plugin);

sub api { return 13; }

sub type { return 'examplenas'; }

sub plugindata {
    return { content => [{ images => 1 }, { images => 1 }], 'sensitive-properties' => { password => 1 } };
}

sub properties {
    return {
        'nas-pool' => { description => 'Pool on the NAS.', type => 'string' },
        'nas-api-port' => { description => 'Port of the NAS API.', type => 'integer', minimum => 1 },
    };
}

sub options {
    return {
        server => { fixed => 1 },
        'nas-pool' => { fixed => 1 },
        'nas-api-port' => { optional => 1 },
        username => { optional => 1 },
        password => { optional => 1 },
        nodes => { optional => 1 },
        disable => { optional => 1 },
        content => { optional => 1 },
        shared => { optional => 1 },
    };
}

1;
