#!/usr/bin/perl
# t/lib/GuestCmd.pm, the run_command that sends the plugin's commands to
# the test VM, checked against a stand-in channel (t/bin/fake-guest: sh
# here, stdout and stderr merged, as tests/vm/vm.sh exec returns them).
use strict;
use warnings;
use Test::More;
use File::Temp ();
use lib 't/lib', '.';
use PVEEnv;
use PVE::Tools;
use GuestCmd;

@GuestCmd::TRANSPORT = ('t/bin/fake-guest');
{ package Probe; use PVE::Tools qw(run_command); sub go { return run_command(@_) } }
GuestCmd::install('PVE::Tools', 'Probe');

my (@out, @err);
my %cb = (outfunc => sub { push @out, $_[0] }, errfunc => sub { push @err, $_[0] });
sub go { @out = @err = (); return Probe::go(@_) }

is(go(['/bin/sh', '-c', q{echo one; echo "it's  two" >&2; echo three; exit 0}], %cb), 0, 'exit 0');
is_deeply(\@out, ['one', 'three'], 'stdout lines to outfunc, in order');
is_deeply(\@err, ["it's  two"], 'stderr lines to errfunc, split off the merged channel');

go(['printf', '%s|', 'a b', "q'uote", '$HOME', '*', ''], %cb);
is_deeply(\@out, ["a b|q'uote|\$HOME|*||"], 'arguments arrive as given (no shell expansion)');

go(['/nonexistent/dir/echo', 'found by its base name'], %cb);
is_deeply(\@out, ['found by its base name'], 'an absolute path the guest lacks: its base name in PATH');

# an lvm2 command kept only inside "lvm": a stand-in lvm on the PATH
my $dir = File::Temp::tempdir(CLEANUP => 1);
open(my $fh, '>', "$dir/lvm") or die;
print $fh "#!/bin/sh\necho \"lvm \$*\"\n";
close($fh);
chmod(0755, "$dir/lvm");
{
    local $ENV{PATH} = "$dir:$ENV{PATH}";
    go(['/sbin/lvcreate-not-here', '--name', 'a b'], %cb);
    is_deeply(\@out, ['lvm lvcreate-not-here --name a b'], 'an lvm2 command missing as a link: run as "lvm NAME"');
}
{
    local %GuestCmd::ENV_GUEST = (LVM_SYSTEM_DIR => "/tmp/it's");
    go(['/bin/sh', '-c', 'echo "$LVM_SYSTEM_DIR"'], %cb);
    is_deeply(\@out, ["/tmp/it's"], 'variables set in the guest');
}

is(go(['/bin/sh', '-c', 'echo partial; exit 3'], %cb, noerr => 1), 3, 'noerr: the exit code comes back');
is_deeply(\@out, ['partial'], 'with the output');
eval { go(['/bin/sh', '-c', 'exit 5'], %cb) };
is($@, "command '/bin/sh -c exit 5' failed: exit code 5\n", 'no noerr: dies as run_command does');
eval { go(['/bin/sh', '-c', 'exit 5'], %cb, errmsg => 'lvremove error') };
is($@, "lvremove error: exit code 5\n", 'with errmsg');

go(['/bin/sh', '-c', 'printf "no newline"'], %cb);
is_deeply(\@out, ['no newline'], 'output without a final newline');

@GuestCmd::TRANSPORT = ('/bin/sh', '-c', 'echo channel down >&2; exit 125');
is(go(['true'], %cb, noerr => 1), -1, 'a channel that fails: -1 with noerr');
like($err[0], qr/no answer from the guest \(channel exit 125\): channel down/, 'and says so');

done_testing();
