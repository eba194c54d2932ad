package PVE::Tools;

# Test double of pve-common's run_command: a flat array is exec'd
# directly (no shell), each line of stdout/stderr goes to
# outfunc/errfunc without its newline, the exit code is returned with
# noerr and is fatal without it, as in PVE.  A string command is
# refused: the plugin must never build a shell line.

use strict;
use warnings;

use IO::Select;
use IPC::Open3;
use POSIX ();
use Symbol qw(gensym);

use base 'Exporter';
our @EXPORT_OK = qw(run_command);

# Every command run, for tests that check what was sent.
our @COMMANDS;

sub run_command {
    my ($cmd, %param) = @_;
    die "run_command: a command must be an array of arguments (no shell)\n"
        if ref($cmd) ne 'ARRAY' || grep { ref($_) } @$cmd;
    push @COMMANDS, [@$cmd];
    my ($in, $out, $err) = (undef, undef, gensym);
    my $pid = open3($in, $out, $err, @$cmd);
    close($in);
    my %buf = (out => '', err => '');
    my %fn = (out => $param{outfunc}, err => $param{errfunc});
    my %of = (fileno($out) => 'out', fileno($err) => 'err');
    my $sel = IO::Select->new($out, $err);
    my $deadline = $param{timeout} ? time() + $param{timeout} : undef;
    while ($sel->count) {
        my $wait = $deadline ? $deadline - time() : undef;
        if (defined $wait && $wait <= 0) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            die "command '@$cmd' failed: got timeout\n";
        }
        for my $fh ($sel->can_read($wait)) {
            my $k = $of{ fileno($fh) };
            my $n = sysread($fh, my $chunk, 65536);
            if (!$n) {
                $sel->remove($fh);
                next;
            }
            $buf{$k} .= $chunk;
            while ($buf{$k} =~ s/^([^\n]*)\n//) {
                my $line = $1;
                $fn{$k} ? $fn{$k}->($line) : ($k eq 'out' ? print "$line\n" : print STDERR "$line\n");
            }
        }
    }
    for my $k (qw(out err)) {
        next if $buf{$k} eq '';
        $fn{$k} ? $fn{$k}->($buf{$k}) : print "$buf{$k}\n";
    }
    waitpid($pid, 0);
    my $status = $?;
    my $exit = POSIX::WIFEXITED($status) ? POSIX::WEXITSTATUS($status) : 128 + ($status & 127);
    die "command '@$cmd' failed: exit code $exit\n" if $exit && !$param{noerr};
    return $exit;
}

1;
