package PVE::Storage::Custom::BlkClone::Local;

# Node-local state of the storage plugins, in one directory only root
# may write: short-lived caches (probe plans per pair, LUN sizes) and the
# link from a copy target to the blkclone job writing it.  Jobs run on
# the node that started them, so their links are node-local too; the
# cluster-wide LUN assignment stays in LunPool's file on /etc/pve.
#
# The directory and every file in it are checked before use: not a
# symlink, owned by us, not writable by group or others.  A cache entry
# that fails a check is ignored (and probed again); a job link that fails
# one is an error, never silently skipped.

use strict;
use warnings;

use Digest::SHA qw(sha1_hex);
use Fcntl qw(:mode);
use JSON::PP;

# Tests point this elsewhere.  /run: caches must not outlive a reboot,
# and neither do blkclone's jobs.
our $DIR = '/run/blkclone-pve';

sub check_owned {
    my ($path, $want_dir) = @_;
    my @st = lstat($path) or return "$path: $!";
    return "$path is a symlink" if S_ISLNK($st[2]);
    return "$path is not a " . ($want_dir ? 'directory' : 'regular file')
        if $want_dir ? !S_ISDIR($st[2]) : !S_ISREG($st[2]);
    return "$path is owned by uid $st[4], not $>" if $st[4] != $>;
    return sprintf("%s is writable by group or others (mode %04o)", $path, $st[2] & 07777)
        if $st[2] & 022;
    return undef;
}

# dir(): the checked state directory, created 0700 when absent.
sub dir {
    if (!-e $DIR && !-l $DIR) {
        mkdir($DIR, 0700) or $!{EEXIST} or die "cannot create $DIR: $!\n";
    }
    my $bad = check_owned($DIR, 1);
    die "unsafe plugin state directory: $bad\n" if $bad;
    return $DIR;
}

sub read_json {
    my ($name) = @_;
    my $path = dir() . "/$name";
    return undef if !-e $path && !-l $path;
    my $bad = check_owned($path, 0);
    die "unsafe plugin state file: $bad\n" if $bad;
    open(my $fh, '<', $path) or do { return undef if $!{ENOENT}; die "cannot read $path: $!\n" };
    local $/;
    my $text = <$fh>;
    close($fh);
    my $obj = eval { JSON::PP->new->decode($text) };
    die "$path is not valid JSON\n" if ref($obj) ne 'HASH';
    return $obj;
}

# write_json(NAME, OBJ): replaced whole (write, then rename).
sub write_json {
    my ($name, $obj) = @_;
    my $path = dir() . "/$name";
    my $tmp = "$path.tmp.$$";
    my $old = umask(0077);
    my $ok = open(my $fh, '>', $tmp);
    umask($old);
    die "cannot write $tmp: $!\n" if !$ok;
    print $fh JSON::PP->new->canonical->encode($obj) or die "cannot write $tmp: $!\n";
    close($fh) or die "cannot write $tmp: $!\n";
    rename($tmp, $path) or do { my $e = $!; unlink $tmp; die "cannot replace $path: $e\n" };
    return;
}

sub remove {
    my ($name) = @_;
    unlink(dir() . "/$name");
    return;
}

sub cache_name { return 'cache-' . sha1_hex($_[0]) . '.json'; }

# cache_get(KEY, TTL): the value stored for KEY less than TTL seconds
# ago, as [value] (the value may be undef: "known absent"), else undef.
sub cache_get {
    my ($key, $ttl) = @_;
    my $e = eval { read_json(cache_name($key)) };
    return undef if !$e || ($e->{key} // '') ne $key || ref($e->{at}) || !defined $e->{at};
    my $age = time() - $e->{at};
    return undef if $age < 0 || $age >= $ttl;
    return [$e->{value}];
}

sub cache_put {
    my ($key, $value) = @_;
    eval { write_json(cache_name($key), { key => $key, at => time(), value => $value }) };
    warn "blkclone plugin cache: $@" if $@;
    return;
}

sub cache_drop {
    my ($key) = @_;
    eval { remove(cache_name($key)) };
    return;
}

# The job writing a copy target: job-STOREID-VOLNAME.json.
sub job_link_name {
    my ($storeid, $volname) = @_;
    die "invalid storage id '$storeid'\n" if $storeid !~ /^[A-Za-z][A-Za-z0-9\-_.]*$/;
    die "invalid volume name '$volname'\n" if $volname !~ /^[A-Za-z0-9][A-Za-z0-9\-_.]*$/;
    return "job-$storeid-$volname.json";
}

sub job_link_get { return read_json(job_link_name(@_)); }

sub job_link_put {
    my ($storeid, $volname, $link) = @_;
    write_json(job_link_name($storeid, $volname), $link);
}

sub job_link_remove { remove(job_link_name(@_)); }

# Whether any job link still names job ID.
sub job_linked {
    my ($id) = @_;
    for my $f (glob(dir() . '/job-*.json')) {
        my ($name) = $f =~ m{/([^/]+)$};
        my $l = eval { read_json($name) };
        return 1 if $l && ($l->{id} // '') eq $id;
    }
    return 0;
}

1;
