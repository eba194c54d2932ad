package PVE::Storage::Custom::BlkClone::LVMJobs;

# The shared-LVM plugin's side of "blkclone job": starting one job for
# the disks of a guest, reading a job's state, cancelling it, and the
# small record that ties a target volume to its job between the calls
# PVE makes (copy_image_start, then copy_image_status polled every
# second, or free_image on rollback).
#
# A job is a process of the node that started it, so its record is
# node-local and root-only ($STATE_DIR/STOREID/VOLNAME.json), never on
# the cluster filesystem.  The directory and the files are checked
# before use: a directory that is a link, not ours, or writable by others
# is refused, and records are opened without following links.

use strict;
use warnings;

use Fcntl qw(O_RDONLY O_NOFOLLOW);
use JSON::PP;

use PVE::Storage::Custom::BlkClone::Exec;

# Tests point this elsewhere.
our $STATE_DIR = '/var/lib/blkclone/pve-lvm';

# job start returns once every pair's point in time is fixed (EXTENDED
# COPY: planned and accepted); status and cancel only read or signal.
my $START_TIMEOUT = 120;
my $STATUS_TIMEOUT = 30;
my $CANCEL_TIMEOUT = 30;

my $ID_RE = qr/^[0-9a-f]{16}$/;

sub check_dir {
    my ($dir) = @_;
    my @st = lstat($dir) or die "cannot use $dir: $!\n";
    die "$dir is not a directory (a link or a file): refused\n" if !-d _ || -l $dir;
    die "$dir belongs to uid $st[4], not to us: refused\n" if $st[4] != $>;
    die sprintf("%s is writable by others (mode %04o): refused\n", $dir, $st[2] & 07777)
        if $st[2] & 022;
    return;
}

sub ensure_dir {
    my ($dir) = @_;
    if (!-e $dir && !-l $dir) {
        mkdir($dir, 0700) or $!{EEXIST} or die "cannot create $dir: $!\n";
    }
    check_dir($dir);
    return;
}

sub record_path {
    my ($storeid, $volname, $create) = @_;
    die "invalid storage id '$storeid'\n" if $storeid !~ /^[a-z][a-z0-9\-_.]*$/i;
    die "invalid volume name '$volname'\n" if $volname !~ /^[a-z0-9][a-z0-9\-_.+]*$/i;
    if ($create) {
        (my $parent = $STATE_DIR) =~ s{/[^/]+/?$}{};
        ensure_dir($parent) if $parent ne '' && !-d $parent;
        ensure_dir($STATE_DIR);
        ensure_dir("$STATE_DIR/$storeid");
    }
    return "$STATE_DIR/$storeid/$volname.json";
}

