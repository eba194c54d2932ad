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
        push @runs, { sub => $cmd->[1] eq 'job' ? "job $cmd->[2]" : $cmd->[1], timeout => $param{timeout}, before => $before, after => $after,
            handler => $handler };
        return $res[0];
    };
}
my $scfg = { type => 'blkcloneiscsi', portal => '127.0.0.1:3260', target => 'iqn.2026-11.test:a',
    'blkclone-luns' => '1-4', shared => 1 };
my $ID = '00000000000000aa';
sub own { $Pool->can('save')->('st', {@_}) }
sub describe { join(', ', map { "$_->{sub}" . ($_->{before} ? ' (under the alarm)' : '') } @_) }
my %vm100 = (1 => { volname => 'vm-100-disk-0', vmid => 100, size => 16777216 });

subtest 'alloc_image under the lock, as vdisk_alloc calls it' => sub {
    fake_blkclone();
    write_file("$root/fake/size-2", 8388608);
    own(%vm100);
    @runs = ();
    my $vol = $C->cluster_lock_storage('st', 1, undef, sub {
        return $C->alloc_image('st', $scfg, 300, 'raw', undef, 10 * 1024);
    });
    is($vol, 'vm-300-disk-0', 'allocated');
    ok(@runs >= 2, 'blkclone ran under the lock: ' . describe(@runs));
    ok(!grep({ !$_->{before} } @runs), 'every run saw the armed alarm');
    ok(!grep({ !defined $_->{timeout} } @runs), 'each with a timeout of its own');
    ok(!grep({ !$_->{after} } @runs), 'and the alarm was still armed after each');
    ok(!grep({ $_->{handler} !~ $LOCKED } @runs), "the lock's SIGALRM handler stayed in place (the plugin sets none)");
    @runs = ();
    $C->cluster_lock_storage('st', 1, undef, sub { $C->alloc_image('st', $scfg, 301, 'raw', undef, 1024) });
    is(describe(@runs), '', 'a second allocation within the size cache time runs no blkclone at all');
};

subtest 'copy offload: bounded runs only, and none of the copying under the lock' => sub {
    fake_blkclone();
    own(%vm100);
    fake_answer('job-start', out => qq({"schema":1,"id":"$ID","state":"running","consistency":"bulk","pairs":[{"method":"xcopy-lid1"}]}));
    fake_answer('job-status', out => qq({"schema":1,"id":"$ID","state":"failed","error":"EXTENDED COPY at LBA 8: COPY ABORTED","pairs":[]}));
    @runs = ();
    my $tvol = $C->cluster_lock_storage('st', 1, undef, sub {
        $C->copy_image_prepare($scfg, 'st', 'vm-100-disk-0', $scfg, 'st', 200, undef, {});
    });
    ok(!grep({ !defined $_->{timeout} } @runs), 'prepare (under the lock): every run bounded: ' . describe(@runs));
    @runs = ();
    capture(sub { $C->copy_image_start($scfg, 'st', 'vm-100-disk-0', $scfg, 'st', $tvol, undef) });
    eval { $C->copy_image_status($scfg, 'st', $tvol, undef) };
    like($@, qr/COPY ABORTED/, 'the job failed');
    is(describe(grep { $_->{before} } @runs), '', 'start and status ran outside the lock');
    ok(!grep({ !defined $_->{timeout} } @runs), 'each bounded (the copy itself runs detached): ' . describe(@runs));

    @runs = ();
    my ($out, $err) = capture(sub { $C->copy_image($scfg, 'st', 'vm-100-disk-0', 201, 'raw', {}) });
    like($err, qr/COPY ABORTED; st:vm-201-disk-0 was freed \(zeroed\)$/m, 'copy_image: the failed target was zeroed and freed');
    my @zero = grep { $_->{sub} eq 'zero' } @runs;
    is(scalar @zero, 1, 'one zero run');
    my @bad = grep { !defined $_->{timeout} && $_->{before} } @runs;
    is(describe(@bad), '', 'zero (no time limit) ran outside the cluster lock: ' . describe(@runs));
};

subtest 'free_image under the lock, as vdisk_free calls it: the zeroing is a cleanup worker' => sub {
    fake_blkclone();
    own(%vm100, 3 => { volname => 'vm-300-disk-0', vmid => 300, size => 16777216 });
    @runs = ();
    my $worker = $C->cluster_lock_storage('st', 1, undef, sub { return $C->free_image('st', $scfg, 'vm-300-disk-0', 0, 'raw') });
    is(ref($worker), 'CODE', 'free_image returns a cleanup worker (vdisk_free forks it outside the lock)');
    ok(!grep({ $_->{sub} eq 'zero' } @runs), 'no zeroing under the alarm: ' . describe(@runs));
    is($Pool->can('load')->('st')->{3}{state}, 'freeing', 'the LUN is marked as being freed');
    eval { $C->cluster_lock_storage('st', 1, undef, sub { $C->alloc_image('st', $scfg, 301, 'raw', 'vm-301-disk-0', 1024) }) };
    unlike($@ // '', qr/./, 'an allocation meanwhile works');
    isnt($Pool->can('load')->('st')->{3}{volname}, 'vm-301-disk-0', 'but is not handed the LUN being zeroed');

    @runs = ();
    my ($out, $err) = capture($worker);
    is($err, '', 'the worker runs');
    my @zero = grep { $_->{sub} eq 'zero' } @runs;
    is(scalar @zero, 1, 'it zeroes once');
    ok(!$zero[0]{before}, 'with no lock alarm armed');
    ok(!defined $zero[0]{timeout}, 'and no time limit (a large LUN takes as long as it takes)');
    ok(!exists $Pool->can('load')->('st')->{3}, 'then gives the LUN back, under the lock');
    ok(!-e lock_path('st', 1), 'and releases the lock');

    # a zeroing that fails keeps the LUN out of the pool
    own(%vm100, 3 => { volname => 'vm-300-disk-0', vmid => 300, size => 16777216 });
    fake_answer('zero', exit => 1, err => "blkclone: WRITE SAME failed\n");
    $worker = $C->cluster_lock_storage('st', 1, undef, sub { return $C->free_image('st', $scfg, 'vm-300-disk-0', 0, 'raw') });
    ($out, $err) = capture($worker);
    like($err, qr/blkclone zero of \S+\/3 failed \(exit 1\): WRITE SAME failed/, 'a failed zeroing fails the worker');
    is($Pool->can('load')->('st')->{3}{state}, 'freeing', 'the LUN stays out of the pool: never handed out with data on it');
};

done_testing();
