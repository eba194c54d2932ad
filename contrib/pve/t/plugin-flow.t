#!/usr/bin/perl
# The plugin driven the way the pve-storage fork's PVE::Storage drives an
# offloaded clone (t/lib/ForkFlow.pm: copy_offload_class, vdisk_copy,
# the freeze flow's prepare-all / start-group / wait, vdisk_free with its
# cleanup worker), against the stand-in blkclone: the calls fit together,
# a failure or stall ends with the target freed (its job cancelled, the
# LUN zeroed) and blkclone's message.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use lib 't/lib', '.';
use PVEEnv;
use BlkCloneTest;
use ForkFlow;
use PVE::Storage::Plugin;
use PVE::Storage::Custom::BlkcloneISCSIPlugin;

my $C = 'PVE::Storage::Custom::BlkcloneISCSIPlugin';
my $root = setup();
$PVE::Storage::Custom::BlkcloneISCSIPlugin::PRIV_DIR = "$root/priv";
my $Pool = 'PVE::Storage::Custom::BlkClone::LunPool';
{
    local $SIG{__WARN__} = sub { warn @_ if $_[0] !~ /older storage API/ };
    load_custom_plugins($C);
}
fake_blkclone();

my $st = { type => 'blkcloneiscsi', portal => '127.0.0.1:3260', target => 'iqn.2026-11.test:a',
    'blkclone-luns' => '1-6', shared => 1, 'copy-offload' => 1, 'copy-offload-timeout' => 3600 };
