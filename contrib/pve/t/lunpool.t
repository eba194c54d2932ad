#!/usr/bin/perl
# The LUN pool: the 'luns' option and the assignment file.
use strict;
use warnings;
use Test::More;
use lib 't/lib', '.';
use PVEEnv;
use BlkCloneTest;
use PVE::Storage::Custom::BlkClone::LunPool;

my $P = 'PVE::Storage::Custom::BlkClone::LunPool';
my $root = setup();

is_deeply($P->can('parse_luns')->('1-4,7'), [1, 2, 3, 4, 7], 'range and single');
is_deeply($P->can('parse_luns')->('7, 3,3,1-2'), [1, 2, 3, 7], 'sorted, duplicates once');
for my $bad ('', '4-1', 'a', '1;2', '1-', '0-2000', '20000') {
    eval { $P->can('parse_luns')->($bad) };
    like($@, qr/LUN|no LUNs/, "'$bad' refused: $@");
}

eval { $P->can('parse_luns')->(undef) };
like($@, qr/option 'blkclone-luns'.*'luns' of earlier versions must be renamed/, 'no LUN list: says what to set (and rename)');
is_deeply($P->can('load')->('st1'), {}, 'no file: nothing assigned');
$P->can('save')->('st1', { 3 => { volname => 'vm-100-lun3', vmid => 100, size => 4096 } });
is_deeply($P->can('load')->('st1'), { 3 => { volname => 'vm-100-lun3', vmid => 100, size => 4096 } },
    'saved map reads back');
ok(!glob("$root/state/*.tmp.*"), 'no temporary file left');
is_deeply($P->can('free_luns')->([1, 2, 3, 4], $P->can('load')->('st1')), [1, 2, 4], 'free LUNs');

write_file("$root/state/st2.luns.json", '{"luns": [');
eval { $P->can('load')->('st2') };
like($@, qr/not valid JSON/, 'a damaged file is an error, not an empty pool');
eval { $P->can('load')->('../x') };
like($@, qr/invalid storage id/, 'a storage id cannot leave the state directory');

done_testing();
