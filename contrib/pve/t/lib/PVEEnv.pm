package PVEEnv;

# Which PVE the plugin tests run against, and loading plugins the way
# pve-storage does.  Every test file uses this module before any PVE::
# module.
#
# By default PVE is the test doubles in t/fake/ (PVE::SectionConfig,
# PVE::Storage, PVE::Storage::Plugin, PVE::Tools, PVE::Cluster).  With
# PVE_STORAGE_SRC naming a pve-storage checkout, the same tests run
# against the real modules instead: pve-storage's src/, pve-common's src/
# (PVE_COMMON_SRC, default: pve-common beside pve-storage) and
# pve-cluster's src/ (PVE_CLUSTER_SRC, default: pve-cluster beside it).
# Only what cannot run here is stubbed (t/real-stubs/: the XS modules
# PVE::IPCC and PVE::RADOS, and two modules of repositories PVE::Storage
# loads but the tests never use); PVE::Cluster::IPCConst, which
# pve-cluster's build generates from pmxcfs/cfs-ipc-ops.h, is generated
# from that header here.  doc/proxmox.md, "Tests against a real
# pve-storage", has the command and the Debian packages it needs.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);

use base 'Exporter';
our @EXPORT = qw(real_pve load_custom_plugins define_base_property set_lock_dir lock_path);

my $T = abs_path(dirname(__FILE__) . '/..');
my $REAL = $ENV{PVE_STORAGE_SRC} ? 1 : 0;
my $lock_dir;

sub real_pve { return $REAL; }

if ($REAL) {
    my $storage = abs_path($ENV{PVE_STORAGE_SRC}) // die "PVE_STORAGE_SRC: $ENV{PVE_STORAGE_SRC}: not found\n";
    my $common = $ENV{PVE_COMMON_SRC} // dirname($storage) . '/pve-common';
    my $cluster = $ENV{PVE_CLUSTER_SRC} // dirname($storage) . '/pve-cluster';
    for ([$storage, 'PVE_STORAGE_SRC', 'PVE/Storage/Plugin.pm'],
         [$common, 'PVE_COMMON_SRC', 'PVE/SectionConfig.pm'],
         [$cluster, 'PVE_CLUSTER_SRC', 'PVE/Cluster.pm']) {
        my ($dir, $var, $file) = @$_;
        die "$var: $dir/src/$file not found (a checkout of the repository, not its src/)\n"
            if !-f "$dir/src/$file";
    }
    my $gen = tempdir('pve-ipcconst.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$gen/PVE";
    mkdir "$gen/PVE/Cluster";
    my $h = "$cluster/src/pmxcfs/cfs-ipc-ops.h";
    open(my $in, '<', $h) or die "$h: $!\n";
    my @ops = map { /^#define\s+(CFS_IPC_\w+)\s+(\d+)/ ? "    $1 => $2,\n" : () } <$in>;
    close($in);
    die "$h: no CFS_IPC_ constants\n" if !@ops;
    open(my $out, '>', "$gen/PVE/Cluster/IPCConst.pm") or die "$gen: $!\n";
    print $out "package PVE::Cluster::IPCConst;\nuse strict;\nuse warnings;\nuse base 'Exporter';\n",
        "my %OPS;\nBEGIN { %OPS = (\n", @ops, ") }\nuse constant \\%OPS;\nour \@EXPORT = keys %OPS;\n1;\n";
    close($out) or die "$gen: $!\n";
    unshift @INC, $gen, "$T/real-stubs", "$storage/src", "$common/src", "$cluster/src";
} else {
    unshift @INC, "$T/fake";
}

# load_custom_plugins(MODULE...): what loading PVE::Storage does with
# the files under PVE/Storage/Custom (real: src/PVE/Storage.pm, the
# dir_glob_foreach over /usr/share/perl5/PVE/Storage/Custom), for the
# named modules: each one in an eval of its own (require, derived from
# PVE::Storage::Plugin, api() within APIVER-APIAGE..APIVER, register());
# a failure there is a warning and skips that plugin.  Then
# PVE::Storage::Plugin->init() over every plugin, built-in and custom,
# outside any eval: its error is everybody's.  The built-in plugins are
# those PVE::Storage registers.
sub load_custom_plugins {
    my (@modules) = @_;
    require PVE::Storage;
    for my $modname (@modules) {
        (my $file = "$modname.pm") =~ s{::}{/}g;
        eval {
            require $file;
            die "not derived from PVE::Storage::Plugin\n" if !$modname->isa('PVE::Storage::Plugin');
            die "does not provide an api() method\n" if !$modname->can('api');
            my $version = $modname->api();
            die "implements an API version newer than current ($version > " . PVE::Storage::APIVER() . ")\n"
                if $version > PVE::Storage::APIVER();
            my $min = PVE::Storage::APIVER() - PVE::Storage::APIAGE();
            die "API version too old, please update the plugin ($version < $min)\n" if $version < $min;
            $modname->register();
            warn "Plugin \"$modname\" is implementing an older storage API, an upgrade is recommended\n"
                if $version != PVE::Storage::APIVER();
        };
        warn "Error loading storage plugin \"$modname\": $@" if $@;
    }
    PVE::Storage::Plugin->init();
    return;
}

# A pve-storage that declares NAME in its base property list (as one
# with the RFC's copy-offload option would).
sub define_base_property {
    my ($name, $schema) = @_;
    require PVE::Storage;
    my $pdata = PVE::Storage::Plugin->private();
    $pdata->{'base-property-list'}{$name} = $schema if $pdata->{'base-property-list'};
    $pdata->{propertyList}{$name} = $schema;
}

# Where the storage locks live: the tests' own directory.  The real
# non-shared lock always lives in /var/lock/pve-manager (a path fixed in
# pve-storage); the real cluster lock directory (/etc/pve/priv/lock, a
# file-scoped variable of PVE::Cluster) is pointed at $dir/cfs.
sub set_lock_dir {
    my ($dir) = @_;
    $lock_dir = $dir;
    $ENV{PVE_FAKE_LOCK_DIR} = $dir;
    return if !$REAL;
    require PadWalker;
    require PVE::Cluster;
    mkdir "$dir/cfs";
    my $outer = PadWalker::closed_over(\&PVE::Cluster::cfs_lock_storage);
    my $cfs_lock = $outer->{'$cfs_lock'} or die "PVE::Cluster::cfs_lock_storage no longer uses \$cfs_lock\n";
    my $inner = PadWalker::closed_over(${$cfs_lock});
    my $ref = $inner->{'$lockdir'} or die "PVE::Cluster's \$cfs_lock no longer uses \$lockdir\n";
    $$ref = "$dir/cfs";
}

# The lock file (not shared) or lock directory (shared) of a storage.
sub lock_path {
    my ($storeid, $shared) = @_;
    return "$lock_dir/cfs/storage-$storeid" if $shared;
    return "/var/lock/pve-manager/pve-storage-$storeid" if $REAL;
    return "$lock_dir/pve-manager/pve-storage-$storeid";
}

1;
