#!/usr/bin/perl
# The blkclone runner against the real binary on files (no reflink: exit
# 3 and 2; reflink on XFS: an offloaded copy with progress) and against a
# stand-in for what files cannot produce (exit 1, odd output).
use strict;
use warnings;
use Test::More;
use lib 't/lib', '.';
use PVEEnv;
use BlkCloneTest;
use PVE::Storage::Custom::BlkClone::Exec;

my $E = 'PVE::Storage::Custom::BlkClone::Exec';
my $root = setup();
my $bin = real_blkclone();
my $plain = $ENV{BLKCLONE_PVE_PLAIN_DIR} // $root;
my $xfs = $ENV{BLKCLONE_PVE_REFLINK_DIR};

# A source with data at 1 MiB and a hole elsewhere, and a destination
# filled with a pattern that must survive every refused copy.
sub make_pair {
    my ($dir, $name, $dst_mib) = @_;
    my ($s, $d) = ("$dir/$name-src.img", "$dir/$name-dst.img");
    write_file($s, '');
    truncate($s, 4 << 20) or die;
    open(my $fh, '+<', $s) or die;
    seek($fh, 1 << 20, 0);
    print $fh join('', map { chr(($_ * 7) % 251) } 0 .. 65535);
    close($fh);
    write_file($d, "\xA5" x ($dst_mib << 20));
    return ($s, $d);
}

subtest 'no reflink: offload unavailable, exit 3, destination untouched' => sub {
    my ($s, $d) = make_pair($plain, 'plain', 4);
    my ($m, $why) = $E->can('offload_method')->($s, $d);
    if (defined $m) {
        plan skip_all => "$plain offers $m: this case needs a filesystem without reflink";
    }
    like($why, qr/reflink: .*reflink/, "the reason names reflink: $why");
    my $before = slurp_file($d);
    my $r = $E->can('copy')->($s, $d);
    is($r->{exit}, 3, 'exit 3');
    ok($r->{failed} && $r->{untouched}, 'reported as failed, destination untouched');
    like($r->{message}, qr/^copy offload unavailable \(blkclone exit 3\): .*offload required but unavailable/,
        "blkclone's own message is in it: $r->{message}");
    like($r->{message}, qr/host copy may be used/, 'says the host path is safe');
    unlike($r->{message}, qr/^blkclone:|; blkclone:/, "blkclone's prefix is dropped");
    ok(slurp_file($d) eq $before, 'destination bytes unchanged');
};

subtest 'destination smaller than the source: exit 2, untouched' => sub {
    my ($s, $d) = make_pair($plain, 'small', 2);
    my $before = slurp_file($d);
    my $r = $E->can('copy')->($s, $d);
    is($r->{exit}, 2, 'exit 2');
    ok($r->{untouched}, 'untouched');
    like($r->{message}, qr/^blkclone refused the copy \(exit 2\): .*small/i, $r->{message});
    ok(slurp_file($d) eq $before, 'destination bytes unchanged');
};

subtest 'reflink on XFS: offloaded, progress in qemu-img form' => sub {
    plan skip_all => 'no XFS with reflink mounted (BLKCLONE_PVE_REFLINK_DIR)' if !$xfs;
    my ($s, $d) = make_pair($xfs, 'xfs', 4);
    my ($m, $why) = $E->can('offload_method')->($s, $d);
    is($m, 'reflink', 'the pair can be copied by reflink');
    my @pct;
    my $r = $E->can('copy')->($s, $d, on_progress => sub { push @pct, $_[0] });
    ok(!$r->{failed}, 'copy succeeded') or diag($r->{message});
    is($r->{method}, 'reflink', 'method reflink');
    cmp_ok($r->{offloaded_bytes}, '>=', 65536, 'the data extent was offloaded');
    is($r->{read_bytes}, 0, 'nothing read by the host');
    ok(slurp_file($d) eq slurp_file($s), 'destination equals source');
    ok(@pct >= 1, 'progress lines seen: ' . join(' ', @pct));
    is($pct[-1], '100.00', 'progress ends at 100.00');
    ok(!grep({ !/^\d{1,3}\.\d\d$/ } @pct), 'every progress value is NN.NN');
    my @sorted = sort { $a <=> $b } @pct;
    is_deeply(\@pct, \@sorted, 'progress never goes back');
};

subtest 'stand-in: exit 1 means a partial copy' => sub {
    fake_blkclone();
    fake_answer('copy', exit => 1,
        err => "    (10.00/100%)\n    (20.00/100%)\nblkclone: iscsi://h/t/2: EXTENDED COPY at LBA 2048: COPY ABORTED 0D/02\n");
    my @pct;
    my $r = $E->can('copy')->('iscsi://h/t/1', 'iscsi://h/t/2', on_progress => sub { push @pct, $_[0] });
    is($r->{exit}, 1, 'exit 1');
    ok(!$r->{untouched}, 'destination not untouched');
    like($r->{message}, qr/^copy offload failed part-way \(blkclone exit 1\): iscsi:\/\/h\/t\/2: EXTENDED COPY at LBA 2048: COPY ABORTED 0D\/02; the destination holds a partial copy$/,
        $r->{message});
    is_deeply(\@pct, ['10.00', '20.00'], 'progress lines went to the callback, not into the message');
    is_deeply(fake_log()->[-1]{argv},
        ['copy', '--offload=require', '--json', '--progress', 'iscsi://h/t/1', 'iscsi://h/t/2'],
        'the exact command line');
};

