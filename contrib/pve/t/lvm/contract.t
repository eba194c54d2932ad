#!/usr/bin/perl
# The shared-LVM plugin's copy-offload contract (pve-storage fork, API
# 16) end to end, against PVE's LVM plugin (the double, or the real one
# with PVE_STORAGE_SRC) over an in-memory volume group (t/lib/FakeLVM.pm)
# and a stand-in blkclone with a job store (t/bin/fake-blkclone-jobs).
# Each call is made as pve-storage makes it: prepare and free under the
# storage's cluster lock (alarm(60)), start and status without a lock,
# and the saferemove worker after the lock.
use strict;
use warnings;
use Test::More;
use lib 't/lib', '.';
use PVEEnv;
use FakeLVM;
use LVMTest;
use PVE::Storage::Plugin;

my @warnings = LVMTest::setup();
is("@warnings", '', 'loads as pve-storage loads a custom plugin');

subtest 'what it declares' => sub {
    my $apiver = PVE::Storage::APIVER();
    is($C->api(), $apiver < 16 ? $apiver : 16, "api(): the host's APIVER ($apiver) capped at 16");
    is($C->type(), 'blkclonelvm', 'a type of its own');
    is_deeply($C->properties(), {}, 'declares no property (names are global)');
    my $base = PVE::Storage::Plugin->private()->{'base-property-list'} // {};
    is(!!$C->options()->{'copy-offload'}, !!$base->{'copy-offload'},
        'lists copy-offload exactly when the base defines it');
    ok($C->isa('PVE::Storage::LVMPlugin'), "subclasses PVE's LVM plugin");
};

subtest 'prepare: the base class creates the target, under the lock' => sub {
    fresh();
    my $t = prepare('vm-100-disk-0', 200);
    is($t, 'vm-200-disk-0', "PVE's own disk name");
    is($FakeLVM::VG{pvevg}{lvs}{$t}{size}, 16 << 20, 'an LV of the source size');
    like($FakeLVM::VG{pvevg}{lvs}{$t}{tags}, qr/pve-vm-200/, "with PVE's owner tag (the base's lvcreate)");
    my @lvc = FakeLVM::runs('lvcreate');
    is(scalar @lvc, 1, 'one lvcreate');
    ok($lvc[0]{alarm} > 0, 'under the cluster lock');
    my @probe = grep { $_->{prog} eq 'probe' } blkclone_runs();
    is(scalar @probe, 1, 'one pair probe');
    is_deeply([@{ $probe[0]{cmd} }[1 .. 5]], ['probe', '--json', '--offload=require',
        '/dev/pvevg/vm-100-disk-0', '/dev/pvevg/vm-200-disk-0'], 'probe --offload=require SRC DST');
    is(describe(grep { $_->{alarm} && !$_->{timeout} } blkclone_runs()), '',
        'every blkclone run under the alarm has a timeout of its own');
    is(record($t)->{state}, 'prepared', 'the target is recorded as prepared');
};

subtest 'prepare: no in-array method for the pair' => sub {
    fresh();
    spit("$root/fake/plan.json", '{"method":null,"steps":[{"method":"xcopy-lid1","usable":false,'
        . '"reason":"two LUs on different targets"}]}');
    my $r = eval { prepare('vm-100-disk-0', 200) };
    like($@, qr/^copy offload unavailable from san:vm-100-disk-0 to san:vm-200-disk-0: xcopy-lid1: two LUs on different targets$/,
        "dies with blkclone's reason");
    ok(!$FakeLVM::VG{pvevg}{lvs}{'vm-200-disk-0'}, 'the target LV is removed again');
    ok(!record('vm-200-disk-0'), 'no record left');
};

subtest 'refusals before anything is created' => sub {
    fresh();
    for ([undef, { format => 'qcow2' }, qr/cannot produce format 'qcow2'/],
         ['snap1', { format => 'raw' }, qr/cannot copy from a snapshot/]) {
        my ($snap, $o, $re) = @$_;
        eval { locked(sub { $C->copy_image_prepare($scfg, 'san', 'vm-100-disk-0', $scfg, 'san', 200, $snap, $o) }) };
        like($@, $re, "refused: $re");
    }
    eval { prepare('vm-100-disk-7', 200) };
    like($@, qr{logical volume 'pvevg/vm-100-disk-7' does not exist}, 'a missing source');
    is(scalar(FakeLVM::runs('lvcreate')), 0, 'nothing was created');
};

