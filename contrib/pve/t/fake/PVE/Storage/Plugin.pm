package PVE::Storage::Plugin;

# Test double of pve-storage's base class (src/PVE/Storage/Plugin.pm):
# what the blkclone plugin uses, shaped like the real one.  It is a
# PVE::SectionConfig (registry: register() records, init() checks; see
# t/fake/PVE/SectionConfig.pm), its private() holds the base's own
# properties, and cluster_lock_storage() takes the same two locks the
# real one takes.  PVE::Storage (t/fake/PVE/Storage.pm) registers the
# built-in plugins; t/lib/PVEEnv.pm loads custom ones as pve-storage does.

use strict;
use warnings;

use PVE::Tools;
use PVE::Cluster;

use base qw(PVE::SectionConfig);

# The base's own properties (real: Plugin.pm, $defaultData->{propertyList},
# pve-storage 9.1.7).  The built-in plugins' properties are declared by
# the built-in plugins (t/fake/PVE/Storage.pm) and joined by init().
my $defaultData = {
    propertyList => {
        map { $_ => { type => 'string', optional => 1 } }
            qw(type storage nodes content disable prune-backups max-protected-backups
            shared subdir format preallocation content-dirs options port
            snapshot-as-volume-chain),
    },
};
$defaultData->{propertyList}{shared} = { type => 'boolean', optional => 1 };
$defaultData->{propertyList}{disable} = { type => 'boolean', optional => 1 };

sub private { return $defaultData; }

# real: Plugin.pm cluster_lock_storage().  Not shared: a flock on a file
# (PVE::Tools::lock_file; the real file is
# /var/lock/pve-manager/pve-storage-STOREID, here under
# $PVE_FAKE_LOCK_DIR).  Shared: the cluster-wide lock
# (PVE::Cluster::cfs_lock_storage), which runs the code under alarm(60).
# Either way the code's error comes back in $@ and is died with as it is,
# and the code runs in scalar context.
sub cluster_lock_storage {
    my ($class, $storeid, $shared, $timeout, $func, @param) = @_;
    my $res;
    if (!$shared) {
        my $dir = ($ENV{PVE_FAKE_LOCK_DIR} // ($ENV{TMPDIR} // '/tmp')) . '/pve-manager';
        mkdir $dir;
        $res = PVE::Tools::lock_file("$dir/pve-storage-$storeid", $timeout, $func, @param);
        die $@ if $@;
    } else {
        $res = PVE::Cluster::cfs_lock_storage($storeid, $timeout, $func, @param);
        die $@ if $@;
    }
    return $res;
}

sub filesystem_path {
    my ($class, $scfg, $volname, $snapname) = @_;
    my ($path) = $class->path($scfg, $volname, undef, $snapname);
    return $path;
}

1;
