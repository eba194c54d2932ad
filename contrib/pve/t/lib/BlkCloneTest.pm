package BlkCloneTest;

# Shared setup of the plugin tests: private state, secret and lock
# directories, which blkclone to run, and capturing what the plugin
# prints (the task log).

use strict;
use warnings;

use File::Temp qw(tempdir);
use JSON::PP;

use PVEEnv;

use PVE::Storage::Custom::BlkClone::Exec;
use PVE::Storage::Custom::BlkClone::LunPool;
use PVE::Storage::Custom::BlkClone::Local;

use base 'Exporter';
our @EXPORT = qw(setup real_blkclone fake_blkclone fake_answer fake_log capture
    slurp_file write_file);

my $root;

sub setup {
    $root = tempdir('blkclone-pve-t.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$root/$_" for qw(state priv lock fake refusals);
    $PVE::Storage::Custom::BlkClone::LunPool::STATE_DIR = "$root/state";
    $PVE::Storage::Custom::BlkClone::Local::DIR = "$root/local";
    set_lock_dir("$root/lock");
    # blkclone remembers refused pairs; keep that out of /var/lib
    $ENV{BLKCLONE_STATE_DIR} = "$root/refusals";
    delete $ENV{BLKCLONE_ISCSI_PASSWORD};
    delete $ENV{BLKCLONE_ISCSI_PASSWORD_FILE};
    return $root;
}

# The binary under test; the tests are meaningless without it.
sub real_blkclone {
    my $b = $ENV{BLKCLONE} // '';
    die "BLKCLONE must name a built blkclone (got '$b')\n" if !-x $b;
    $PVE::Storage::Custom::BlkClone::Exec::BINARY = $b;
    return $b;
}

sub fake_blkclone {
    my $bin = $ENV{FAKE_BLKCLONE_BIN} // die "FAKE_BLKCLONE_BIN unset\n";
    $ENV{FAKE_BLKCLONE_DIR} = "$root/fake";
    $ENV{FAKE_BLKCLONE_LOG} = "$root/fake.log";
    unlink "$root/fake.log";
    unlink glob("$root/fake/*");
    $PVE::Storage::Custom::BlkClone::Exec::BINARY = $bin;
    return $bin;
}

# fake_answer(KEY, exit => N, out => TEXT, err => TEXT, outs => [TEXT, ...])
# (outs: one answer per run, the last repeating)
sub fake_answer {
    my ($key, %a) = @_;
    $a{outs} = join("----\n", map { "$_\n" } @{ $a{outs} }) if ref($a{outs});
    unlink "$root/fake/$key.n";
    for my $k (qw(exit out err outs)) {
        my $f = "$root/fake/$key.$k";
        if (defined $a{$k}) { write_file($f, $a{$k}) } else { unlink $f }
    }
}

# The runs of the fake so far, oldest first: [{argv, password_file, password_env}]
sub fake_log {
    my $f = "$root/fake.log";
    return [] if !-e $f;
    return [map { JSON::PP->new->decode($_) } split /\n/, slurp_file($f)];
}

# capture(sub { ... }): (what it printed on STDOUT, its result, its error)
sub capture {
    my ($code) = @_;
    my $out = '';
    my @res;
    {
        open(my $fh, '>', \$out) or die;
        my $old = select($fh);
        @res = eval { $code->() };
        select($old);
        close($fh);
    }
    return ($out, $@, @res);
}

sub slurp_file {
    my ($f) = @_;
    open(my $fh, '<', $f) or die "$f: $!\n";
    binmode $fh;
    local $/;
    return scalar <$fh>;
}

sub write_file {
    my ($f, $text) = @_;
    open(my $fh, '>', $f) or die "$f: $!\n";
    print $fh $text;
    close($fh) or die "$f: $!\n";
}

1;
