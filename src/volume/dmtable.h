/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Device-mapper table and status lines of the targets the stack walk
 * passes through (src/volume/stack.c), parsed without I/O so they are
 * tested over the strings the kernel prints.  Every count in a line is
 * checked against what follows it and against a bound, and a line with
 * anything left over is malformed: a table read wrong would send a copy
 * to the wrong blocks.
 */
#ifndef BC_DMTABLE_H
#define BC_DMTABLE_H

#include <stdbool.h>
#include <stddef.h>

/* One path of a dm-multipath map, in the order of the table. */
struct bc_mpath_path {
	unsigned maj, min;
	unsigned group;		/* its priority group, 1-based */
	/* from the status line only: */
	bool active;		/* "A": the map may send I/O to it ("F": failed) */
	unsigned fail_count;
};

/*
 * A "multipath" target's parameters: the table line (@status false),
 *   <#features> <features...> <#hw args> <hw handler and args...>
 *   <#groups> <first group> { <selector> <#selector args> <args...>
 *   <#paths> <#path args> { <MAJ:MIN> <path args...> } }
 * or the status line (@status true), where each group starts with its
 * state (A, E or D) instead of the selector's name and each path is
 * "<MAJ:MIN> <A|F> <fail count> <selector's args...>".
 * 0 and the paths in @out (*n of them); -EINVAL for a malformed line,
 * -E2BIG for more than @max paths.
 */
int bc_dm_parse_multipath(const char *params, bool status,
			  struct bc_mpath_path *out, size_t max, size_t *n);

#endif
