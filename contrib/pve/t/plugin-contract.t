#!/usr/bin/perl
# The plugin's side of the RFC against a stand-in blkclone: what it asks
# blkclone per pair, what copy_image does with each outcome, and the
# copy-offload option.  (tgt has no EXTENDED COPY, so an offload-capable
# pair and a copy failing part-way only exist here; plugin-tgt.t runs
# the real binary.)
use strict;
use warnings;
use Test::More;
use lib 't/lib', '.';
use PVEEnv;
use BlkCloneTest;
use PVE::Storage::Plugin;
use PVE::Storage::Custom::BlkcloneISCSIPlugin;

my $C = 'PVE::Storage::Custom::BlkcloneISCSIPlugin';
my $root = setup();
$PVE::Storage::Custom::BlkcloneISCSIPlugin::PRIV_DIR = "$root/priv";
my $Pool = 'PVE::Storage::Custom::BlkClone::LunPool';

ok(exists $C->properties()->{'copy-offload'}, 'declares copy-offload while pve-storage has none');
my @warnings;
{
    local $SIG{__WARN__} = sub { push @warnings, $_[0] };
    load_custom_plugins($C);
}
ok(!grep({ /Error loading storage plugin/ } @warnings), 'loads as PVE loads a custom plugin (register, then init over all plugins)')
    or diag(@warnings);
is(PVE::Storage::Plugin->lookup('blkcloneiscsi'), $C, 'registered as blkcloneiscsi');
my $opts = PVE::Storage::Plugin->private()->{options}{blkcloneiscsi};
ok($opts->{'copy-offload'} && $opts->{luns}, 'its options include copy-offload and luns');
is(PVE::Storage::Plugin->private()->{propertyList}{'copy-offload'}{default}, 1, 'copy-offload defaults to on');

my $scfg = { type => 'blkcloneiscsi', portal => '127.0.0.1:3260', target => 'iqn.2026-11.test:a',
    luns => '1-4', shared => 1 };
my $url = 'iscsi://127.0.0.1:3260/iqn.2026-11.test:a';
my $XCOPY_PLAN = '{"schema":1,"volumes":[],"plan":{"method":"xcopy-lid1","steps":[]}}';
my $NO_PLAN = '{"schema":1,"volumes":[],"plan":{"method":null,"steps":['
    . '{"method":"xcopy-lid1","usable":false,"reason":"source: INQUIRY 3PC bit is 0"},'
    . '{"method":"host","usable":false,"reason":"--offload=require: no host copy"}]}}';
my $COPY_OK = '{"schema":1,"status":"ok","method":"xcopy-lid1","size_bytes":16777216,'
    . '"offloaded_bytes":16777216,"seconds":0.5}';

sub own { my ($st, %m) = @_; $Pool->can('save')->($st, { map { $_ => $m{$_} } keys %m }) }

fake_blkclone();
write_file("$root/fake/size-$_", 16777216) for 1, 3, 4;
write_file("$root/fake/size-2", 8388608);    # too small for LUN 1's data
own('st', 1 => { volname => 'vm-100-lun1', vmid => 100, size => 16777216 });

subtest 'addresses' => sub {
    is(($C->path($scfg, 'vm-100-lun1', 'st'))[0], "$url/1", 'path is the libiscsi URL');
    is(($C->parse_volname('vm-100-lun1'))[2], 100, 'owner from the volume name');
    eval { $C->parse_volname('lun1') };
    like($@, qr/unable to parse/, 'foreign names refused');
    is($C->qemu_blockdev_options($scfg, 'st', 'vm-100-lun1')->{lun}, 1, 'blockdev LUN');
};

subtest 'has_feature copy-offload, per pair' => sub {
    fake_answer('probe-1-3', out => $XCOPY_PLAN);
    fake_answer('probe-1-4', out => $NO_PLAN);
    ok($C->volume_has_feature($scfg, 'copy-offload', 'st', 'vm-100-lun1', undef, 0, {}),
        'LUN 1 -> the LUN an allocation picks (3): offload');
    my @probes = grep { $_->{argv}[0] eq 'probe' && @{ $_->{argv} } == 5 } @{ fake_log() };
    is_deeply($probes[-1]{argv}, ['probe', '--json', '--offload=require', "$url/1", "$url/3"],
        'asked blkclone for exactly that pair under require');
    ok(!$C->volume_has_feature($scfg, 'copy-offload', 'st', 'vm-100-lun1', undef, 0,
        { target_volname => 'vm-100-lun4' }), 'LUN 1 -> LUN 4: no offload');
    my ($m, $why) = $C->copy_offload_check($scfg, 'st', 'vm-100-lun1', { target_volname => 'vm-100-lun4' });
    like($why, qr/INQUIRY 3PC bit is 0/, "the reason comes from blkclone: $why");
    ok(!$C->volume_has_feature($scfg, 'copy-offload', 'st', 'vm-100-lun1', undef, 0,
        { target_storeid => 'other' }), 'another storage: no offload');
    ok(!$C->volume_has_feature($scfg, 'copy-offload', 'st', 'vm-100-lun1', undef, 0,
        { target_format => 'qcow2' }), 'another format: no offload');
    ok(!$C->volume_has_feature($scfg, 'copy-offload', 'st', 'vm-100-lun1', 'snap1', 0, {}),
        'a snapshot: no offload');
    fake_answer('probe-1-3', exit => 1, err => "blkclone: iSCSI login: refused\n");
    ($m, $why) = $C->copy_offload_check($scfg, 'st', 'vm-100-lun1', {});
    ok(!defined $m && $why =~ /login: refused/, "a failing probe is no offload: $why");
    ok($C->volume_has_feature($scfg, 'copy', 'st', 'vm-100-lun1', undef, 0), 'copy is still a feature');
};

