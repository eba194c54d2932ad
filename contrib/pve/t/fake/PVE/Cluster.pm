package PVE::Cluster;

# Test double of pve-cluster's cluster-wide lock (src/PVE/Cluster.pm,
# the $cfs_lock closure behind cfs_lock_storage()), as far as a storage
# plugin can tell it apart from the real one:
#   - the lock is a directory STORAGE-lock made with mkdir (real: under
#     /etc/pve/priv/lock on pmxcfs; here under $PVE_FAKE_LOCK_DIR/cfs),
#     tried until $timeout seconds (default 10) have passed;
#   - the code then runs under alarm(60) with a SIGALRM handler that dies
#     "'storage-ID'-locked command timed out - aborting\n";
#   - an outer alarm is suspended while the lock is held and re-armed
#     after it;
#   - the result is returned, an error of the code comes back in $@ as
#     it was died with, an error of the locking itself as
#     "cfs-lock 'storage-ID' error: ...".
# Tests change nothing here: an alarm that "strikes" is a SIGALRM the
# test (or the stand-in blkclone) sends, so nothing waits 60 s.

use strict;
use warnings;

use Time::HiRes qw(alarm usleep);

sub lock_dir {
    return ($ENV{PVE_FAKE_LOCK_DIR} // ($ENV{TMPDIR} // '/tmp')) . '/cfs';
}

my $cfs_lock = sub {
    my ($lockid, $timeout, $code, @param) = @_;
    my $prev_alarm = alarm(0);
    $timeout = 10 if !$timeout;
    my $dir = lock_dir();
    my $filename = "$dir/$lockid";
    my ($res, $got_lock, $is_code_err) = (undef, 0, 0);
    eval {
        mkdir $dir;
        die "pve cluster filesystem not online.\n" if !-d $dir;
        local $SIG{ALRM} = sub { die "got lock request timeout\n" };
        alarm($timeout);
        while (!($got_lock = mkdir($filename))) {
            usleep(100_000);
        }
        # the real one's "fixed command timeout"
        local $SIG{ALRM} = sub { die "'$lockid'-locked command timed out - aborting\n" };
        alarm(60);
        $is_code_err = 1;
        $res = $code->(@param);
        alarm(0);
    };
    my $err = $@;
    alarm(0);
    rmdir $filename if $got_lock;
    alarm($prev_alarm);
    if ($err) {
        $@ = $is_code_err ? $err : "cfs-lock '$lockid' error: $err";
        return undef;
    }
    $@ = undef;
    return $res;
};

sub cfs_lock_storage {
    my ($storeid, $timeout, $code, @param) = @_;
    return $cfs_lock->("storage-$storeid", $timeout, $code, @param);
}

1;
