#!/usr/bin/perl
# The storage lock and the plugin's code under it.  pve-storage's
# cluster_lock_storage takes a flock for a local storage and pmxcfs's
# cluster lock for a shared one; the cluster lock runs the code under
# alarm(60) and aborts it with "'storage-ID'-locked command timed out"
# (pve-cluster, PVE::Cluster $cfs_lock).  pve-common's run_command keeps
# that alarm armed while a command without a timeout of its own runs,
# and with noerr swallows the abort.  An alarm "strikes" here because the
# test or the stand-in blkclone sends SIGALRM: nothing waits for 60 s.
use strict;
use warnings;
use Test::More;
use POSIX ();
use Time::HiRes qw(alarm);
use lib 't/lib', '.';
use PVEEnv;
use BlkCloneTest;
use PVE::Storage::Plugin;
use PVE::Tools;
use PVE::Storage::Custom::BlkcloneISCSIPlugin;

my $C = 'PVE::Storage::Custom::BlkcloneISCSIPlugin';
my $Pool = 'PVE::Storage::Custom::BlkClone::LunPool';
my $P = 'PVE::Storage::Plugin';
my $root = setup();
$PVE::Storage::Custom::BlkcloneISCSIPlugin::PRIV_DIR = "$root/priv";
{
    local $SIG{__WARN__} = sub { warn @_ if $_[0] !~ /older storage API/ };
    load_custom_plugins($C);
}
my $LOCKED = qr/^'storage-st'-locked command timed out - aborting$/;

# Whether another process could take the flock on $path now.
sub flock_busy {
    my ($path) = @_;
    my $pid = fork() // die "fork: $!\n";
    if (!$pid) {
        open(my $fh, '>>', $path) or POSIX::_exit(2);
        POSIX::_exit(flock($fh, 6) ? 0 : 1);    # LOCK_EX | LOCK_NB
    }
    waitpid($pid, 0);
    return ($? >> 8) == 1;
}

subtest 'not shared: a flock, no alarm' => sub {
    my $r = $P->cluster_lock_storage('lk', 0, undef, sub {
        my $left = alarm(0);
        return [$left, flock_busy(lock_path('lk', 0))];
    });
    is($r->[0], 0, 'no alarm is armed while the code runs');
    ok($r->[1], 'the storage lock file is locked meanwhile');
    ok(!flock_busy(lock_path('lk', 0)), 'and free afterwards');
    eval { $P->cluster_lock_storage('lk', 0, undef, sub { die "boom\n" }) };
    is($@, "boom\n", "the code's error comes back as it was died with");

    # another process holds the lock: after the timeout, an error
    pipe(my $r_end, my $w_end) or die;
    my $pid = fork() // die;
    if (!$pid) {
        close($r_end);
        open(my $fh, '>>', lock_path('lk', 0)) or POSIX::_exit(2);
        flock($fh, 2) or POSIX::_exit(3);
        syswrite($w_end, "locked\n");
        sleep 30;    # killed below
        POSIX::_exit(0);
    }
    close($w_end);
    my $line = <$r_end>;
    is($line, "locked\n", 'another process holds the lock');
    my $ran = 0;
    eval { $P->cluster_lock_storage('lk', 0, 1, sub { $ran = 1 }) };
    my $err = $@;
    kill('KILL', $pid);
    waitpid($pid, 0);
    is($err, "can't lock file '" . lock_path('lk', 0) . "' - got timeout\n", 'then it times out');
    ok(!$ran, 'and the code did not run');
};