subtest 'start and status: one job, progress, complete' => sub {
    fresh();
    my $t = prepare('vm-100-disk-0', 200);
    @FakeLVM::LOG = ();
    $C->copy_image_start($scfg, 'san', 'vm-100-disk-0', $scfg, 'san', $t, undef);
    my @start = grep { $_->{prog} eq 'job start' } blkclone_runs();
    is(scalar @start, 1, 'one job start');
    is_deeply([@{ $start[0]{cmd} }[1 .. 6]], ['job', 'start', '--offload=require', '--json',
        '/dev/pvevg/vm-100-disk-0', '/dev/pvevg/vm-200-disk-0'], 'job start --offload=require --json SRC DST');
    ok(defined $start[0]{timeout}, 'bounded: it returns when the point in time is fixed');
    my $rec = record($t);
    is($rec->{state}, 'started', 'the record says started');
    like($rec->{job}, qr/^[0-9a-f]{16}$/, 'with the job id');
    is($rec->{consistency}, 'bulk', 'and the consistency blkclone reported');

    is_deeply($C->copy_image_status($scfg, 'san', $t, undef), { state => 'pending', progress => 0 }, 'pending, 0%');
    set_job($rec->{job}, sub { $_[0]{pairs}[0]{bytes_done} = 8 << 20 });
    is_deeply($C->copy_image_status($scfg, 'san', $t, undef), { state => 'pending', progress => 50 }, 'pending, 50%');
    set_job($rec->{job}, sub { $_[0]{pairs}[0]{bytes_done} = 16 << 20 });
    is($C->copy_image_status($scfg, 'san', $t, undef)->{state}, 'pending',
        'all bytes but the pair not finished: still pending');
    set_job($rec->{job}, sub { my $r = shift; $r->{state} = 'complete'; $r->{pairs}[0]{exit_code} = 0; $r->{exit_code} = 0 });
    is_deeply($C->copy_image_status($scfg, 'san', $t, undef), { state => 'complete', progress => 100 }, 'complete');
    ok(!record($t), 'the record is gone');
    ok(!-e "$root/fake/jobs/$rec->{job}.json", 'and the ended job forgotten');
    eval { $C->copy_image_status($scfg, 'san', $t, undef) };
    like($@, qr/no offloaded copy onto san:vm-200-disk-0/, 'a later status call: nothing known');
};

subtest 'status of a failed job dies with blkclone\'s message' => sub {
    fresh();
    my $t = prepare('vm-100-disk-0', 200);
    $C->copy_image_start($scfg, 'san', 'vm-100-disk-0', $scfg, 'san', $t, undef);
    my $id = record($t)->{job};
    my $msg = 'EXTENDED COPY at LBA 8192 on /dev/sdb: CHECK CONDITION, COPY ABORTED';
    set_job($id, sub { my $r = shift; $r->{state} = 'failed'; $r->{error} = $msg; $r->{pairs}[0]{exit_code} = 1 });
    eval { $C->copy_image_status($scfg, 'san', $t, undef) };
    like($@, qr/^offloaded copy onto san:vm-200-disk-0 failed \(blkclone job $id\): \Q$msg\E$/, 'dies with it');
    set_job($id, sub { my $r = shift; $r->{state} = 'failed'; $r->{error} = 'process died (pid 4242)'; $r->{pairs}[0]{exit_code} = undef });
    eval { $C->copy_image_status($scfg, 'san', $t, undef) };
    like($@, qr/failed \(blkclone job $id\): process died \(pid 4242\)$/, 'a job whose process died');
};

subtest 'start refusals' => sub {
    fresh();
    FakeLVM::add_lv('pvevg', 'vm-300-disk-0', 16 << 20);
    @FakeLVM::LOG = ();
    eval { $C->copy_image_start($scfg, 'san', 'vm-100-disk-0', $scfg, 'san', 'vm-300-disk-0', undef) };
    like($@, qr/^san:vm-300-disk-0 was not prepared by copy_image_prepare: refused$/,
        "an existing guest disk that was not prepared is never a target");
    is(scalar(grep { $_->{prog} eq 'job start' } blkclone_runs()), 0, 'blkclone was not run');

    my $t = prepare('vm-100-disk-0', 200);
    spit("$root/fake/job-start.exit", 3);
    spit("$root/fake/job-start.err", "blkclone: xcopy-lid1: LU naa.1 and LU naa.2 are not in one copy domain\n");
    eval { $C->copy_image_start($scfg, 'san', 'vm-100-disk-0', $scfg, 'san', $t, undef) };
    like($@, qr/^copy offload unavailable \(blkclone exit 3\): xcopy-lid1: LU naa.1 and LU naa.2 are not in one copy domain; the destination is untouched$/,
        "exit 3: blkclone's reason");
    is(record($t)->{state}, 'prepared', 'the target stays prepared for the caller to free');
};

