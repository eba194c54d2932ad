#!/usr/bin/perl
# The plugin's side of the copy-offload contract (the pve-storage fork,
# API 16) against a stand-in blkclone: what it asks blkclone, what each
# answer becomes, and the first RFC's copy_image adapter over the same
# calls.  (tgt has no EXTENDED COPY, so an offload-capable pair, an
# atomic plan and a job failing part-way only exist here; plugin-tgt.t
# runs the real binary.)
use strict;
use warnings;
use Test::More;
use JSON::PP;
use lib 't/lib', '.';
use PVEEnv;
use BlkCloneTest;
use PVE::Storage::Plugin;
use PVE::Storage::Custom::BlkcloneISCSIPlugin;

my $C = 'PVE::Storage::Custom::BlkcloneISCSIPlugin';
my $root = setup();
$PVE::Storage::Custom::BlkcloneISCSIPlugin::PRIV_DIR = "$root/priv";
my $Pool = 'PVE::Storage::Custom::BlkClone::LunPool';
my $Local = 'PVE::Storage::Custom::BlkClone::Local';

my @warnings;
{
    local $SIG{__WARN__} = sub { push @warnings, $_[0] };
    load_custom_plugins($C);
}
ok(!grep({ /Error loading storage plugin/ } @warnings), 'loads as PVE loads a custom plugin (register, then init over all plugins)')
    or diag(@warnings);
is(PVE::Storage::Plugin->lookup('blkcloneiscsi'), $C, 'registered as blkcloneiscsi');

my $scfg = { type => 'blkcloneiscsi', portal => '127.0.0.1:3260', target => 'iqn.2026-11.test:a',
    'blkclone-luns' => '1-4', shared => 1 };
