package PVE::Storage::Custom::BlkClone::Exec;

# Runs blkclone for the storage plugin and reads what it says: the probe
# plan that decides whether a pair can be copied in the array, and the
# outcome of "copy --offload=require" with its exit code mapped to what
# the caller may do next.  Addresses are whatever blkclone accepts; the
# plugin decides which ones it hands over.
#
# blkclone is always run from an argument list (never through a shell),
# and an iSCSI CHAP secret travels only as the name of a root-only file in
# BLKCLONE_ISCSI_PASSWORD_FILE, never in argv.

use strict;
use warnings;

use JSON::PP;
use PVE::Tools qw(run_command);

# Tests point this at a built tree; PVE installs run the packaged binary.
our $BINARY = '/usr/sbin/blkclone';

# blkclone's exit codes (man blkclone.8, EXIT STATUS).
use constant {
    EXIT_OK => 0,
    EXIT_FAILED => 1,       # failed while running: the destination is dirty
    EXIT_REFUSED => 2,      # refused before any write
    EXIT_NO_OFFLOAD => 3,   # offload unavailable/refused before any write
};

# The progress form qemu-img prints and PVE's clone code parses.
my $PROGRESS_RE = qr/^\s*\((\d{1,3}\.\d{2})\/100%\)\s*$/;

# run(\@args, %o): run blkclone with @args.  %o: password_file (CHAP
# secret file), on_progress (called with "NN.NN" for each progress line),
# timeout.  Returns { exit, stdout, messages => [stderr lines] }; never
# dies for a non-zero exit.
sub run {
    my ($args, %o) = @_;

    my $stdout = '';
    my @messages;
    # A secret in the daemon's own environment would win over the file
    # (blkclone reads BLKCLONE_ISCSI_PASSWORD first): never pass one on.
    local $ENV{BLKCLONE_ISCSI_PASSWORD};
    local $ENV{BLKCLONE_ISCSI_PASSWORD_FILE};
    delete $ENV{BLKCLONE_ISCSI_PASSWORD};
    if (defined $o{password_file}) {
        $ENV{BLKCLONE_ISCSI_PASSWORD_FILE} = $o{password_file};
    } else {
        delete $ENV{BLKCLONE_ISCSI_PASSWORD_FILE};
    }

    my $exit = eval {
        run_command(
            [$BINARY, @$args],
            noerr => 1,
            timeout => $o{timeout},
            outfunc => sub { $stdout .= "$_[0]\n" },
            errfunc => sub {
                my $line = shift;
                if ($line =~ $PROGRESS_RE) {
                    $o{on_progress}->($1) if $o{on_progress};
                } elsif ($line ne '') {
                    push @messages, $line;
                }
            },
        );
    };
    if (my $err = $@) {
        chomp $err;
        return { exit => -1, stdout => $stdout, messages => [@messages, $err] };
    }
    return { exit => $exit, stdout => $stdout, messages => \@messages };
}