subtest 'copy_images_start: all disks of a guest in one job' => sub {
    fresh();
    my @t = map { prepare($_, 200) } qw(vm-100-disk-0 vm-100-disk-1);
    is_deeply(\@t, ['vm-200-disk-0', 'vm-200-disk-1'], 'two targets prepared');
    is($FakeLVM::VG{pvevg}{lvs}{'vm-200-disk-1'}{size}, 8 << 20, 'each of its source size');
    @FakeLVM::LOG = ();
    $C->copy_images_start($scfg, 'san', $scfg, 'san', [
        { source => 'vm-100-disk-0', target => $t[0] }, { source => 'vm-100-disk-1', target => $t[1] }]);
    my @start = grep { $_->{prog} eq 'job start' } blkclone_runs();
    is(scalar @start, 1, 'ONE job start');
    is_deeply([@{ $start[0]{cmd} }[5 .. 8]], [map { "/dev/pvevg/$_" } 'vm-100-disk-0', $t[0], 'vm-100-disk-1', $t[1]],
        'with both pairs');
    my ($r0, $r1) = map { record($_) } @t;
    is($r0->{job}, $r1->{job}, 'both targets name that job');

    # the first pair is done, the second still copying
    set_job($r0->{job}, sub { my $r = shift; $r->{pairs}[0]{exit_code} = 0; $r->{pairs}[0]{bytes_done} = 16 << 20;
        $r->{pairs}[1]{bytes_done} = 2 << 20; $r->{pairs}[1]{bytes_total} = 8 << 20 });
    is($C->copy_image_status($scfg, 'san', $t[0], undef)->{state}, 'complete', 'disk 0 complete');
    ok(-e "$root/fake/jobs/$r0->{job}.json", 'the running job is not forgotten');
    is_deeply($C->copy_image_status($scfg, 'san', $t[1], undef), { state => 'pending', progress => 25 },
        'disk 1 pending at its own 25%');
    eval { $C->copy_images_start($scfg, 'san', $scfg, 'san', [
        { source => 'vm-100-disk-0', target => $t[1] }, { source => 'vm-100-disk-1', target => $t[1] }]) };
    like($@, qr/appears twice in one batch/, 'a target twice in one batch is refused');
};

subtest 'between two storages of this type (two VGs)' => sub {
    fresh();
    FakeLVM::add_vg('vg2', '/dev/mapper/mpathb', 1 << 30);
    my $s2 = { type => 'blkclonelvm', vgname => 'vg2', shared => 1 };
    my $t = $C->cluster_lock_storage('san2', 1, undef, sub {
        $C->copy_image_prepare($scfg, 'san', 'vm-100-disk-0', $s2, 'san2', 200, undef, { format => 'raw' }) });
    ok($FakeLVM::VG{vg2}{lvs}{$t} && !$FakeLVM::VG{pvevg}{lvs}{$t}, "the target is created in the target's VG");
    ok(PVE::Storage::Custom::BlkClone::LVMJobs::load('san2', $t), "recorded under the target storage");
    @FakeLVM::LOG = ();
    $C->copy_image_start($scfg, 'san', 'vm-100-disk-0', $s2, 'san2', $t, undef);
    my ($start) = grep { $_->{prog} eq 'job start' } blkclone_runs();
    is_deeply([@{ $start->{cmd} }[5, 6]], ['/dev/pvevg/vm-100-disk-0', "/dev/vg2/$t"], 'from one VG to the other');
    my $id = PVE::Storage::Custom::BlkClone::LVMJobs::load('san2', $t)->{job};
    set_job($id, sub { my $r = shift; $r->{state} = 'complete'; $r->{pairs}[0]{exit_code} = 0 });
    is($C->copy_image_status($s2, 'san2', $t, undef)->{state}, 'complete', 'status on the target storage');
    eval { $C->copy_image_status($scfg, 'san', $t, undef) };
    like($@, qr/no offloaded copy onto san:/, 'the source storage knows no such copy');
    my $other = { %$s2, type => 'lvm' };
    eval { $C->cluster_lock_storage('san2', 1, undef, sub {
        $C->copy_image_prepare($scfg, 'san', 'vm-100-disk-0', $other, 'san2', 200, undef, { format => 'raw' }) }) };
    like($@, qr/needs a target storage of type 'blkclonelvm'/, 'a target storage of another type is refused');
};

