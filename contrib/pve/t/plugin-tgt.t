#!/usr/bin/perl
# The plugin with the real blkclone against tgt on 127.0.0.1 (started by
# tests/integration/test-pve-plugin.sh), every byte checked on tgt's
# backing files.  tgt has no EXTENDED COPY, so under blkclone-offload
# require (the default) no pair is an offload and job start stops with
# exit 3 before any write; under blkclone-offload auto blkclone copies
# through the host as a job, which is what takes the contract through
# prepare, start and status to complete here.  A cancel through
# free_image happens while the job's read is held at the gate
# (tests/lib/gate.sh), so it strikes mid-copy on any machine.
use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use POSIX ();
use lib 't/lib', '.';
use PVEEnv;
use BlkCloneTest;
use PVE::Storage::Plugin;
use PVE::Storage::Custom::BlkcloneISCSIPlugin;

for (qw(BLKCLONE_PVE_PORTAL BLKCLONE_PVE_TARGET BLKCLONE_PVE_LUN_DIR BLKCLONE_PVE_CHAP_TARGET
        BLKCLONE_PVE_CHAP_USER BLKCLONE_PVE_CHAP_SECRET BLKCLONE_PVE_GATE_TARGET BLKCLONE_PVE_GATE_MNT)) {
    die "$_ unset: run through tests/integration/test-pve-plugin.sh\n" if !$ENV{$_};
}
my $C = 'PVE::Storage::Custom::BlkcloneISCSIPlugin';
my $Pool = 'PVE::Storage::Custom::BlkClone::LunPool';
my $Local = 'PVE::Storage::Custom::BlkClone::Local';
my $Exec = 'PVE::Storage::Custom::BlkClone::Exec';
my $root = setup();
real_blkclone();
$PVE::Storage::Custom::BlkcloneISCSIPlugin::PRIV_DIR = "$root/priv";
$PVE::Storage::Custom::BlkcloneISCSIPlugin::TMP_DIR = $root;
{
    local $SIG{__WARN__} = sub { warn @_ if $_[0] !~ /older storage API/ };
    load_custom_plugins($C);
}

my $dir = $ENV{BLKCLONE_PVE_LUN_DIR};
my $scfg = { type => 'blkcloneiscsi', portal => $ENV{BLKCLONE_PVE_PORTAL},
    target => $ENV{BLKCLONE_PVE_TARGET}, 'blkclone-luns' => '1-5', shared => 1 };
my $auto = { %$scfg, 'blkclone-offload' => 'auto' };
sub lun_file { "$dir/lun$_[0].img" }
sub lun_sha { sha256_hex(slurp_file(lun_file($_[0]))) }
sub zeros { slurp_file($_[0]) !~ /[^\0]/ }
sub first_bytes { my ($f, $n) = @_; substr(slurp_file($f), 0, $n) }
sub locked { my ($st, $c, $code) = @_; $C->cluster_lock_storage($st, $c->{shared}, undef, $code) }
# vdisk_free: free_image under the lock, then the cleanup worker outside it
sub vdisk_free {
    my ($st, $c, $vol) = @_;
    my $w = locked($st, $c, sub { $C->free_image($st, $c, $vol, 0, 'raw') });
    $w->() if $w;
}
# until CODE is true, 300 s at most (a bound for a stuck harness, not a wait for time)
sub wait_until {
    my ($code) = @_;
    for (1 .. 6000) {
        return 1 if $code->();
        select(undef, undef, undef, 0.05);
    }
    return 0;
}
# vdisk_copy_wait: poll status to the end (a bound, not a wait for time)
sub wait_copy {
    my ($st, $c, $vol) = @_;
    my ($s, @seen) = (undef);
    for (1 .. 6000) {
        $s = $C->copy_image_status($c, $st, $vol, undef);
        push @seen, $s->{progress};
        last if $s->{state} eq 'complete';
        select(undef, undef, undef, 0.1);
    }
    return ($s, \@seen);
}

