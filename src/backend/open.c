// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Opening a volume: classify the address, learn what the kernel says of
 * a device node (stat, the stack beneath a block device), and hand it to
 * the first backend of the table that claims it.  New backends add an
 * entry here; the volume layer knows none of them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend/backends.h"

/* most specific first: a block device that is none of the others is a
 * plain block volume */
static const struct bc_backend *const backends[] = {
	&bc_backend_file,
	&bc_backend_iscsi,
	&bc_backend_sg,
	&bc_backend_nvme,
	&bc_backend_block,
};

int bc_volume_open(const char *addr, unsigned flags, struct bc_volume **out,
		   struct bc_error *e)
{
	/* an image holds a whole disk: its owner's, nobody else's to read */
	return bc_volume_open_mode(addr, flags, 0600, out, e);
}

/* The kind of a path: what stat and sysfs say of the object it names. */
static int resolve_path(struct bc_open_req *r, char *why, size_t whylen,
			struct bc_error *e)
{
	int err = 0;

	r->kind = bc_addr_resolve(r->addr, !!(r->flags & BC_OPEN_CREATE), &err,
				  why, whylen);
	if (r->kind == BC_ADDR_INVALID)
		return bc_error_set(e, err ? err : -EINVAL, r->addr, "open",
				    "%s", why);
	if (r->kind == BC_ADDR_FILE)
		return 0;
	if (stat(r->addr, &r->st) < 0)
		return bc_error_set(e, -errno, r->addr, "open", NULL);
	/* a partition or dm-linear LV is followed down to the device
	 * beneath, whose backend serves the window */
	r->stacked = S_ISBLK(r->st.st_mode) &&
		     bc_stack_resolve(r->st.st_rdev, &r->stack, NULL) == 0;
	/* a multipath map with no path left would queue or fail every
	 * I/O: refused before anything is read or written */
	if (r->stacked && r->stack.multipath && r->stack.n_paths &&
	    r->stack.usable_path < 0)
		return bc_error_set(e, -ENODEV, r->shown, "open", "%s",
				    r->stack.why_stopped);
	/* a map over two LUs reads and writes whichever its path selector
	 * picks: no copy, on the host or in the array, is safe through it */
	if (r->stacked && r->stack.multipath_split)
		return bc_error_set(e, -EINVAL, r->shown, "open", "%s",
				    r->stack.why_stopped);
	return 0;
}

int bc_volume_open_mode(const char *addr, unsigned flags, unsigned mode,
			struct bc_volume **out, struct bc_error *e)
{
	struct bc_open_req r = { .addr = addr, .flags = flags, .mode = mode };
	char shown[320], why[256] = "";
	int rc;

	*out = NULL;
	bc_addr_display(addr, shown, sizeof(shown));
	r.shown = shown;
	r.kind = bc_addr_classify(addr, why, sizeof(why));
	if (r.kind == BC_ADDR_INVALID)
		return bc_error_set(e, -EINVAL, shown, "open", "%s", why);
	if (r.kind == BC_ADDR_FILE && (rc = resolve_path(&r, why, sizeof(why), e)) < 0)
		return rc;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (backends[i]->claims(&r))
			return backends[i]->open(&r, out, e);
	return bc_error_set(e, -EINVAL, addr, "open", "unsupported address");
}
