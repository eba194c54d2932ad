package PVE::Storage;

# Test double of what loading pve-storage's PVE::Storage does to the
# plugin registry (src/PVE/Storage.pm, top level): the built-in plugins
# register, the custom ones under /usr/share/perl5/PVE/Storage/Custom are
# loaded (here: none; t/lib/PVEEnv.pm load_custom_plugins() does that step
# for the plugins a test names), then PVE::Storage::Plugin->init() runs,
# outside any eval.
#
# The built-in plugins are stand-ins with the real types, class names and
# the properties each declares (pve-storage 9.1.7); they can do nothing
# else.  A custom plugin that declares one of these properties again
# makes init() die here as it does in PVE.

use strict;
use warnings;

use PVE::Storage::Plugin;

# real: use constant APIVER / APIAGE in src/PVE/Storage.pm (9.1.7; the
# copy-offload fork has 16 and 7).  PVE_FAKE_APIVER / PVE_FAKE_APIAGE
# stand for other PVE versions (t/plugin-load.t).
use constant APIVER => $ENV{PVE_FAKE_APIVER} // 15;
use constant APIAGE => $ENV{PVE_FAKE_APIAGE} // 6;

my %BUILTIN = (
    btrfs => ['BTRFSPlugin', [qw(nocow)]],
    cephfs => ['CephFSPlugin', [qw(fs-name fuse)]],
    cifs => ['CIFSPlugin', [qw(domain password share smbversion)]],
    dir => ['DirPlugin', [qw(bwlimit create-base-path create-subdirs is_mountpoint mkdir path)]],
    esxi => ['ESXiPlugin', [qw(skip-cert-verification)]],
    iscsi => ['ISCSIPlugin', [qw(portal target)]],
    iscsidirect => ['ISCSIDirectPlugin', []],
    lvm => ['LVMPlugin', [qw(base saferemove saferemove-stepsize saferemove_throughput tagged_only vgname)]],
    lvmthin => ['LvmThinPlugin', [qw(thinpool)]],
    nfs => ['NFSPlugin', [qw(export server)]],
    pbs => ['PBSPlugin', [qw(datastore encryption-key fingerprint master-pubkey)]],
    rbd => ['RBDPlugin', [qw(authsupported data-pool keyring krbd monhost namespace pool username)]],
    zfs => ['ZFSPlugin', [qw(comstar_hg comstar_tg iscsiprovider lio_tpg nowritecache zfs-base-path)]],
    zfspool => ['ZFSPoolPlugin', [qw(blocksize mountpoint sparse)]],
);

# the LVM plugin is a double of its own (t/fake/PVE/Storage/LVMPlugin.pm):
# custom plugins subclass it
use PVE::Storage::LVMPlugin;

for my $type (sort keys %BUILTIN) {
    my ($name, $props) = @{ $BUILTIN{$type} };
    my $class = "PVE::Storage::$name";
    if (defined &{"${class}::type"}) {    # a double of its own
        $class->register();
        next;
    }
    my %opts = map { $_ => { optional => 1 } } @$props, qw(nodes disable content);
    %opts = (%opts, portal => { fixed => 1 }, target => { fixed => 1 }) if $type eq 'iscsidirect';
    no strict 'refs';
    @{"${class}::ISA"} = ('PVE::Storage::Plugin');
    *{"${class}::type"} = sub { $type };
    *{"${class}::properties"} = sub { return { map { $_ => { type => 'string' } } @$props } };
    *{"${class}::options"} = sub { return { %opts } };
    $class->register();
}

PVE::Storage::Plugin->init();

1;