subtest 'stand-in: other exits and odd output' => sub {
    fake_blkclone();
    fake_answer('copy', exit => 3, err => "blkclone: plan: offload required but unavailable: x\n");
    my $r = $E->can('copy')->('a', 'b');
    ok($r->{exit} == 3 && $r->{untouched}, 'exit 3 from the stand-in: untouched');
    fake_answer('copy', exit => 9);
    $r = $E->can('copy')->('a', 'b');
    like($r->{message}, qr/did not finish \(exit 9\): no message/, 'an unknown exit is a failure, not untouched');
    ok(!$r->{untouched}, 'unknown exit: may be dirty');
    fake_answer('copy', exit => 0, out => '{"schema":1,"status":"ok","method":"host"}');
    eval { $E->can('copy')->('a', 'b') };
    like($@, qr/method 'host' under --offload=require/, 'a host copy is never taken for an offload');
    fake_answer('copy', exit => 0, out => 'not json');
    eval { $E->can('copy')->('a', 'b') };
    like($@, qr/unreadable JSON/, 'garbage on success is an error');
    fake_answer('probe-1-2', exit => 0, out => '{"schema":2,"plan":{"method":"xcopy-lid1"}}');
    my ($m, $why) = $E->can('offload_method')->('iscsi://h/t/1', 'iscsi://h/t/2');
    ok(!defined $m && $why =~ /schema 2/, "an unknown schema is no offload: $why");
    fake_answer('probe-1-2', exit => 0, out => '{"schema":1,"plan":{"method":"host","steps":[]}}');
    ($m) = $E->can('offload_method')->('iscsi://h/t/1', 'iscsi://h/t/2');
    ok(!defined $m, 'a host plan is no offload');
};

subtest 'jobs with the real binary on files' => sub {
    real_blkclone();
    my ($s, $d) = make_pair($plain, 'job', 4);
    eval { $E->can('job_start')->([[$s, $d]], offload => 'require', timeout => 60) };
    like($@, qr/^copy offload unavailable \(blkclone exit 3\): .*; the destination is untouched$/m,
        "require on files without reflink: refused before any write: $@");
    is(slurp_file($d), "\xA5" x (4 << 20), 'the destination is untouched');
    my $job = $E->can('job_start')->([[$s, $d]], offload => 'auto', stall_timeout => 600, timeout => 60);
    like($job->{id}, qr/^[0-9a-f]{16}$/, "job start: id $job->{id}");
    is($job->{pairs}[0]{consistency}, 'bulk', 'a host copy is bulk');
    my ($st, $last) = (undef, -1);
    for (1 .. 600) {
        $st = $E->can('job_status')->($job->{id}, timeout => 60);
        ok(0, "progress went back: $st->{progress} < $last") if $st->{progress} < $last;
        $last = $st->{progress};
        last if $st->{state} ne 'running';
        select(undef, undef, undef, 0.05);
    }
    is($st->{state}, 'complete', 'polled to complete');
    ok(slurp_file($s) eq slurp_file($d), 'bytes equal');
    ok($E->can('job_cancel')->($job->{id}, timeout => 60), 'cancelling a finished job is not an error');
    ok($E->can('job_forget')->($job->{id}, timeout => 60), 'forget');
    eval { $E->can('job_status')->($job->{id}, timeout => 60) };
    like($@, qr/job status $job->{id} failed \(exit 2\)/, 'a forgotten job is unknown');
    eval { $E->can('job_status')->('../../etc/passwd') };
    like($@, qr/invalid blkclone job id/, 'a malformed id is refused before blkclone runs');
};

subtest 'the secret: a file name in the environment, never argv' => sub {
    fake_blkclone();
    local $ENV{BLKCLONE_ISCSI_PASSWORD} = 'from-the-daemon';
    fake_answer('copy', exit => 3);
    $E->can('copy')->('iscsi://u@h/t/1', 'iscsi://u@h/t/2', password_file => "$root/priv/st.pw");
    my $run = fake_log()->[-1];
    is($run->{password_file}, "$root/priv/st.pw", 'BLKCLONE_ISCSI_PASSWORD_FILE names the file');
    is($run->{password_env}, 0, 'a BLKCLONE_ISCSI_PASSWORD of the caller is not passed on');
    ok(!grep({ /from-the-daemon|\.pw/ } @{ $run->{argv} }), 'argv holds neither');
    is($ENV{BLKCLONE_ISCSI_PASSWORD}, 'from-the-daemon', "the caller's environment is restored");
    $E->can('copy')->('a', 'b');
    ok(!defined fake_log()->[-1]{password_file}, 'no file named when the storage has no user');
};

subtest 'no shell' => sub {
    plan skip_all => 'the real run_command takes strings: this checks the test double' if real_pve();
    eval { PVE::Tools::run_command("$bin --version") };
    like($@, qr/array of arguments/, 'the test double refuses a shell line, so every run above was list-form');
};

done_testing();