subtest 'free_image of a target with a job in flight cancels it first' => sub {
    fresh();
    my $t = prepare('vm-100-disk-0', 200);
    $C->copy_image_start($scfg, 'san', 'vm-100-disk-0', $scfg, 'san', $t, undef);
    my $id = record($t)->{job};
    @FakeLVM::LOG = ();
    my $worker = locked(sub { $C->free_image('san', $scfg, $t, 0, 'raw') });
    my @order = map { $_->{prog} } grep { $_->{prog} =~ /^(job cancel|job forget|lvrename|lvremove)$/ } @FakeLVM::LOG;
    is("@order", 'job cancel job forget lvrename', 'job cancel (and forget), then the rename to del- (saferemove)');
    my ($cancel) = grep { $_->{prog} eq 'job cancel' } @FakeLVM::LOG;
    ok($cancel->{alarm} && defined $cancel->{timeout}, 'the cancel, under the lock, has a timeout of its own');
    ok(!-e "$root/fake/jobs/$id.json", 'the job is cancelled and forgotten');
    ok(!record($t), 'the record is gone');
    ok($FakeLVM::VG{pvevg}{lvs}{"del-$t"}, "the LV waits as del-$t for the worker");
    is(ref($worker), 'CODE', 'a cleanup worker is returned for PVE to run after the lock');
};