# blkclone's own words, without its "blkclone: " prefix, one sentence per line.
sub message_text {
    my ($res) = @_;
    my @m = map { my $l = $_; $l =~ s/^blkclone:\s*//; $l } @{ $res->{messages} };
    return @m ? join('; ', @m) : "no message (exit $res->{exit})";
}

sub decode_object {
    my ($text, $what) = @_;
    my $obj = eval { JSON::PP->new->decode($text) };
    die "blkclone $what: unreadable JSON output: $@" if !$obj;
    die "blkclone $what: JSON output is not an object\n" if ref($obj) ne 'HASH';
    die "blkclone $what: JSON schema $obj->{schema} is not 1\n"
        if ($obj->{schema} // '') ne '1';
    return $obj;
}

# probe(\@addrs, %o): the decoded probe object, or die with blkclone's
# message.  With two addresses and offload => 'require' the plan is the
# one "copy --offload=require" would follow.
sub probe {
    my ($addrs, %o) = @_;
    my @args = ('probe', '--json');
    push @args, "--offload=$o{offload}" if $o{offload};
    my $res = run([@args, @$addrs], %o);
    die "blkclone probe failed (exit $res->{exit}): " . message_text($res) . "\n"
        if $res->{exit} != EXIT_OK;
    return decode_object($res->{stdout}, 'probe');
}

# size_bytes($addr, %o): the volume's capacity in bytes.
sub size_bytes {
    my ($addr, %o) = @_;
    my $p = probe([$addr], %o);
    my $v = $p->{volumes};
    die "blkclone probe: no volume in the output\n"
        if ref($v) ne 'ARRAY' || ref($v->[0]) ne 'HASH';
    my $size = $v->[0]{size_bytes};
    die "blkclone probe: size_bytes missing or not a number\n"
        if !defined $size || $size !~ /^\d+$/;
    return $size + 0;
}

# offload_method($src, $dst, %o): the in-array method blkclone would use
# for this pair under --offload=require, or undef and the reasons it
# gave for each method it could not use.  Any probe failure counts as
# "no offload": the host path is the caller's, not ours.
sub offload_method {
    my ($src, $dst, %o) = @_;
    my $p = eval { probe([$src, $dst], %o, offload => 'require') };
    if (!$p) {
        my $err = $@;
        chomp $err;
        return (undef, $err);
    }
    my $plan = $p->{plan};
    return (undef, 'probe printed no plan') if ref($plan) ne 'HASH';
    my $m = $plan->{method};
    # "host" cannot be a plan under require; never call it an offload.
    return ($m, undef) if defined $m && !ref($m) && $m ne 'host';
    my @why;
    for my $s (ref($plan->{steps}) eq 'ARRAY' ? @{ $plan->{steps} } : ()) {
        next if ref($s) ne 'HASH' || ($s->{method} // '') eq 'host';
        push @why, "$s->{method}: " . ($s->{reason} // '?');
    }
    return (undef, @why ? join('; ', @why) : 'no in-array method');
}

# copy($src, $dst, %o): "copy --offload=require --json --progress".  On
# success returns the decoded copy object.  Otherwise returns
# { failed => 1, exit, untouched, message } where untouched says that
# blkclone wrote nothing to the destination (exits 2 and 3).
sub copy {
    my ($src, $dst, %o) = @_;
    my $res = run(['copy', '--offload=require', '--json', '--progress', $src, $dst], %o);
    my $exit = $res->{exit};
    if ($exit == EXIT_OK) {
        my $obj = decode_object($res->{stdout}, 'copy');
        my $m = $obj->{method} // '';
        # Under require blkclone never copies on the host; if a future
        # version did, the caller must know: this is not an offload.
        die "blkclone copy reported method '$m' under --offload=require\n"
            if $m eq '' || $m eq 'host' || ($obj->{status} // '') ne 'ok';
        return $obj;
    }
    my $text = message_text($res);
    my $msg;
    if ($exit == EXIT_NO_OFFLOAD) {
        $msg = "copy offload unavailable (blkclone exit 3): $text; "
            . "the destination is untouched, a host copy may be used instead";
    } elsif ($exit == EXIT_FAILED) {
        $msg = "copy offload failed part-way (blkclone exit 1): $text; "
            . "the destination holds a partial copy";
    } elsif ($exit == EXIT_REFUSED) {
        $msg = "blkclone refused the copy (exit 2): $text; the destination is untouched";
    } else {
        $msg = "blkclone copy did not finish (exit $exit): $text; "
            . "the destination may hold a partial copy";
    }
    return {
        failed => 1,
        exit => $exit,
        untouched => ($exit == EXIT_NO_OFFLOAD || $exit == EXIT_REFUSED) ? 1 : 0,
        message => $msg,
    };
}

# zero($addr, %o): make the whole volume read zeros; dies on failure.
sub zero {
    my ($addr, %o) = @_;
    my $res = run(['zero', '--json', $addr], %o);
    die "blkclone zero of $addr failed (exit $res->{exit}): " . message_text($res) . "\n"
        if $res->{exit} != EXIT_OK;
    return 1;
}

1;