subtest 'shared: the code runs under alarm(60)' => sub {
    my $r = $P->cluster_lock_storage('st', 1, undef, sub {
        my $left = alarm(0);
        alarm($left) if $left;
        my $msg = eval { $SIG{ALRM}->(); 1 } ? 'no die' : $@;
        return [$left, $msg, -d lock_path('st', 1) ? 1 : 0];
    });
    ok($r->[0] > 30 && $r->[0] <= 60, "an alarm of 60 s is armed ($r->[0] s left)");
    like($r->[1], $LOCKED, 'its handler aborts with the real message');
    ok($r->[2], 'the cluster lock is held meanwhile');
    ok(!-e lock_path('st', 1), 'and released afterwards');
    is(alarm(0), 0, 'no alarm is left behind');

    eval { $P->cluster_lock_storage('st', 1, undef, sub { kill('ALRM', $$); select(undef, undef, undef, 10); 1 }) };
    like($@, $LOCKED, "the alarm striking in the code: the locked call dies with that message");
    eval { $P->cluster_lock_storage('st', 1, undef, sub { die "boom\n" }) };
    is($@, "boom\n", "the code's error comes back as it was died with");
    is($P->cluster_lock_storage('st', 1, undef, sub { return (7, 8, 9) }), 9, 'the code runs in scalar context');

    local $SIG{ALRM} = sub { die "outer alarm\n" };
    alarm(300);
    $P->cluster_lock_storage('st', 1, undef, sub { 1 });
    my $left = alarm(0);
    ok($left > 200 && $left <= 300, "an outer alarm is re-armed after the lock ($left s left)");
};

fake_blkclone();
my $fake = $ENV{FAKE_BLKCLONE_BIN};

subtest "run_command and the lock's alarm" => sub {
    local $SIG{ALRM} = sub { die "'storage-st'-locked command timed out - aborting\n" };

    # a timeout of its own: the outer alarm is re-armed afterwards
    alarm(60);
    PVE::Tools::run_command([$fake, 'probe', '--json', 'iscsi://h/t/1'], timeout => 30, noerr => 1,
        outfunc => sub { }, errfunc => sub { });
    my $left = alarm(0);
    ok($left > 30 && $left <= 60, "with a timeout: the lock's alarm is re-armed after the command ($left s left)");

    # no timeout: the alarm stays armed while it runs and is gone after
    alarm(60);
    PVE::Tools::run_command([$fake, 'probe', '--json', 'iscsi://h/t/1'], noerr => 1,
        outfunc => sub { }, errfunc => sub { });
    is(alarm(0), 0, 'without a timeout: run_command cancels the alarm when it returns');

    # the alarm strikes while a command without a timeout runs
    write_file("$root/fake/zero-9.alarm", '');
    alarm(60);
    my $rc = PVE::Tools::run_command([$fake, 'zero', '--json', 'iscsi://h/t/9'], noerr => 1,
        outfunc => sub { }, errfunc => sub { });
    alarm(0);
    is($rc, -1, 'with noerr the abort is swallowed: run_command returns -1');
    my $pid = fake_log()->[-1]{pid};
    ok(kill(0, $pid), 'and the command goes on running (neither killed nor waited for)');
    write_file("$root/fake/zero-9.release", '');
    waitpid($pid, 0);
    unlink "$root/fake/zero-9.alarm", "$root/fake/zero-9.release";
};

# The plugin's own calls: record, for every blkclone run, the alarm
# armed when it started and after it returned, and whose SIGALRM handler
# was in place.
my @runs;
{
    no warnings qw(redefine once);
    my $orig = \&PVE::Storage::Custom::BlkClone::Exec::run_command;
    *PVE::Storage::Custom::BlkClone::Exec::run_command = sub {
        my ($cmd, %param) = @_;
        my $before = alarm(0);
        alarm($before) if $before;
        my $handler = ref($SIG{ALRM}) eq 'CODE' ? (eval { $SIG{ALRM}->(); 1 } ? 'no die' : $@) : 'none';
        chomp $handler;
        my @res = $orig->(@_);
        my $after = alarm(0);
        alarm($after) if $after;
        push @runs, { sub => $cmd->[1], timeout => $param{timeout}, before => $before, after => $after,
            handler => $handler };
        return $res[0];
    };
}
my $scfg = { type => 'blkcloneiscsi', portal => '127.0.0.1:3260', target => 'iqn.2026-11.test:a',
    luns => '1-4', shared => 1 };
