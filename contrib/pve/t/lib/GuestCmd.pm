package GuestCmd;

# Runs the plugin's commands in the test VM: a run_command for the
# packages that run commands (PVE's LVM plugin, the blkclone plugin, its
# Exec module) that sends each command line through the VM's command
# channel (tests/vm/vm.sh exec) instead of running it here.  The plugin
# and PVE's code stay on the host; lvm2, dm-multipath and blkclone run in
# the guest, on the LIO LUs.
#
# The channel returns stdout and stderr merged and the exit status; the
# command's stderr is therefore sent to a file in the guest and printed
# after a marker line, and split off again here, so outfunc and errfunc
# see what they would see locally.  A program named by an absolute path
# the guest does not have (PVE names /sbin/lvcreate; the guest may keep
# lvm2 elsewhere) is looked up in the guest's PATH by its base name.
#
# Semantics kept from run_command: the exit code (noerr returns it; else
# "ERRMSG: exit code N" or "command '...' failed: exit code N" dies), and
# timeout (the guest kills the command at the limit; the host waits 30 s
# more).

use strict;
use warnings;

our @TRANSPORT;    # the channel: (tests/vm/vm.sh, 'exec') by default
our @LOG;
# NAME=VALUE words set for every command in the guest (LVM_SYSTEM_DIR,
# BLKCLONE_STATE_DIR, ...)
our %ENV_GUEST;
my $MARK = "\037GUESTCMD-STDERR";

sub quote {
    my ($s) = @_;
    return "'" . ($s =~ s/'/'\\''/gr) . "'";
}

# The guest's sh script for one command line.  A program the guest lacks
# at that path is looked up by its base name; an lvm2 command the guest
# has only inside the lvm binary (a busybox initramfs keeps no lvcreate
# links) runs as "lvm NAME".
sub script {
    my ($cmd) = @_;
    my ($prog, @args) = @$cmd;
    my $env = join(' ', map { "$_=" . quote($ENV_GUEST{$_}) } sort keys %ENV_GUEST);
    return ($env ne '' ? "export $env; " : '')
        . 'p=' . quote($prog) . '; set --; if [ ! -x "$p" ]; then p="${p##*/}"; '
        . 'if ! command -v "$p" >/dev/null 2>&1 && command -v lvm >/dev/null 2>&1; then set -- "$p"; p=lvm; fi; fi; '
        . 'e=/tmp/guestcmd-err.$$; '
        . '"$p" "$@" ' . join(' ', map { quote($_) } @args) . ' 2>"$e" </dev/null; rc=$?; '
        . "printf '\\n\\037GUESTCMD-STDERR\\n'; cat \"\$e\"; rm -f \"\$e\"; exit \$rc";
}

sub install {
    my ($orig_pkg, @packages) = @_;
    no strict 'refs';
    no warnings 'redefine';
    my $orig = \&{"${orig_pkg}::run_command"};
    for my $pkg (@packages) {
        *{"${pkg}::run_command"} = sub { return run($orig, @_) };
    }
}

sub run {
    my ($orig, $cmd, %param) = @_;
    die "GuestCmd: a command must be an array\n" if ref($cmd) ne 'ARRAY';
    my $cmdstr = join(' ', @$cmd);
    push @LOG, [@$cmd];
    my @lines;
    local $ENV{EXEC_TIMEOUT} = $param{timeout} if $param{timeout};
    my $rc = $orig->([@TRANSPORT, script($cmd)], noerr => 1,
        ($param{timeout} ? (timeout => $param{timeout} + 30) : ()),
        outfunc => sub { push @lines, $_[0] }, errfunc => sub { push @lines, $_[0] });
    my ($i) = grep { $lines[$_] eq $MARK } reverse 0 .. $#lines;
    if (!defined $i) {    # the channel failed: no marker
        my $msg = "command '$cmdstr' failed: no answer from the guest (channel exit $rc): "
            . join(' ', @lines);
        die "$msg\n" if !$param{noerr};
        $param{errfunc}->($msg) if $param{errfunc};
        return -1;
    }
    my @out = @lines[0 .. $i - 1];
    pop @out if @out && $out[-1] eq '';    # the newline before the marker
    my @err = @lines[$i + 1 .. $#lines];
    for my $l (@out) { $param{outfunc} ? $param{outfunc}->($l) : print "$l\n" }
    for my $l (@err) { $param{errfunc} ? $param{errfunc}->($l) : print STDERR "$l\n" }
    if ($rc != 0 && !$param{noerr}) {
        die(($param{errmsg} ? "$param{errmsg}: " : "command '$cmdstr' failed: ") . "exit code $rc\n");
    }
    return $rc;
}

1;