# load($storeid, $volname): the record, or undef when there is none.
sub load {
    my ($storeid, $volname) = @_;
    my $path = record_path($storeid, $volname);
    return undef if !-e $path && !-l $path;
    check_dir($STATE_DIR);
    check_dir("$STATE_DIR/$storeid");
    sysopen(my $fh, $path, O_RDONLY | O_NOFOLLOW) or die "cannot read $path: $!\n";
    my @st = stat($fh);
    die "$path is not a regular file of ours: refused\n" if !-f _ || $st[4] != $>;
    die "$path is too large to be a job record\n" if $st[7] > 65536;
    local $/;
    my $text = <$fh>;
    close($fh);
    my $rec = eval { JSON::PP->new->decode($text) };
    die "$path is not a job record: " . ($@ || "not an object\n") if ref($rec) ne 'HASH';
    die "$path: no state\n" if ($rec->{state} // '') !~ /^(prepared|started)$/;
    die "$path: job id '" . ($rec->{job} // '') . "' is malformed\n"
        if $rec->{state} eq 'started' && ($rec->{job} // '') !~ $ID_RE;
    return $rec;
}

# save($storeid, $volname, $rec): replace the record in one rename.
sub save {
    my ($storeid, $volname, $rec) = @_;
    my $path = record_path($storeid, $volname, 1);
    my $tmp = "$path.tmp.$$";
    unlink $tmp;
    my $old = umask(0077);
    my $ok = open(my $fh, '>', $tmp);
    umask($old);
    die "cannot write $tmp: $!\n" if !$ok;
    print $fh JSON::PP->new->canonical->encode($rec) or die "cannot write $tmp: $!\n";
    close($fh) or die "cannot write $tmp: $!\n";
    rename($tmp, $path) or do { my $e = $!; unlink $tmp; die "cannot replace $path: $e\n" };
    return;
}

sub remove {
    my ($storeid, $volname) = @_;
    my $path = record_path($storeid, $volname);
    unlink($path) or $!{ENOENT} or die "cannot remove $path: $!\n";
    return;
}

# Whether any record of $storeid still names job $id.
sub job_referenced {
    my ($storeid, $id) = @_;
    my $dir = "$STATE_DIR/$storeid";
    opendir(my $dh, $dir) or return 0;
    my @names = grep { /^([a-z0-9][a-z0-9\-_.+]*)\.json$/i } readdir($dh);
    closedir($dh);
    for my $f (@names) {
        (my $vol = $f) =~ s/\.json$//;
        my $rec = eval { load($storeid, $vol) } or next;
        return 1 if ($rec->{job} // '') eq $id;
    }
    return 0;
}

sub check_id {
    my ($id) = @_;
    die "blkclone job id '" . ($id // '') . "' is malformed\n" if ($id // '') !~ $ID_RE;
    return $id;
}

# The job commands are Exec's, shared with the iSCSI plugin; these only
# bound how long each may take here.

# start(\@pairs, offload => 'require', stall_timeout => N): one job for
# every [SRC, DST] pair; the decoded "job start --json" object once it
# names exactly these pairs, or dies with blkclone's message.  Exit 3 (no
# offload) and 2 (refused) leave no job behind.
sub start {
    my ($pairs, %o) = @_;
    my $mode = $o{offload} // 'require';
    my $obj = PVE::Storage::Custom::BlkClone::Exec::job_start($pairs,
        offload => $mode, stall_timeout => $o{stall_timeout}, timeout => $START_TIMEOUT);
    # the job must be the one asked for: these LVs (paths hold no secret,
    # so blkclone echoes them as given), in this order, and none on the
    # host when the array was required
    for my $i (0 .. $#$pairs) {
        my $p = $obj->{pairs}[$i];
        die "blkclone job start: pair $i is not $pairs->[$i][0] -> $pairs->[$i][1]\n"
            if ref($p) ne 'HASH' || ($p->{source} // '') ne $pairs->[$i][0]
            || ($p->{destination} // '') ne $pairs->[$i][1];
        my $m = $p->{method} // '';
        die "blkclone job start: pair $i runs as '$m' under --offload=require\n"
            if $mode eq 'require' && ($m eq '' || $m eq 'host');
    }
    return $obj;
}

# status($id): the decoded "job status --json" object, or die.
sub status {
    my ($id) = @_;
    check_id($id);
    return PVE::Storage::Custom::BlkClone::Exec::job_status($id, timeout => $STATUS_TIMEOUT);
}

# cancel($id): stop the job and wait for it (cancelling an ended job is
# not an error); dies when it could not be stopped.
sub cancel {
    my ($id) = @_;
    check_id($id);
    return PVE::Storage::Custom::BlkClone::Exec::job_cancel($id, timeout => $CANCEL_TIMEOUT);
}

# forget($id): drop an ended job's record; a failure only warns.
sub forget {
    my ($id) = @_;
    check_id($id);
    eval { PVE::Storage::Custom::BlkClone::Exec::job_forget($id, timeout => $STATUS_TIMEOUT) };
    warn $@ if $@;
    return;
}

1;