sub own { $Pool->can('save')->('st', {@_}) }
sub describe { join(', ', map { "$_->{sub}" . ($_->{before} ? ' (under the alarm)' : '') } @_) }

subtest 'alloc_image under the lock, as vdisk_alloc calls it' => sub {
    fake_blkclone();
    write_file("$root/fake/size-2", 8388608);
    own(1 => { volname => 'vm-100-lun1', vmid => 100, size => 16777216 });
    @runs = ();
    my $vol = $C->cluster_lock_storage('st', 1, undef, sub {
        return $C->alloc_image('st', $scfg, 300, 'raw', undef, 10 * 1024);
    });
    is($vol, 'vm-300-lun3', 'allocated');
    ok(@runs >= 2, 'blkclone ran under the lock: ' . describe(@runs));
    ok(!grep({ !$_->{before} } @runs), 'every run saw the armed alarm');
    ok(!grep({ !defined $_->{timeout} } @runs), 'each with a timeout of its own');
    ok(!grep({ !$_->{after} } @runs), 'and the alarm was still armed after each');
    ok(!grep({ $_->{handler} !~ $LOCKED } @runs), "the lock's SIGALRM handler stayed in place (the plugin sets none)");
};

subtest 'copy_image: no unbounded blkclone run under the alarm' => sub {
    fake_blkclone();
    own(1 => { volname => 'vm-100-lun1', vmid => 100, size => 16777216 });
    fake_answer('copy', exit => 1, err => "blkclone: EXTENDED COPY at LBA 8: COPY ABORTED\n");
    @runs = ();
    my ($out, $err) = capture(sub { $C->copy_image($scfg, 'st', 'vm-100-lun1', 200, 'raw', {}) });
    like($err, qr/failed part-way .* st:vm-200-lun2 was freed \(zeroed\)$/m, 'the failed copy was zeroed and freed');
    my @zero = grep { $_->{sub} eq 'zero' } @runs;
    is(scalar @zero, 1, 'one zero run');
    my @bad = grep { !defined $_->{timeout} && $_->{before} } @runs;
    is(describe(@bad), '', 'copy and zero (no time limit) ran outside the cluster lock: ' . describe(@runs));
    ok(!exists $Pool->can('load')->('st')->{2}, 'LUN 2 is free again');
};

subtest 'free_image under the lock, as vdisk_free calls it, when the alarm strikes' => sub {
    fake_blkclone();
    own(1 => { volname => 'vm-100-lun1', vmid => 100, size => 16777216 },
        3 => { volname => 'vm-300-lun3', vmid => 300, size => 16777216 });
    write_file("$root/fake/zero-3.alarm", '');
    @runs = ();
    eval {
        $C->cluster_lock_storage('st', 1, undef, sub { return $C->free_image('st', $scfg, 'vm-300-lun3', 0, 'raw') });
    };
    chomp(my $err = $@);
    my $pid = (grep { $_->{argv}[0] eq 'zero' } @{ fake_log() })[-1]{pid};
    like($err, qr/^blkclone zero of \S+\/3 failed \(exit -1\)/, "free_image fails: $err");
    is($Pool->can('load')->('st')->{3}{volname}, 'vm-300-lun3',
        'the LUN stays assigned: it is never handed out before it reads zeros');
    ok($pid && kill(0, $pid), 'the zeroing goes on running after the abort');
    write_file("$root/fake/zero-3.release", '');
    waitpid($pid, 0) if $pid;
    TODO: {
        local $TODO = 'free_image zeroes under the lock (PVE calls it there); a big LUN outlasts the 60 s alarm.'
            . ' It could return a cleanup worker, as LVM with saferemove does';
        ok(!grep({ $_->{sub} eq 'zero' && $_->{before} } @runs), 'no zeroing under the alarm');
    }
};

done_testing();
