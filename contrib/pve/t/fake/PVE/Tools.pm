package PVE::Tools;

# Test double of pve-common's PVE::Tools: run_command (real: src/PVE/Cmd.pm
# run(), which PVE::Tools::run_command calls) and lock_file (real:
# src/PVE/Tools.pm lock_file() -> lock_file_full()).
#
# run_command, as the real one where a caller can tell:
#   - each line of stdout/stderr goes to outfunc/errfunc without its
#     newline; the exit code is returned with noerr and is fatal
#     ("command '...' failed: exit code N") without it;
#   - timeout: an alarm of its own (its own SIGALRM handler); the child
#     is killed and "command '...' failed: got timeout" is died with,
#     noerr or not; an outer alarm (a cluster lock's) is re-armed after
#     the command with the time it had left;
#   - without a timeout the outer alarm stays armed while the command
#     runs, and is cancelled (alarm(0)) when run_command returns;
#   - noerr swallows every other error, a die from an outer SIGALRM
#     handler too: run_command then returns -1 and the child is neither
#     killed nor waited for (it goes on running);
#   - a child killed by a signal is an error ("got signal N"), so -1
#     with noerr.
# Stricter than the real one on purpose: a string command is refused, so
# the plugin can never build a shell line.

use strict;
use warnings;

use Fcntl qw(:flock);
use IO::File;
use IO::Select;
use IPC::Open3;
use POSIX ();
use Symbol qw(gensym);
use Time::HiRes qw(alarm);

use base 'Exporter';
our @EXPORT_OK = qw(run_command lock_file);

# Every command run, for tests that check what was sent.
our @COMMANDS;

sub run_command {
    my ($cmd, %param) = @_;
    die "run_command: a command must be an array of arguments (no shell)\n"
        if ref($cmd) ne 'ARRAY' || grep { ref($_) } @$cmd;
    push @COMMANDS, [@$cmd];
    my $cmdstr = join(' ', @$cmd);
    my $timeout = $param{timeout};
    my ($pid, $oldtimeout);
    my $exitcode = -1;

    eval {
        my ($in, $out, $err) = (undef, undef, gensym);
        $pid = open3($in, $out, $err, @$cmd);
        close($in);

        local $SIG{ALRM} = sub { die "got timeout\n" } if $timeout;
        $oldtimeout = alarm($timeout) if $timeout;

        my %buf = (out => '', err => '');
        my %fn = (out => $param{outfunc}, err => $param{errfunc});
        my %of = (fileno($out) => 'out', fileno($err) => 'err');
        my $sel = IO::Select->new($out, $err);
        while ($sel->count) {
            for my $fh ($sel->can_read(1)) {
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
        if (my $sig = $status & 127) {
            die "got signal $sig\n";
        } elsif ($exitcode = $status >> 8) {
            die "exit code $exitcode\n";
        }
        alarm(0);
    };
    my $err = $@;
    alarm(0);
    alarm($oldtimeout) if $oldtimeout;
    if ($err) {
        if ($pid && $err eq "got timeout\n") {
            kill('KILL', $pid);
            waitpid($pid, 0);
            die "command '$cmdstr' failed: $err";
        }
        die "command '$cmdstr' failed: $err" if !$param{noerr};
    }
    return $exitcode;
}

# lock_file($filename, $timeout, $code, @param): an exclusive flock on
# $filename, waited for at most $timeout seconds (default 10), then
# $code->(@param) in scalar context.  Returns its result; on any error
# returns undef with the error in $@ ("can't lock file '...' - got
# timeout" when the lock was not had in time).  Not modelled: the real
# one's re-entry of a lock this process already holds.
sub lock_file {
    my ($filename, $timeout, $code, @param) = @_;
    $timeout = 10 if !$timeout;
    my $fh = IO::File->new(">>$filename") or do { $@ = "can't open file - $!\n"; return undef };
    my $prev_alarm = alarm(0);
    my $locked = eval {
        local $SIG{ALRM} = sub { die "got timeout\n" };
        alarm($timeout);
        my $ok = flock($fh, LOCK_EX);
        alarm(0);
        die "can't acquire lock '$filename' - $!\n" if !$ok;
        1;
    };
    alarm($prev_alarm);
    if (!$locked) {
        $@ = "can't lock file '$filename' - $@";
        return undef;
    }
    my $res = eval { $code->(@param) };
    close($fh);
    return undef if $@;
    return $res;
}

1;