my $cfg = { ids => { st => $st, off => { %$st, 'copy-offload' => 0 } } };
my $url = 'iscsi://127.0.0.1:3260/iqn.2026-11.test:a';
my $ID = '0000000000000f10';
sub js { JSON::PP->new->canonical->encode($_[0]) }
sub plan_json { js({ schema => 1, volumes => [], plan => { method => $_[0], consistency => $_[1], steps => [] } }) }
sub status { my ($state, %o) = @_; js({ schema => 1, id => $ID, state => $state, error => $o{error}, progress => 0,
    pairs => $o{pairs} // [] }) }
sub pair { { bytes_done => $_[0], bytes_total => 100 } }
sub start { js({ schema => 1, id => $ID, state => 'running', consistency => 'bulk',
    pairs => [map { { method => 'xcopy-lid1', consistency => 'bulk' } } 1 .. $_[0]] }) }
sub runs { my ($k) = @_; grep { join('-', @{ $_->{argv} }[0 .. 1]) eq $k || $_->{argv}[0] eq $k } @{ fake_log() } }
sub pool { $Pool->can('load')->('st') }
sub reset_pool {
    $Pool->can('save')->('st', { 1 => { volname => 'vm-100-disk-0', vmid => 100, size => 16 << 20 },
        2 => { volname => 'vm-100-disk-1', vmid => 100, size => 16 << 20 } });
    unlink glob("$root/local/*");
}
reset_pool();

subtest 'copy_offload_class' => sub {
    fake_answer('probe-1-3', out => plan_json('xcopy-lid1', 'bulk'));
    is(copy_offload_class($cfg, 'st:vm-100-disk-0', 'st'), 'bulk', 'EXTENDED COPY: bulk');
    is(copy_offload_class($cfg, 'st:vm-100-disk-0', 'off'), undef, 'a target without copy-offload: none');
    unlink glob("$root/local/cache-*");
    fake_answer('probe-1-3', out => plan_json('token', 'atomic'));
    is(copy_offload_class($cfg, 'st:vm-100-disk-0', 'st'), 'atomic', 'token copy: atomic');
    unlink glob("$root/local/cache-*");
    fake_answer('probe-1-3', out => plan_json(undef, undef));
    is(copy_offload_class($cfg, 'st:vm-100-disk-0', 'st'), undef, 'nothing usable: none (PVE copies with qemu-img)');
};

subtest 'vdisk_copy: pending with progress, then complete' => sub {
    reset_pool();
    fake_answer('job-start', out => start(1));
    fake_answer('job-status', outs => [status('running', pairs => [pair(30)]), status('running', pairs => [pair(70)]),
        status('complete', pairs => [pair(100)])]);
    my @progress;
    my ($out, $err, $vol) = capture(sub { vdisk_copy($cfg, 'st:vm-100-disk-0', 'st', 200, undef, {}, sub { push @progress, $_[0] }) });
    is($err, '', 'no error');
    is($vol, 'st:vm-200-disk-0', 'the new volume');
    is_deeply(\@progress, [30, 70, 100], 'progress as the job reported it');
    is(pool()->{3}{volname}, 'vm-200-disk-0', 'kept, on LUN 3');
    is(scalar(runs('job-forget')), 1, 'the finished job is forgotten');
};

subtest 'vdisk_copy: the job fails part-way' => sub {
    reset_pool();
    fake_answer('job-start', out => start(1));
    fake_answer('job-status', outs => [status('running', pairs => [pair(40)]),
        status('failed', error => 'iscsi://x/3: EXTENDED COPY at LBA 8192: COPY ABORTED 0D/02')]);
    my $n = () = runs('zero');
    my (undef, $err) = capture(sub { vdisk_copy($cfg, 'st:vm-100-disk-0', 'st', 201, undef, {}) });
    is($err, "blkclone job $ID failed: iscsi://x/3: EXTENDED COPY at LBA 8192: COPY ABORTED 0D/02\n", 'dies with blkclone\'s error');
    is(scalar(runs('zero')) - $n, 1, 'the target was zeroed by the cleanup worker');
    ok(!exists pool()->{3}, 'and is back in the pool');
};

subtest 'vdisk_copy: a stall hits copy-offload-timeout, the cleanup cancels the job' => sub {
    reset_pool();
    my $c = { ids => { st => { %$st, 'copy-offload-timeout' => 1 } } };
    fake_answer('job-start', out => start(1));
    fake_answer('job-status', out => status('running', pairs => [pair(10)]));
    my $n = () = runs('job-cancel');
    my (undef, $err) = capture(sub { vdisk_copy($c, 'st:vm-100-disk-0', 'st', 202, undef, {}) });
    like($err, qr/did not finish within 1s/, 'the wait gives up');
    like((runs('job-start'))[-1]{argv}[4], qr/^--stall-timeout=1$/, 'blkclone was given the same stall timeout');
    is(scalar(runs('job-cancel')) - $n, 1, 'vdisk_free cancelled the job still running');
    ok(!exists pool()->{3}, 'the target is back in the pool, zeroed');
};

subtest 'the freeze flow: prepare all, one start, wait each' => sub {
    reset_pool();
    my @t = map { vdisk_copy_prepare($cfg, "st:vm-100-disk-$_", 'st', 300, undef, {}) } 0, 1;
    is_deeply(\@t, ['st:vm-300-disk-0', 'st:vm-300-disk-1'], 'both targets prepared (before any freeze)');
    my $starts = () = runs('job-start');
    fake_answer('job-start', out => start(2));
    my $copies = [map { { source => "st:vm-100-disk-$_", target => $t[$_] } } 0, 1];
    capture(sub { vdisk_copy_start_group($cfg, $copies) });
    is(scalar(runs('job-start')) - $starts, 1, 'inside the freeze: ONE blkclone job start');
    ok($copies->[0]{started} && $copies->[1]{started}, 'both marked started');
    fake_answer('job-status', out => status('complete'));
    is(vdisk_copy_wait($cfg, $_, undef), $_, "$_ complete") for @t;
};

subtest 'the freeze flow: the start refused, the caller frees what it prepared' => sub {
    reset_pool();
    my @t = map { vdisk_copy_prepare($cfg, "st:vm-100-disk-$_", 'st', 301, undef, {}) } 0, 1;
    fake_answer('job-start', exit => 3, err => "blkclone: plan: offload required but unavailable: xcopy-lid1: source: INQUIRY 3PC bit is 0\n");
    my $copies = [map { { source => "st:vm-100-disk-$_", target => $t[$_] } } 0, 1];
    eval { vdisk_copy_start_group($cfg, $copies) };
    like($@, qr/^copy offload unavailable \(blkclone exit 3\)/, 'the group start dies');
    ok(!grep({ $_->{started} } @$copies), 'nothing marked started');
    my $cancels = () = runs('job-cancel');
    capture(sub { vdisk_free($cfg, $_) }) for @t;
    is(scalar(runs('job-cancel')) - $cancels, 0, 'no job to cancel');
    is_deeply([sort keys %{ pool() }], [1, 2], 'both targets back in the pool');
};

done_testing();
