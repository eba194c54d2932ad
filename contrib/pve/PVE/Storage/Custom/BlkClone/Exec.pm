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


# pair_plan($src, $dst, %o): what "copy --offload=$o{offload}" would do
# for this pair: { method, consistency, reason }.  method and consistency
# are undef when no usable method exists (reason says why); a host method
# counts only when $o{offload} is not 'require'.
sub pair_plan {
    my ($src, $dst, %o) = @_;
    my $mode = $o{offload} // 'require';
    my $p = eval { probe([$src, $dst], %o, offload => $mode) };
    if (!$p) {
        my $err = $@;
        chomp $err;
        return { reason => $err };
    }
    my $plan = $p->{plan};
    return { reason => 'probe printed no plan' } if ref($plan) ne 'HASH';
    my ($m, $c) = ($plan->{method}, $plan->{consistency});
    if (defined $m && !ref($m) && ($m ne 'host' || $mode ne 'require')) {
        return { reason => "method $m: no point in time given" }
            if !defined $c || ($c ne 'atomic' && $c ne 'bulk');
        return { method => $m, consistency => $c, reason => $plan->{consistency_reason} };
    }
    my (undef, $why) = offload_method($src, $dst, %o);
    return { reason => $why // 'no usable method' };
}

# blkclone's job ids: 16 lower-case hex digits (doc/json-schema.md).
sub check_job_id {
    my ($id) = @_;
    die "invalid blkclone job id '" . ($id // '') . "'\n" if !defined $id || $id !~ /^[0-9a-f]{16}$/;
    return $id;
}

# job_start(\@pairs, %o): "job start --offload=MODE --json SRC DST ..."
# for [[src, dst], ...]; %o: offload ('require' or 'auto'),
# stall_timeout (seconds).  Returns the decoded start object once every
# pair's point in time is fixed, or dies with blkclone's message (no job
# is left behind then: blkclone refuses before any write).
sub job_start {
    my ($pairs, %o) = @_;
    my $mode = $o{offload} // 'require';
    die "offload mode '$mode' is not require or auto\n" if $mode ne 'require' && $mode ne 'auto';
    my @args = ('job', 'start', "--offload=$mode", '--json');
    push @args, "--stall-timeout=$o{stall_timeout}" if $o{stall_timeout};
    my $res = run([@args, map { @$_ } @$pairs], %o);
    my $exit = $res->{exit};
    if ($exit != EXIT_OK) {
        my $text = message_text($res);
        die "copy offload unavailable (blkclone exit 3): $text; the destination is untouched\n"
            if $exit == EXIT_NO_OFFLOAD;
        die "blkclone refused the copy (exit 2): $text; the destination is untouched\n"
            if $exit == EXIT_REFUSED;
        die "blkclone job start failed (exit $exit): $text\n";
    }
    my $obj = decode_object($res->{stdout}, 'job start');
    check_job_id($obj->{id});
    die "blkclone job start: " . scalar(@{ $obj->{pairs} // [] }) . " pairs reported for "
        . scalar(@$pairs) . " given\n"
        if ref($obj->{pairs}) ne 'ARRAY' || @{ $obj->{pairs} } != @$pairs;
    return $obj;
}

# job_status($id, %o): the decoded "job status --json ID" object.
sub job_status {
    my ($id, %o) = @_;
    check_job_id($id);
    my $res = run(['job', 'status', '--json', $id], %o);
    die "blkclone job status $id failed (exit $res->{exit}): " . message_text($res) . "\n"
        if $res->{exit} != EXIT_OK;
    my $obj = decode_object($res->{stdout}, 'job status');
    die "blkclone job status: it reports job '" . ($obj->{id} // '') . "', not $id\n"
        if ($obj->{id} // '') ne $id;
    die "blkclone job status $id: state '" . ($obj->{state} // '') . "' unknown\n"
        if ($obj->{state} // '') !~ /^(running|complete|failed|cancelled)$/;
    return $obj;
}

# job_run($sub, $id, %o): "job SUB ID"; dies with blkclone's message.
sub job_run {
    my ($sub, $id, %o) = @_;
    check_job_id($id);
    my $res = run(['job', $sub, $id], %o);
    die "blkclone job $sub $id failed (exit $res->{exit}): " . message_text($res) . "\n"
        if $res->{exit} != EXIT_OK;
    return 1;
}

# job_cancel($id, %o): stop job ID and wait for it; a job that already
# ended is not an error (blkclone's contract).
sub job_cancel { return job_run('cancel', @_); }

# job_forget($id, %o): remove an ended job's record.
sub job_forget { return job_run('forget', @_); }

# copy_through($src, $dst, %o): "copy --offload=auto --json SRC DST",
# blkclone's sparse host copy where nothing better exists (export and
# import go through a file on this host).  Returns the copy object or
# dies with blkclone's message.
sub copy_through {
    my ($src, $dst, %o) = @_;
    my $res = run(['copy', '--offload=auto', '--json', $src, $dst], %o);
    die "blkclone copy $src -> $dst failed (exit $res->{exit}): " . message_text($res) . "\n"
        if $res->{exit} != EXIT_OK;
    my $obj = decode_object($res->{stdout}, 'copy');
    die "blkclone copy $src -> $dst: status '" . ($obj->{status} // '') . "'\n" if ($obj->{status} // '') ne 'ok';
    return $obj;
}

1;