# LUN 1 is VM 100's disk; 2 (8 MiB) is too small for it, 3 (16 MiB)
# fits best, 4 (32 MiB) fits, 5 is not exported.
$Pool->can('save')->('tgt', { 1 => { volname => 'vm-100-disk-0', vmid => 100, size => 16 << 20 } });

subtest 'sizes from the target' => sub {
    is(scalar $C->volume_size_info($scfg, 'tgt', 'vm-100-disk-0'), 16 << 20, 'LUN 1: 16 MiB');
    my ($total, $free, $used, $active) = $C->status('tgt', $scfg);
    is($used, 16 << 20, 'used: the assigned LUN');
    is($free, (8 + 16 + 32) << 20, 'free: LUNs 2, 3, 4 (5 does not answer)');
    my @cached = glob("$root/local/cache-*");
    ok(@cached >= 4, scalar(@cached) . ' LUN sizes cached (one per free LUN, absent LUN 5 too)');
};

subtest 'features on tgt: no offload under require, bulk under auto' => sub {
    ok(!$C->volume_has_feature($scfg, "copy-offload-$_", 'tgt', 'vm-100-disk-0', undef, 0), "require: not $_")
        for qw(atomic bulk);
    my $plan = $C->offload_plan($scfg, 'tgt', 'vm-100-disk-0');
    like($plan->{reason}, qr/xcopy-lid1: source: INQUIRY 3PC bit is 0/, "blkclone's reason: $plan->{reason}");
    ok($C->volume_has_feature($auto, 'copy-offload-bulk', 'tgt', 'vm-100-disk-0', undef, 0), 'auto: bulk');
    ok(!$C->volume_has_feature($auto, 'copy-offload-atomic', 'tgt', 'vm-100-disk-0', undef, 0), 'auto: not atomic');
};