subtest 'saferemove: blkclone zero in the worker, outside the lock' => sub {
    fresh();
    FakeLVM::add_lv('pvevg', 'vm-300-disk-0', 16 << 20);
    @FakeLVM::LOG = ();
    my $worker = locked(sub { $C->free_image('san', $scfg, 'vm-300-disk-0', 0, 'raw') });
    is(describe(grep { $_->{alarm} && !$_->{fake} } @FakeLVM::LOG), '', 'no blkclone run under the lock');
    @FakeLVM::LOG = ();
    my $out = '';
    {
        open(my $fh, '>', \$out) or die;
        my $old = select($fh);
        eval { $worker->() };
        select($old);
        is($@, '', 'the worker runs');
    }
    my @zero = grep { $_->{prog} eq 'zero' } @FakeLVM::LOG;
    is(scalar @zero, 1, 'one blkclone zero');
    is($zero[0]{cmd}[-1], '/dev/pvevg/del-vm-300-disk-0', 'of the renamed LV');
    is($zero[0]{alarm}, 0, 'with no alarm armed (outside the lock)');
    my ($rm) = FakeLVM::runs('lvremove');
    ok($rm && $rm->{alarm} > 0, 'then lvremove under the lock again');
    ok(!grep({ $_->{prog} =~ /^(cstream|blkdiscard)$/ } @FakeLVM::LOG), "PVE's own zeroing did not run");
    like($out, qr/with blkclone zero \(write_same_unmap: /, 'the task log says which zeroing');
    ok(!$FakeLVM::VG{pvevg}{lvs}{'del-vm-300-disk-0'}, 'the LV is gone');
};

subtest "saferemove on a LU without a zeroing command: PVE's own worker" => sub {
    fresh();
    spit("$root/fake/caps.json", '{"write_same_unmap":{"state":"unsupported","reason":"no"},'
        . '"zeroout":{"state":"unsupported","reason":"no"}}');
    FakeLVM::add_lv('pvevg', 'vm-300-disk-0', 16 << 20);
    my $worker = locked(sub { $C->free_image('san', $scfg, 'vm-300-disk-0', 0, 'raw') });
    @FakeLVM::LOG = ();
    my ($out, @warn) = ('');
    {
        local $SIG{__WARN__} = sub { push @warn, $_[0] };
        open(my $fh, '>', \$out) or die;
        my $old = select($fh);
        eval { $worker->() };
        select($old);
    }
    ok(!grep({ $_->{prog} eq 'zero' } @FakeLVM::LOG), 'no blkclone zero');
    # the base's worker zeroes only a device-mapper node, which this
    # in-memory VG has none of: it says so (the real-LVM test zeroes)
    like("@warn", qr{^skip zero-out for volume '/dev/pvevg/del-vm-300-disk-0' - no device mapper link$}m,
        "the base's zeroing worker ran");
    like($out, qr/the LU offers no zeroing command; PVE's own zeroing/, 'the task log says why');
    ok(!$FakeLVM::VG{pvevg}{lvs}{'del-vm-300-disk-0'}, 'and removed the LV');
};

subtest 'without saferemove: lvremove, no worker' => sub {
    fresh();
    my $s = { %$scfg, saferemove => 0 };
    my $worker = locked(sub { $C->free_image('san', $s, 'vm-100-disk-1', 0, 'raw') });
    ok(!$worker, 'no worker');
    ok(!$FakeLVM::VG{pvevg}{lvs}{'vm-100-disk-1'}, 'the LV is removed');
};

subtest "copy_image, the original RFC's one call: prepare, start, wait" => sub {
    fresh();
    spit("$root/fake/job-start.finish", 'complete');
    my ($out, $err) = capture_out(sub { is($C->copy_image($scfg, 'san', 'vm-100-disk-0', 200, 'raw', {}),
        'vm-200-disk-0', 'returns the new volume') });
    is($err, '', 'no error');
    ok($FakeLVM::VG{pvevg}{lvs}{'vm-200-disk-0'}, 'which exists');
    ok(!record('vm-200-disk-0'), 'no record left');

    fresh();
    spit("$root/fake/job-start.finish", 'failed EXTENDED COPY at LBA 0: COPY ABORTED');
    ($out, $err) = capture_out(sub { $C->copy_image($scfg, 'san', 'vm-100-disk-0', 200, 'raw', {}) });
    like($err, qr/^offloaded copy onto san:vm-200-disk-0 failed \(blkclone job \w+\): EXTENDED COPY at LBA 0: COPY ABORTED$/,
        "a failed copy dies with blkclone's message");
    ok(!$FakeLVM::VG{pvevg}{lvs}{'vm-200-disk-0'} && !$FakeLVM::VG{pvevg}{lvs}{'del-vm-200-disk-0'},
        'and its target is zeroed and removed');
};

subtest 'volume_has_feature' => sub {
    fresh();
    FakeLVM::add_lv('pvevg', 'vm-100-disk-0', 16 << 20, active => 0);
    @FakeLVM::LOG = ();
    is($C->volume_has_feature($scfg, 'copy-offload-bulk', 'san', 'vm-100-disk-0', undef, 0), 1,
        'copy-offload-bulk where the LU offers EXTENDED COPY (the LV need not be active)');
    my @probe = grep { $_->{prog} eq 'probe' } @FakeLVM::LOG;
    is_deeply([map { $_->{cmd}[-1] } @probe], ['/dev/mapper/mpatha'], 'one probe, of the PV under the LV');
    $C->volume_has_feature($scfg, 'copy-offload-bulk', 'san', 'vm-100-disk-1', undef, 0) for 1 .. 5;
    is(scalar(grep { $_->{prog} eq 'probe' } @FakeLVM::LOG), 1, 'asked again (another LV on that PV): no new probe');
    ok(!$C->volume_has_feature($scfg, 'copy-offload-atomic', 'san', 'vm-100-disk-0', undef, 0),
        'never copy-offload-atomic (EXTENDED COPY reads the source until it ends)');
    ok(!$C->volume_has_feature($scfg, 'copy-offload-bulk', 'san', 'vm-100-disk-0', 'snap', 0), 'not from a snapshot');
    is($C->volume_has_feature($scfg, 'copy', 'san', 'vm-100-disk-0', undef, 0), 1, "other features: the base's answer");

    %PVE::Storage::Custom::BlkcloneLVMPlugin::PROBE_CACHE = ();
    spit("$root/fake/caps.json", '{"xcopy_lid1":{"state":"unsupported","reason":"3PC=0"}}');
    ok(!$C->volume_has_feature($scfg, 'copy-offload-bulk', 'san', 'vm-100-disk-0', undef, 0),
        'a LU without an in-array copy: no');
    spit("$root/fake/probe.exit", 2);
    %PVE::Storage::Custom::BlkcloneLVMPlugin::PROBE_CACHE = ();
    ok(!$C->volume_has_feature($scfg, 'copy-offload-bulk', 'san', 'vm-100-disk-0', undef, 0),
        'a probe that fails: no');
};

subtest 'job records are checked before use' => sub {
    fresh();
    my $t = prepare('vm-100-disk-0', 200);
    my $f = "$root/state/jobs/san/$t.json";
    spit($f, '{"state":"started","job":"../../etc"}');
    eval { $C->copy_image_status($scfg, 'san', $t, undef) };
    like($@, qr/job id '\.\.\/\.\.\/etc' is malformed/, 'a malformed job id');
    unlink $f;
    symlink('/etc/passwd', $f) or die;
    eval { $C->copy_image_status($scfg, 'san', $t, undef) };
    like($@, qr/cannot read .*: Too many levels of symbolic links|not a regular file/, 'a record that is a link');
    unlink $f;
    spit($f, '{"state":"started","job":"000000000b10c001","destination":"/dev/pvevg/vm-200-disk-0"}');
    chmod(0777, "$root/state/jobs/san");
    eval { $C->copy_image_status($scfg, 'san', $t, undef) };
    chmod(0700, "$root/state/jobs/san");
    like($@, qr/is writable by others/, 'a directory writable by others');
};

done_testing();