subtest 'copy-offload 0 only disables' => sub {
    fake_answer('probe-1-3', out => $XCOPY_PLAN);
    my $off = { %$scfg, 'copy-offload' => 0 };
    my $n = @{ fake_log() };
    ok(!$C->volume_has_feature($off, 'copy-offload', 'st', 'vm-100-lun1', undef, 0, {}),
        'disabled although blkclone would offload');
    my ($out, $err) = capture(sub { $C->copy_image($off, 'st', 'vm-100-lun1', 200, 'raw', {}) });
    like($err, qr/copy offload is disabled on storage 'st' \(copy-offload 0\)/, 'copy_image refuses');
    is(scalar @{ fake_log() }, $n, 'blkclone was not run at all');
    is_deeply([sort keys %{ $Pool->can('load')->('st') }], [1], 'nothing allocated');
    fake_answer('probe-1-3', out => $NO_PLAN);
    ok(!$C->volume_has_feature({ %$scfg, 'copy-offload' => 1 }, 'copy-offload', 'st', 'vm-100-lun1', undef, 0, {}),
        'copy-offload 1 does not enable what blkclone denies');
};

subtest 'copy_image: offloaded' => sub {
    fake_answer('copy', out => $COPY_OK, err => "    (50.00/100%)\n    (100.00/100%)\n");
    my ($out, $err, $vol) = capture(sub { $C->copy_image($scfg, 'st', 'vm-100-lun1', 200, 'raw', {}) });
    is($err, '', 'no error');
    is($vol, 'vm-200-lun3', 'returns the new volume: the smallest free LUN that fits');
    my @prog = $out =~ /^(\s*\(\d+\.\d\d\/100%\))$/mg;
    is_deeply(\@prog, ['    (50.00/100%)', '    (100.00/100%)'], 'progress in the task log as qemu-img prints it');
    like($out, qr/xcopy-lid1 copied 16777216 of 16777216 bytes in the array/, 'summary line');
    my $copy = (grep { $_->{argv}[0] eq 'copy' } @{ fake_log() })[-1];
    is_deeply($copy->{argv}, ['copy', '--offload=require', '--json', '--progress', "$url/1", "$url/3"],
        'blkclone copy --offload=require --json --progress SRC DST');
    is($Pool->can('load')->('st')->{3}{volname}, 'vm-200-lun3', 'LUN 3 now belongs to VM 200');
    my @l = map { $_->{volid} } @{ $C->list_images('st', $scfg, 200) };
    is_deeply(\@l, ['st:vm-200-lun3'], 'list_images shows it for VM 200');
};