my $url = 'iscsi://127.0.0.1:3260/iqn.2026-11.test:a';
my $ID = '0123456789abcdef';
sub plan_json {
    my ($m, $c) = @_;
    return JSON::PP->new->encode({ schema => 1, volumes => [], plan => { method => $m, consistency => $c,
        consistency_reason => 'why', steps => [{ method => 'xcopy-lid1', usable => $m ? JSON::PP::true : JSON::PP::false,
        reason => $m ? 'ok' : 'source: INQUIRY 3PC bit is 0' }] } });
}
sub start_json {
    my (@pairs) = @_;
    return JSON::PP->new->encode({ schema => 1, id => $ID, state => 'running', consistency => 'bulk',
        pairs => [map { { source => $_->[0], destination => $_->[1], method => 'xcopy-lid1', consistency => 'bulk' } } @pairs] });
}
sub status_json {
    my ($state, %o) = @_;
    return JSON::PP->new->encode({ schema => 1, id => $ID, state => $state, progress => $o{progress} // 0,
        error => $o{error}, pairs => $o{pairs} // [] });
}
sub own { $Pool->can('save')->('st', {@_}) }
sub pool_vol { $Pool->can('load')->('st')->{ $_[0] }{volname} }
sub runs_of {
    my ($sub) = @_;
    return grep { ($_->{argv}[0] eq 'job' ? "job-$_->{argv}[1]" : $_->{argv}[0]) eq $sub } @{ fake_log() };
}

fake_blkclone();
write_file("$root/fake/size-$_", 16777216) for 1, 3, 4;
write_file("$root/fake/size-2", 8388608);    # too small for LUN 1's data
my %vm100 = (1 => { volname => 'vm-100-disk-0', vmid => 100, size => 16777216 });
own(%vm100);

subtest 'addresses come from the assignment, not the name' => sub {
    is(($C->path($scfg, 'vm-100-disk-0', 'st'))[0], "$url/1", 'path is the libiscsi URL of the assigned LUN');
    is(($C->parse_volname('vm-100-disk-0'))[2], 100, 'owner from the volume name');
    is(($C->parse_volname('vm-100-cloudinit'))[2], 100, 'vm-N-cloudinit parses');
    is(($C->parse_volname('base-100-disk-2'))[5], 1, 'base-N-disk-M parses as a base volume');
    is(($C->parse_volname('vm-100-lun3'))[2], 100, 'vm-N-lunL (earlier versions) parses');
    eval { $C->parse_volname('lun1') };
    like($@, qr/unable to parse/, 'foreign names refused');
    is($C->qemu_blockdev_options($scfg, 'st', 'vm-100-disk-0')->{lun}, 1, 'blockdev LUN');
};

subtest 'volume_has_feature: atomic or bulk, from one probe of the pair, cached' => sub {
    fake_answer('probe-1-3', out => plan_json('xcopy-lid1', 'bulk'));
    my $n = () = runs_of('probe');
    ok($C->volume_has_feature($scfg, 'copy-offload-bulk', 'st', 'vm-100-disk-0', undef, 0),
        'LUN 1 -> the LUN a prepare would assign (3): bulk');
    ok(!$C->volume_has_feature($scfg, 'copy-offload-atomic', 'st', 'vm-100-disk-0', undef, 0), 'not atomic');
    my @probes = runs_of('probe');
    my @pair = grep { @{ $_->{argv} } == 5 } @probes[$n .. $#probes];
    is(scalar @pair, 1, 'one pair probe for both questions (cached)');
    is_deeply($pair[0]{argv}, ['probe', '--json', '--offload=require', "$url/1", "$url/3"], 'exactly that pair, under require');
    my @sizes = grep { @{ $_->{argv} } == 3 } runs_of('probe');
    my %per_lun;
    $per_lun{ $_->{argv}[2] }++ for @sizes;
    ok(!grep({ $_ > 1 } values %per_lun), 'each free LUN sized at most once (LUN-size cache): '
        . join(', ', map { "$_ x$per_lun{$_}" } sort keys %per_lun));

    # an atomic plan (token copy), on a fresh cache
    unlink glob("$root/local/cache-*");
    fake_answer('probe-1-3', out => plan_json('token', 'atomic'));
    ok($C->volume_has_feature($scfg, 'copy-offload-atomic', 'st', 'vm-100-disk-0', undef, 0), 'token copy: atomic');
    ok(!$C->volume_has_feature($scfg, 'copy-offload-bulk', 'st', 'vm-100-disk-0', undef, 0), 'and not bulk');

    unlink glob("$root/local/cache-*");
    fake_answer('probe-1-3', out => plan_json(undef, undef));
    ok(!$C->volume_has_feature($scfg, "copy-offload-$_", 'st', 'vm-100-disk-0', undef, 0), "no usable method: not $_")
        for qw(atomic bulk);
    unlink glob("$root/local/cache-*");
    fake_answer('probe-1-3', out => plan_json('host', 'bulk'));
    ok(!$C->volume_has_feature($scfg, 'copy-offload-bulk', 'st', 'vm-100-disk-0', undef, 0),
        'a host plan is never an offload under require');
    unlink glob("$root/local/cache-*");
    ok($C->volume_has_feature({ %$scfg, 'blkclone-offload' => 'auto' }, 'copy-offload-bulk', 'st', 'vm-100-disk-0', undef, 0),
        'blkclone-offload auto: a host copy by blkclone is bulk');
    is((runs_of('probe'))[-1]{argv}[2], '--offload=auto', 'probed under auto');
    ok(!$C->volume_has_feature($scfg, 'copy-offload-bulk', 'st', 'vm-100-disk-0', 'snap', 0), 'a snapshot: no');
    ok(!$C->volume_has_feature($scfg, 'copy-offload-bulk', 'st', 'vm-200-disk-0', undef, 0), 'a volume not on the storage: no');
    ok($C->volume_has_feature($scfg, 'copy', 'st', 'vm-100-disk-0', undef, 0), 'copy is still a feature');
};

subtest 'prepare, start, status: complete' => sub {
    unlink glob("$root/local/cache-*");
    fake_answer('probe-1-3', out => plan_json('xcopy-lid1', 'bulk'));
    my $tvol = $C->cluster_lock_storage('st', 1, undef, sub {
        $C->copy_image_prepare($scfg, 'st', 'vm-100-disk-0', $scfg, 'st', 200, undef, { format => 'raw' });
    });
    is($tvol, 'vm-200-disk-0', 'prepare returns the target: a Proxmox name');
    is($Pool->can('load')->('st')->{3}{volname}, 'vm-200-disk-0', 'LUN 3 (smallest that fits) is really assigned to it');
    eval { $C->copy_image_prepare($scfg, 'st', 'vm-100-disk-0', $scfg, 'st', 200, undef, { format => 'qcow2' }) };
    like($@, qr/cannot produce format 'qcow2'/, 'another format: refused');
    eval { $C->copy_image_prepare($scfg, 'st', 'vm-100-disk-0', $scfg, 'st', 200, 'snap1', {}) };
    like($@, qr/snapshot/, 'a snapshot: refused');

    fake_answer('job-start', out => start_json(["$url/1", "$url/3"]));
    my ($out, $err) = capture(sub {
        $C->copy_image_start($scfg, 'st', 'vm-100-disk-0', { %$scfg, 'copy-offload-timeout' => 600 }, 'st', $tvol, undef)
    });
    is($err, '', 'start returns');
    is_deeply((runs_of('job-start'))[-1]{argv},
        ['job', 'start', '--offload=require', '--json', '--stall-timeout=600', "$url/1", "$url/3"],
        'blkclone job start --offload=require --json --stall-timeout=copy-offload-timeout SRC DST');
    like($out, qr/st:vm-100-disk-0 -> st:vm-200-disk-0, blkclone job $ID, xcopy-lid1 \(bulk\)/, 'the task log names job and method');
    is($Local->can('job_link_get')->('st', $tvol)->{id}, $ID, 'the job id is kept for the target');

    fake_answer('job-status', out => status_json('running', progress => 40,
        pairs => [{ bytes_done => 4 << 20, bytes_total => 16 << 20 }]));
    is_deeply($C->copy_image_status($scfg, 'st', $tvol, undef), { state => 'pending', progress => 25 },
        'running: pending with the pair\'s percentage');
    is_deeply((runs_of('job-status'))[-1]{argv}, ['job', 'status', '--json', $ID], 'blkclone job status --json ID');
    fake_answer('job-status', out => status_json('complete', progress => 100,
        pairs => [{ bytes_done => 16 << 20, bytes_total => 16 << 20 }]));
    is_deeply($C->copy_image_status($scfg, 'st', $tvol, undef), { state => 'complete', progress => 100 }, 'complete');
    ok(!$Local->can('job_link_get')->('st', $tvol), 'the link is gone');
    is_deeply((runs_of('job-forget'))[-1]{argv}, ['job', 'forget', $ID], 'and the finished job forgotten');
};

subtest 'status: failed, cancelled, stalled die with blkclone\'s words' => sub {
    for my $case (['failed', 'xcopy-lid1 at LBA 8192: COPY ABORTED 0D/02'], ['failed', 'stalled: no progress for 600 s'],
                  ['cancelled', 'cancelled']) {
        my ($state, $msg) = @$case;
        $Local->can('job_link_put')->('st', 'vm-200-disk-0', { id => $ID, pair => 0 });
        fake_answer('job-status', out => status_json($state, error => $msg));
        eval { $C->copy_image_status($scfg, 'st', 'vm-200-disk-0', undef) };
        is($@, "blkclone job $ID $state: $msg\n", "$state: dies '$msg'");
    }
    eval { $C->copy_image_status($scfg, 'st', 'vm-200-disk-0', undef) };
    like($@, qr/no blkclone job is copying onto st:vm-200-disk-0/, 'no job: dies, never reports complete');
};

subtest 'start refused: nothing left behind' => sub {
    fake_answer('job-start', exit => 3, err => "blkclone: plan: offload required but unavailable: xcopy-lid1: source: INQUIRY 3PC bit is 0\n");
    eval { $C->copy_image_start($scfg, 'st', 'vm-100-disk-0', $scfg, 'st', 'vm-200-disk-0', undef) };
    is($@, "copy offload unavailable (blkclone exit 3): plan: offload required but unavailable: xcopy-lid1: source: INQUIRY 3PC bit is 0; the destination is untouched\n",
        'exit 3: dies with blkclone\'s message');
    ok(!$Local->can('job_link_get')->('st', 'vm-200-disk-0'), 'no job link');
    fake_answer('job-start', exit => 2, err => "blkclone: x: check: destination in use\n");
    eval { $C->copy_image_start($scfg, 'st', 'vm-100-disk-0', $scfg, 'st', 'vm-200-disk-0', undef) };
    like($@, qr/^blkclone refused the copy \(exit 2\): x: check: destination in use/, 'exit 2');
};

subtest 'copy_images_start: all disks of a guest in ONE job' => sub {
    own(%vm100, 2 => { volname => 'vm-100-disk-1', vmid => 100, size => 8388608 },
        3 => { volname => 'vm-200-disk-0', vmid => 200, size => 16777216 },
        4 => { volname => 'vm-200-disk-1', vmid => 200, size => 16777216 });
    fake_answer('job-start', out => start_json(["$url/1", "$url/3"], ["$url/2", "$url/4"]));
    my $n = () = runs_of('job-start');
    capture(sub {
        $C->copy_images_start($scfg, 'st', $scfg, 'st', [
            { source => 'vm-100-disk-0', target => 'vm-200-disk-0' },
            { source => 'vm-100-disk-1', target => 'vm-200-disk-1' }]);
    });
    my @starts = runs_of('job-start');
    is(@starts - $n, 1, 'one blkclone job start');
    is_deeply([@{ $starts[-1]{argv} }[-4 .. -1]], ["$url/1", "$url/3", "$url/2", "$url/4"], 'SRC1 DST1 SRC2 DST2');
    is($Local->can('job_link_get')->('st', 'vm-200-disk-1')->{pair}, 1, 'each target knows its pair in the job');
    fake_answer('job-status', out => status_json('running', pairs => [
        { bytes_done => 16 << 20, bytes_total => 16 << 20 }, { bytes_done => 2 << 20, bytes_total => 8 << 20 }]));
    is($C->copy_image_status($scfg, 'st', 'vm-200-disk-0', undef)->{progress}, 99, 'a finished pair of a running job: 99, pending');
    is($C->copy_image_status($scfg, 'st', 'vm-200-disk-1', undef)->{progress}, 25, 'the other pair: its own percentage');
    fake_answer('job-status', out => status_json('complete'));
    $C->copy_image_status($scfg, 'st', 'vm-200-disk-0', undef);
    my $forgets = () = runs_of('job-forget');
    $C->copy_image_status($scfg, 'st', 'vm-200-disk-1', undef);
    is(scalar(() = runs_of('job-forget')) - $forgets, 1, 'the job is forgotten only after its last target completed');
};

subtest 'free_image of a target with a job in flight cancels the job first' => sub {
    own(%vm100, 3 => { volname => 'vm-200-disk-0', vmid => 200, size => 16777216 });
    $Local->can('job_link_put')->('st', 'vm-200-disk-0', { id => $ID, pair => 0 });
    my $n = @{ fake_log() };
    my ($out, $err, $worker) = capture(sub {
        $C->cluster_lock_storage('st', 1, undef, sub { $C->free_image('st', $scfg, 'vm-200-disk-0', 0, 'raw') });
    });
    is($err, '', 'freed');
    my @runs = map { join(' ', @{ $_->{argv} }[0 .. 1]) } @{ fake_log() }[$n .. $#{ fake_log() }];
    is($runs[0], 'job cancel', 'blkclone job cancel ran first');
    is_deeply((runs_of('job-cancel'))[-1]{argv}, ['job', 'cancel', $ID], 'job cancel ID');
    ok(!grep({ $_ eq 'zero --json' } @runs), 'no zeroing under the lock');
    is(ref($worker), 'CODE', 'a cleanup worker is returned');
    ok(!grep({ $_->{volid} eq 'st:vm-200-disk-0' } @{ $C->list_images('st', $scfg) }), 'the volume is gone from the list');
    ok(exists $Pool->can('load')->('st')->{3}, 'its LUN is not free yet (being zeroed)');
    capture($worker);
    is_deeply((runs_of('zero'))[-1]{argv}, ['zero', '--json', "$url/3"], 'the worker zeroes LUN 3');
    ok(!exists $Pool->can('load')->('st')->{3}, 'then gives it back to the pool');
};

subtest 'free_image when the job cannot be cancelled: the volume stays' => sub {
    own(%vm100, 3 => { volname => 'vm-200-disk-0', vmid => 200, size => 16777216 });
    $Local->can('job_link_put')->('st', 'vm-200-disk-0', { id => $ID, pair => 0 });
    fake_answer('job-cancel', exit => 2, err => "blkclone: job $ID: record unreadable\n");
    my $n = () = runs_of('zero');
    my (undef, $err) = capture(sub { $C->free_image('st', $scfg, 'vm-200-disk-0', 0, 'raw') });
    like($err, qr/^blkclone job cancel $ID failed \(exit 2\): job $ID: record unreadable; st:vm-200-disk-0 is not freed while job $ID may still write it .*job-st-vm-200-disk-0\.json\)$/m,
        'refused, and says what to do');
    is(pool_vol(3), 'vm-200-disk-0', 'the volume is still there');
    is(scalar(() = runs_of('zero')), $n, 'nothing zeroed');
    fake_answer('job-cancel');
    $Local->can('job_link_remove')->('st', 'vm-200-disk-0');
};

subtest 'copy_image (the first RFC): prepare, start, wait' => sub {
    own(%vm100);
    unlink glob("$root/local/cache-*");
    fake_answer('job-start', out => start_json(["$url/1", "$url/3"]));
    fake_answer('job-status', out => status_json('complete', progress => 100));
    my ($out, $err, $vol) = capture(sub { $C->copy_image($scfg, 'st', 'vm-100-disk-0', 201, 'raw', {}) });
    is($err, '', 'no error');
    is($vol, 'vm-201-disk-0', 'returns the new volume');
    like($out, qr/^    \(100\.00\/100%\)$/m, 'progress in the task log as qemu-img prints it');
    fake_answer('job-status', out => status_json('failed', error => 'EXTENDED COPY at LBA 8: COPY ABORTED'));
    ($out, $err) = capture(sub { $C->copy_image($scfg, 'st', 'vm-100-disk-0', 202, 'raw', {}) });
    like($err, qr/^blkclone job $ID failed: EXTENDED COPY at LBA 8: COPY ABORTED; st:vm-202-disk-0 was freed \(zeroed\)$/m,
        'a failed job: the message, and the target zeroed and freed');
    ok(!grep({ $_->{volname} eq 'vm-202-disk-0' || $_->{state} } values %{ $Pool->can('load')->('st') }), 'nothing left assigned');
    ($out, $err) = capture(sub { $C->copy_image({ %$scfg, 'copy-offload' => 0 }, 'st', 'vm-100-disk-0', 203, 'raw', {}) });
    like($err, qr/copy-offload 0/, 'copy-offload 0: refused');
    ok(!$C->volume_has_feature({ %$scfg, 'copy-offload' => 0 }, 'copy-offload', 'st', 'vm-100-disk-0', undef, 0, {}),
        'and the RFC feature is off');
};

subtest 'CHAP: the secret file' => sub {
    my $chap = { %$scfg, username => 'pve' };
    $C->on_add_hook('chap', $chap, password => 's3cret');
    my $pw = "$root/priv/chap.pw";
    is(slurp_file($pw), "s3cret\n", 'secret stored in priv/chap.pw');
    is((stat $pw)[2] & 0777, 0600, 'readable by root only');
    $Pool->can('save')->('chap', { 1 => { volname => 'vm-100-disk-0', vmid => 100, size => 16777216 } });
    $C->volume_size_info($chap, 'chap', 'vm-100-disk-0');
    my $run = fake_log()->[-1];
    is($run->{argv}[-1], 'iscsi://pve@127.0.0.1:3260/iqn.2026-11.test:a/1', 'user in the URL');
    is($run->{password_file}, $pw, 'secret by file name');
    ok(!grep({ /s3cret/ } @{ $run->{argv} }), 'not in argv');
    unlike(($C->path($chap, 'vm-100-disk-0', 'chap'))[0], qr/pve@/, 'path for QEMU carries no user');
    $C->on_delete_hook('chap', $chap);
    ok(!-e $pw, 'removed with the storage');
    eval { $C->volume_size_info({ %$chap, username => 'a b' }, 'chap', 'vm-100-disk-0') };
    like($@, qr/CHAP user name/, 'a user name that would break the URL is refused');
};

subtest 'the state directory is checked' => sub {
    chmod(0777, "$root/local") or die;
    eval { $C->copy_image_status($scfg, 'st', 'vm-100-disk-0', undef) };
    like($@, qr/unsafe plugin state directory: .*writable by group or others/, 'a world-writable state dir is refused');
    chmod(0700, "$root/local");
    symlink("$root/elsewhere", "$root/local/job-st-vm-100-disk-0.json") or die;
    eval { $C->copy_image_status($scfg, 'st', 'vm-100-disk-0', undef) };
    like($@, qr/unsafe plugin state file: .* is a symlink/, 'a job link that is a symlink is refused');
    unlink "$root/local/job-st-vm-100-disk-0.json";
};

done_testing();