subtest 'require on tgt: start refused (exit 3), the target untouched, freed and zeroed' => sub {
    my $tvol = locked('tgt', $scfg, sub { $C->copy_image_prepare($scfg, 'tgt', 'vm-100-disk-0', $scfg, 'tgt', 200, undef, {}) });
    is($tvol, 'vm-200-disk-0', 'prepare assigned a target');
    is($Pool->can('load')->('tgt')->{3}{volname}, $tvol, 'LUN 3, the smallest that fits');
    my %before = map { $_ => lun_sha($_) } 2, 3, 4;
    eval { $C->copy_image_start($scfg, 'tgt', 'vm-100-disk-0', $scfg, 'tgt', $tvol, undef) };
    like($@, qr/^copy offload unavailable \(blkclone exit 3\): .*INQUIRY 3PC bit is 0.*; the destination is untouched$/m,
        "dies with blkclone's message: " . ($@ =~ s/\n$//r));
    is(lun_sha($_), $before{$_}, "LUN $_ bytes unchanged") for 2, 3, 4;
    ok(!$Local->can('job_link_get')->('tgt', $tvol), 'no job recorded');
    capture(sub { vdisk_free('tgt', $scfg, $tvol) });
    ok(zeros(lun_file(3)), 'freeing it zeroed LUN 3 on the target (it held a pattern)');
    is_deeply([keys %{ $Pool->can('load')->('tgt') }], [1], 'LUN 3 is back in the pool');
};

subtest 'auto on tgt: prepare, start, status to complete, bytes equal' => sub {
    my $tvol = locked('tgt', $auto, sub { $C->copy_image_prepare($auto, 'tgt', 'vm-100-disk-0', $auto, 'tgt', 201, undef, {}) });
    my ($out, $err) = capture(sub { $C->copy_image_start($auto, 'tgt', 'vm-100-disk-0', $auto, 'tgt', $tvol, undef) });
    is($err, '', 'start returned');
    like($out, qr/blkclone job [0-9a-f]{16}, host \(bulk\)/, 'the task log: ' . ($out =~ s/\n$//r));
    my ($s, $seen) = wait_copy('tgt', $auto, $tvol);
    is($s->{state}, 'complete', 'status reached complete after ' . scalar(@$seen) . ' polls');
    ok(!grep({ $seen->[$_] < $seen->[$_ - 1] } 1 .. $#$seen), 'progress never went back: ' . join(' ', @$seen));
    ok(slurp_file(lun_file(1)) eq slurp_file(lun_file(3)), 'LUN 3 equals LUN 1 byte for byte (backing files)');
    capture(sub { vdisk_free('tgt', $auto, $tvol) });
    ok(zeros(lun_file(3)), 'freed: zeroed');
};

subtest 'copy_images_start on tgt: two disks, one job' => sub {
    my $m = $Pool->can('load')->('tgt');
    $m->{2} = { volname => 'vm-100-disk-1', vmid => 100, size => 8 << 20 };
    $Pool->can('save')->('tgt', $m);
    my @t = map { my $src = $_;
        locked('tgt', $auto, sub { $C->copy_image_prepare($auto, 'tgt', $src, $auto, 'tgt', 202, undef, {}) }) }
        'vm-100-disk-0', 'vm-100-disk-1';
    is_deeply(\@t, ['vm-202-disk-0', 'vm-202-disk-1'], 'two targets');
    my $a = $Pool->can('load')->('tgt');
    my ($l0) = grep { $a->{$_}{volname} eq $t[0] } keys %$a;
    my ($l1) = grep { $a->{$_}{volname} eq $t[1] } keys %$a;
    is("$l0 $l1", '3 4', 'on LUNs 3 and 4');
    my ($out, $err) = capture(sub {
        $C->copy_images_start($auto, 'tgt', $auto, 'tgt', [{ source => 'vm-100-disk-0', target => $t[0] },
            { source => 'vm-100-disk-1', target => $t[1] }]);
    });
    is($err, '', 'started');
    my %ids = map { $_ => 1 } $out =~ /blkclone job ([0-9a-f]{16})/g;
    is(scalar keys %ids, 1, 'one job for both: ' . join(' ', keys %ids));
    is((wait_copy('tgt', $auto, $_))[0]{state}, 'complete', "$_ complete") for @t;
    ok(slurp_file(lun_file(1)) eq slurp_file(lun_file(3)), 'LUN 3 equals LUN 1');
    ok(slurp_file(lun_file(2)) eq first_bytes(lun_file(4), 8 << 20), 'LUN 4 starts with LUN 2 (8 MiB)');
    capture(sub { vdisk_free('tgt', $auto, $_) }) for @t;
    $m = $Pool->can('load')->('tgt');
    delete $m->{2};
    $Pool->can('save')->('tgt', $m);
};

subtest 'ownership on tgt' => sub {
    for my $vol ('vm-200-lun1', 'vm-200-disk-0') {
        eval { $C->path($scfg, $vol, 'tgt') };
        like($@, qr/does not exist on storage 'tgt'/, "path $vol refused");
        eval { $C->volume_size_info($scfg, 'tgt', $vol) };
        like($@, qr/does not exist on storage 'tgt'/, "volume_size_info $vol refused");
        eval { locked('tgt', $scfg, sub { $C->free_image('tgt', $scfg, $vol, 0, 'raw') }) };
        like($@, qr/does not exist on storage 'tgt'/, "free_image $vol refused");
        eval { $C->copy_image_start($auto, 'tgt', $vol, $auto, 'tgt', 'vm-100-disk-0', undef) };
        like($@, qr/does not exist on storage 'tgt'/, "copy_image_start from $vol refused");
    }
    ok(!zeros(lun_file(1)), "VM 100's LUN 1 still holds its data");
};

subtest 'cancel via free_image while the copy is held mid-way' => sub {
    my $g = { type => 'blkcloneiscsi', portal => $ENV{BLKCLONE_PVE_PORTAL}, target => $ENV{BLKCLONE_PVE_GATE_TARGET},
        'blkclone-luns' => '1-2', 'blkclone-offload' => 'auto', shared => 1 };
    my $gate = "$ENV{BLKCLONE_PVE_GATE_MNT}/.gate";
    my $ctl = sub { write_file($gate, "$_[0]\n") };
    my $held = sub { (slurp_file($gate) =~ /^held (\d+)/m)[0] // 0 };
    $Pool->can('save')->('gated', { 1 => { volname => 'vm-100-disk-0', vmid => 100, size => 16 << 20 } });
    my $tvol = locked('gated', $g, sub { $C->copy_image_prepare($g, 'gated', 'vm-100-disk-0', $g, 'gated', 300, undef, {}) });
    $ctl->('arm gsrc.img read ' . (8 << 20));
    capture(sub { $C->copy_image_start($g, 'gated', 'vm-100-disk-0', $g, 'gated', $tvol, undef) });
    my $id = $Local->can('job_link_get')->('gated', $tvol)->{id};
    wait_until(sub { $held->() > 0 });
    ok($held->() > 0, "the job's read past 8 MiB is held at the gate (job $id)");
    is($Exec->can('job_status')->($id)->{state}, 'running', 'the job is running');
    ok(!zeros("$dir/gdst.img"), 'it has copied data below the held read onto the target');

    my $pid = fork() // die;
    if (!$pid) {
        my ($out, $err) = capture(sub { vdisk_free('gated', $g, $tvol) });
        print STDERR "# child: $err" if $err;
        POSIX::_exit($err ? 1 : 0);
    }
    my $log = "$ENV{BLKCLONE_STATE_DIR}/jobs/$id.log";
    wait_until(sub { -e $log && slurp_file($log) =~ /cancel requested/ });
    like(-e $log ? slurp_file($log) : '', qr/cancel requested/, 'free_image asked the job to stop');
    $ctl->('open');
    waitpid($pid, 0);
    is($? >> 8, 0, 'free_image and its cleanup worker succeeded');
    ok(!-e "$ENV{BLKCLONE_STATE_DIR}/jobs/$id.json", 'the cancelled job was forgotten');
    ok(zeros("$dir/gdst.img"), 'the target LUN was zeroed after the job stopped');
    ok(!exists $Pool->can('load')->('gated')->{2}, 'and is back in the pool');
    ok(!zeros("$dir/gsrc.img"), 'the source is untouched');
};

subtest 'raw+size export and import on tgt (storage_migrate)' => sub {
    is_deeply([$C->volume_export_formats($scfg, 'tgt', 'vm-100-disk-0', undef, undef, 0)], ['raw+size'], 'export: raw+size');
    is_deeply([$C->volume_import_formats($scfg, 'tgt', 'vm-100-disk-0', undef, undef, 0)], ['raw+size'], 'import: raw+size');
    is_deeply([$C->volume_export_formats($scfg, 'tgt', 'vm-100-disk-0', undef, undef, 1)], [], 'none with snapshots');
    my $stream = "$root/stream.raw";
    open(my $fh, '>', $stream) or die;
    $C->volume_export($scfg, 'tgt', $fh, 'vm-100-disk-0', 'raw+size', undef, undef, 0);
    close($fh);
    my $data = slurp_file($stream);
    is(unpack('Q<', substr($data, 0, 8)), 16 << 20, 'the header holds the size (64-bit little-endian)');
    ok(substr($data, 8) eq slurp_file(lun_file(1)), 'then LUN 1 byte for byte');
    ok(!glob("$root/blkclone-export-*"), 'the temporary directory is gone');

    open($fh, '<', $stream) or die;
    my $vol = $C->volume_import($scfg, 'tgt', $fh, 'vm-400-disk-0', 'raw+size', undef, undef, 0, 0);
    close($fh);
    is($vol, 'tgt:vm-400-disk-0', 'imported under its name');
    is($Pool->can('load')->('tgt')->{3}{volname}, 'vm-400-disk-0', 'on LUN 3');
    ok(slurp_file(lun_file(3)) eq slurp_file(lun_file(1)), 'LUN 3 equals LUN 1');
    open($fh, '<', $stream) or die;
    eval { $C->volume_import($scfg, 'tgt', $fh, 'vm-400-disk-0', 'raw+size', undef, undef, 0, 0) };
    like($@, qr/volume 'tgt:vm-400-disk-0' already exists/, 'the same name again: refused');
    seek($fh, 0, 0);
    $vol = $C->volume_import($scfg, 'tgt', $fh, 'vm-400-disk-0', 'raw+size', undef, undef, 0, 1);
    close($fh);
    is($vol, 'tgt:vm-400-disk-1', 'with allow_rename: another name');
    ok(first_bytes(lun_file(4), 16 << 20) eq slurp_file(lun_file(1)), 'on LUN 4, equal to LUN 1');
    write_file("$root/short.raw", substr($data, 0, 8 + (1 << 20)));
    open($fh, '<', "$root/short.raw") or die;
    eval { $C->volume_import($scfg, 'tgt', $fh, 'vm-401-disk-0', 'raw+size', undef, undef, 0, 0) };
    close($fh);
    like($@, qr/the stream ended after 1048576 of 16777216 bytes/, 'a short stream: refused');
    ok(!grep({ $_->{volname} eq 'vm-401-disk-0' } values %{ $Pool->can('load')->('tgt') }), 'nothing allocated for it');
    ok(!glob("$root/blkclone-import-*"), 'no temporary directory left');
    open($fh, '>', "$root/x.raw") or die;
    eval { $C->volume_export($scfg, 'tgt', $fh, 'vm-400-lun1', 'raw+size', undef, undef, 0) };
    like($@, qr/does not exist on storage 'tgt'/, "export of a name that is not the volume's: refused");
    capture(sub { vdisk_free('tgt', $scfg, $_) }) for 'vm-400-disk-0', 'vm-400-disk-1';
    is_deeply([keys %{ $Pool->can('load')->('tgt') }], [1], 'back to the pool');
};

subtest 'alloc and free on tgt' => sub {
    my $vol = locked('tgt', $scfg, sub { $C->alloc_image('tgt', $scfg, 300, 'raw', undef, 10 * 1024) });
    is($vol, 'vm-300-disk-0', '10 MiB: a Proxmox name');
    is($Pool->can('load')->('tgt')->{3}{volname}, $vol, 'on the smallest free LUN that fits (3, not 2 or 4)');
    my ($out) = capture(sub { locked('tgt', $scfg, sub { $C->alloc_image('tgt', $scfg, 300, 'raw', 'vm-300-cloudinit', 4096) }) });
    like($out, qr/vm-300-cloudinit: 4194304 bytes asked, LUN 2 \(8388608 bytes\) assigned whole \(an EFI or TPM disk/,
        'a cloud-init disk: LUN 2, and the log says it takes it whole');
    eval { locked('tgt', $scfg, sub { $C->alloc_image('tgt', $scfg, 302, 'raw', undef, 64 * 1024) }) };
    like($@, qr/no free LUN of at least 67108864 bytes/, 'nothing big enough');
    write_file(lun_file(3), "\x5a" x (16 << 20));
    vdisk_free('tgt', $scfg, $_) for $vol, 'vm-300-cloudinit';
    ok(zeros(lun_file(3)), 'free zeroed LUN 3 on the target');
    is_deeply([keys %{ $Pool->can('load')->('tgt') }], [1], 'both back in the pool');
};

subtest 'CHAP' => sub {
    my $chap = { %$scfg, target => $ENV{BLKCLONE_PVE_CHAP_TARGET}, username => $ENV{BLKCLONE_PVE_CHAP_USER},
        'blkclone-luns' => '1' };
    $Pool->can('save')->('chap', { 1 => { volname => 'vm-100-disk-0', vmid => 100, size => 16 << 20 } });
    eval { $C->volume_size_info($chap, 'chap', 'vm-100-disk-0') };
    like($@, qr/no secret|BLKCLONE_ISCSI_PASSWORD_FILE/, "without the secret file blkclone cannot log in: $@");
    $C->on_add_hook('chap', $chap, password => $ENV{BLKCLONE_PVE_CHAP_SECRET});
    is(scalar $C->volume_size_info($chap, 'chap', 'vm-100-disk-0'), 16 << 20, 'with it: logged in, 16 MiB');
    write_file("$root/priv/chap.pw", "wrong\n");
    eval { $C->volume_size_info($chap, 'chap', 'vm-100-disk-0') };
    like($@, qr/probe failed/, 'a wrong secret fails');
};

done_testing();
