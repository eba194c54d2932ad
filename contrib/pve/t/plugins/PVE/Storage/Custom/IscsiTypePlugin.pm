package PVE::Storage::Custom::IscsiTypePlugin;

# A custom plugin that takes a type pve-storage already has, 'iscsi'
# (t/plugin-load.t: register() dies, and only this plugin is lost).

use strict;
use warnings;

use base qw(PVE::Storage::Plugin);

sub api { return 13; }

sub type { return 'iscsi'; }

1;