subtest 'copy_image: exit 3 frees the LUN without touching it' => sub {
    fake_answer('copy', exit => 3, err => "blkclone: plan: offload required but unavailable: xcopy-lid1: source: INQUIRY 3PC bit is 0\n");
    my $n = @{ fake_log() };
    my ($out, $err) = capture(sub { $C->copy_image($scfg, 'st', 'vm-100-lun1', 201, 'raw', {}) });
    like($err, qr/^copy offload unavailable \(blkclone exit 3\): plan: offload required but unavailable: xcopy-lid1: source: INQUIRY 3PC bit is 0; the destination is untouched, a host copy may be used instead; st:vm-201-lun4 was freed\n$/,
        'dies with blkclone\'s message');
    ok(!grep({ $_->{argv}[0] eq 'zero' } @{ fake_log() }[$n .. $#{ fake_log() }]), 'no write to the LUN (no zero)');
    ok(!exists $Pool->can('load')->('st')->{4}, 'LUN 4 is free again');
};

subtest 'copy_image: exit 1 zeroes and frees the partial copy' => sub {
    fake_answer('copy', exit => 1, err => "    (40.00/100%)\nblkclone: iscsi://x/4: EXTENDED COPY at LBA 8192: COPY ABORTED 0D/02\n");
    my $n = @{ fake_log() };
    my ($out, $err) = capture(sub { $C->copy_image($scfg, 'st', 'vm-100-lun1', 202, 'raw', {}) });
    like($err, qr/^copy offload failed part-way \(blkclone exit 1\): iscsi:\/\/x\/4: EXTENDED COPY at LBA 8192: COPY ABORTED 0D\/02; the destination holds a partial copy; st:vm-202-lun4 was freed \(zeroed\)$/m,
        'dies with blkclone\'s message and says what became of the LUN');
    my @runs = @{ fake_log() }[$n .. $#{ fake_log() }];
    is_deeply((grep { $_->{argv}[0] eq 'zero' } @runs)[0]{argv}, ['zero', '--json', "$url/4"], 'the LUN was zeroed');
    like($out, qr/^    \(40\.00\/100%\)$/m, 'progress up to the failure was shown');
    ok(!exists $Pool->can('load')->('st')->{4}, 'LUN 4 is free again');

    fake_answer('zero', exit => 1, err => "blkclone: WRITE SAME failed\n");
    ($out, $err) = capture(sub { $C->copy_image($scfg, 'st', 'vm-100-lun1', 203, 'raw', {}) });
    like($err, qr/st:vm-203-lun4 stays allocated: blkclone zero of .* failed \(exit 1\): WRITE SAME failed/,
        'a LUN that cannot be zeroed stays allocated, and says so');
    is($Pool->can('load')->('st')->{4}{volname}, 'vm-203-lun4', 'it is still assigned');
    fake_answer('zero');
    $C->free_image('st', $scfg, 'vm-203-lun4');
    ok(!exists $Pool->can('load')->('st')->{4}, 'free_image releases it once zeroing works');
};

subtest 'copy_image: exit 2 and no room' => sub {
    fake_answer('copy', exit => 2, err => "blkclone: x: check: destination in use\n");
    my (undef, $err) = capture(sub { $C->copy_image($scfg, 'st', 'vm-100-lun1', 204, 'raw', {}) });
    like($err, qr/^blkclone refused the copy \(exit 2\): x: check: destination in use; the destination is untouched; st:vm-204-lun4 was freed$/m, 'exit 2');
    (undef, $err) = capture(sub { $C->copy_image($scfg, 'st', 'vm-100-lun1', 205, 'qcow2', {}) });
    like($err, qr/raw only/, 'no format conversion');
    own('st', 1 => { volname => 'vm-100-lun1', vmid => 100, size => 16777216 },
        3 => { volname => 'vm-200-lun3', vmid => 200, size => 16777216 },
        4 => { volname => 'vm-201-lun4', vmid => 201, size => 16777216 });
    my $n = grep { $_->{argv}[0] eq 'copy' } @{ fake_log() };
    (undef, $err) = capture(sub { $C->copy_image($scfg, 'st', 'vm-100-lun1', 206, 'raw', {}) });
    like($err, qr/no free LUN of at least 16777216 bytes/, 'only LUN 2 (8 MiB) is free: refused');
    is(scalar(grep { $_->{argv}[0] eq 'copy' } @{ fake_log() }), $n, 'blkclone copy not run');
};

subtest 'CHAP: the secret file' => sub {
    my $chap = { %$scfg, username => 'pve' };
    $C->on_add_hook('chap', $chap, password => 's3cret');
    my $pw = "$root/priv/chap.pw";
    is(slurp_file($pw), "s3cret\n", 'secret stored in priv/chap.pw');
    is((stat $pw)[2] & 0777, 0600, 'readable by root only');
    $C->volume_size_info($chap, 'chap', 'vm-100-lun1');
    my $run = fake_log()->[-1];
    is($run->{argv}[-1], 'iscsi://pve@127.0.0.1:3260/iqn.2026-11.test:a/1', 'user in the URL');
    is($run->{password_file}, $pw, 'secret by file name');
    ok(!grep({ /s3cret/ } @{ $run->{argv} }), 'not in argv');
    unlike(($C->path($chap, 'vm-100-lun1', 'chap'))[0], qr/pve@/, 'path for QEMU carries no user');
    $C->on_delete_hook('chap', $chap);
    ok(!-e $pw, 'removed with the storage');
    eval { $C->volume_size_info({ %$chap, username => 'a b' }, 'chap', 'vm-100-lun1') };
    like($@, qr/CHAP user name/, 'a user name that would break the URL is refused');
};

subtest 'a pve-storage that already defines copy-offload' => sub {
    # Once the RFC is merged the option is pve-storage's; declaring it
    # again would make PVE's init() die.  A fresh process, as the
    # registry is per process.
    my $code = 'use PVEEnv; $SIG{__WARN__} = sub { print STDERR @_ if $_[0] !~ /older storage API/ };'
        . ' define_base_property("copy-offload", { type => "boolean", optional => 1 });'
        . ' load_custom_plugins("PVE::Storage::Custom::BlkcloneISCSIPlugin");'
        . ' my $o = PVE::Storage::Plugin->private()->{options}{blkcloneiscsi};'
        . ' print exists $o->{"copy-offload"} ? "option\n" : "none\n";'
        . ' print exists PVE::Storage::Custom::BlkcloneISCSIPlugin->properties()->{"copy-offload"} ? "declared\n" : "not declared\n";';
    my $out = `$^X -It/lib -I. -e '$code' 2>&1`;
    is($out, "option\nnot declared\n", 'registers, offers the option, does not declare it again');
};

done_testing();
