package PVE::Storage::Plugin;

# Test double of pve-storage's base class: only what the blkclone plugin
# uses, with the checks PVE's SectionConfig makes when it registers a
# plugin (a property is declared once, over all plugins; an option must
# name a declared property), so a plugin that loads here loads there.

use strict;
use warnings;
use Fcntl qw(:flock);

# Properties pve-storage's own plugins declare (iscsi: portal, target;
# cifs/pbs: username, password; the base: the rest).
my $defaultData = {
    propertyList => {
        map { $_ => { type => 'string' } }
            qw(type storage nodes content disable shared portal target username password),
    },
    plugins => {},
};

# Tests that simulate a pve-storage which already has the RFC's option.
sub define_property {
    my ($name, $schema) = @_;
    $defaultData->{propertyList}{$name} = $schema;
}

sub private { return $defaultData; }

# register($plugin_class): SectionConfig's checks; returns the plugin's
# options.  Dies like PVE does.
sub register {
    my ($class, $plugin) = @_;
    my $type = $plugin->type();
    die "duplicate plugin type '$type'\n" if $defaultData->{plugins}{$type};
    my $props = $plugin->properties();
    for my $p (keys %$props) {
        die "duplicate property '$p'\n" if $defaultData->{propertyList}{$p};
    }
    $defaultData->{propertyList}{$_} = $props->{$_} for keys %$props;
    my $opts = $plugin->options();
    for my $o (keys %$opts) {
        die "undefined property '$o' in options of '$type'\n"
            if !$defaultData->{propertyList}{$o};
    }
    $defaultData->{plugins}{$type} = $plugin;
    return $opts;
}

# pve-storage takes a cluster-wide lock for shared storage; a local
# flock keeps the same "one at a time" here.
sub cluster_lock_storage {
    my ($class, $storeid, $shared, $timeout, $func, @param) = @_;
    my $dir = $ENV{PVE_FAKE_LOCK_DIR} // ($ENV{TMPDIR} // '/tmp');
    my $path = "$dir/pve-fake-storage-$storeid.lock";
    open(my $fh, '>>', $path) or die "cannot open lock file $path: $!\n";
    flock($fh, LOCK_EX) or die "cannot lock $path: $!\n";
    my @res = wantarray ? $func->(@param) : scalar $func->(@param);
    close($fh);
    return wantarray ? @res : $res[0];
}

sub filesystem_path {
    my ($class, $scfg, $volname, $snapname) = @_;
    my ($path) = $class->path($scfg, $volname, undef, $snapname);
    return $path;
}

1;
