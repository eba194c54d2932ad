#!/usr/bin/perl
# The shared-LVM plugin and the storage lock.  pve-storage runs
# copy_image_prepare and free_image under cluster_lock_storage, which for
# a shared storage is pmxcfs's lock: the code runs under alarm(60) and is
# aborted with "'storage-ID'-locked command timed out" (pve-cluster).
# Whatever the plugin runs there must end on its own well before that
# (a timeout of its own); a zeroing or a copy never runs there.  An alarm
# "strikes" here because the stand-in blkclone sends SIGALRM to its
# parent (CMD.alarm): nothing waits 60 s.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(alarm);
use lib 't/lib', '.';
use PVEEnv;
use FakeLVM;
use LVMTest;
use PVE::Storage::Plugin;

LVMTest::setup();

subtest 'under the lock: bounded runs only' => sub {
    fresh();
    my $t = prepare('vm-100-disk-0', 200);
    $C->copy_image_start($scfg, 'san', 'vm-100-disk-0', $scfg, 'san', $t, undef);
    FakeLVM::add_lv('pvevg', 'vm-300-disk-0', 16 << 20);
    @FakeLVM::LOG = ();
    my @workers = map { my $v = $_; locked(sub { $C->free_image('san', $scfg, $v, 0, 'raw') }) } $t, 'vm-300-disk-0';
    my @under = grep { $_->{alarm} && !$_->{fake} } @FakeLVM::LOG;
    is(describe(grep { !defined $_->{timeout} } @under), '', 'every blkclone run under the alarm has its own timeout: '
        . describe(@under));
    ok(!grep({ $_->{prog} =~ /^(zero|job start)$/ } @under), 'no zeroing and no copy under the lock');
    @FakeLVM::LOG = ();
    capture_out($_) for @workers;
    ok(!grep({ $_->{alarm} && $_->{prog} eq 'zero' } @FakeLVM::LOG), 'the zeroing ran after the lock, in the workers');
};

subtest 'a job that cannot be cancelled: the LV is kept' => sub {
    fresh();
    my $t = prepare('vm-100-disk-0', 200);
    $C->copy_image_start($scfg, 'san', 'vm-100-disk-0', $scfg, 'san', $t, undef);
    spit("$root/fake/job-cancel.exit", 1);
    spit("$root/fake/job-cancel.err", "blkclone: job 000000000b10c001: pid 4242 is not the job's process: refused\n");
    my $w = eval { locked(sub { $C->free_image('san', $scfg, $t, 0, 'raw') }) };
    like($@, qr/^blkclone job cancel [0-9a-f]{16} failed \(exit 1\): job 000000000b10c001: pid 4242 is not the job's process: refused$/,
        "free_image dies with blkclone's words");
    ok($FakeLVM::VG{pvevg}{lvs}{$t}, 'the LV is neither removed nor renamed (a job may still write to it)');
    is(record($t)->{state}, 'started', 'the record stays: a retry cancels again');
    unlink "$root/fake/job-cancel.exit";
    $w = locked(sub { $C->free_image('san', $scfg, $t, 0, 'raw') });
    ok(!$FakeLVM::VG{pvevg}{lvs}{$t} && $FakeLVM::VG{pvevg}{lvs}{"del-$t"}, 'the retry frees it');
};

subtest "the lock's alarm strikes while the cancel runs" => sub {
    fresh();
    my $t = prepare('vm-100-disk-0', 200);
    $C->copy_image_start($scfg, 'san', 'vm-100-disk-0', $scfg, 'san', $t, undef);
    spit("$root/fake/job-cancel.alarm", '');
    my $w = eval { locked(sub { $C->free_image('san', $scfg, $t, 0, 'raw') }) };
    chomp(my $err = $@);
    unlink "$root/fake/job-cancel.alarm";
    like($err, qr/^blkclone job cancel [0-9a-f]{16} failed \(exit -1\): .*got timeout$/, "free_image fails: $err");
    ok($FakeLVM::VG{pvevg}{lvs}{$t}, 'and the LV is kept');
    is(alarm(0), 0, 'no alarm is left armed');
};

subtest "the lock's alarm strikes during prepare's probe" => sub {
    fresh();
    spit("$root/fake/probe.alarm", '');
    my $t = eval { prepare('vm-100-disk-0', 200) };
    chomp(my $err = $@);
    unlink "$root/fake/probe.alarm";
    like($err, qr/^copy offload unavailable .*got timeout/, "prepare fails: $err");
    ok(!$FakeLVM::VG{pvevg}{lvs}{'vm-200-disk-0'}, 'the target it created is removed again');
    ok(!record('vm-200-disk-0'), 'no record');
};

subtest 'status (pvestatd, every cycle): no blkclone at all' => sub {
    fresh();
    @FakeLVM::LOG = ();
    my @st = $C->status('san', $scfg, {});
    ok($st[0] > 0, "the VG's size ($st[0])");
    is(describe(blkclone_runs()), '', 'no probe per cycle');
};

done_testing();
