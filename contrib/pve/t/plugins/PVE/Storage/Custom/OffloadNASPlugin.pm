package PVE::Storage::Custom::OffloadNASPlugin;

# Another plugin implementing the pve-devel RFC's copy offload, which
# declares the RFC's 'copy-offload' option itself, unconditionally
# (t/plugin-load.t).

use strict;
use warnings;

use base qw(PVE::Storage::Plugin);

sub api { return 13; }

sub type { return 'offloadnas'; }

sub properties {
    return { 'copy-offload' => { description => 'Let the NAS copy clones.', type => 'boolean' } };
}

sub options {
    return { server => { fixed => 1 }, 'copy-offload' => { optional => 1 } };
}

1;
