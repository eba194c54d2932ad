// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The volume object: what every backend's volume shares (its caps, cached
 * after one probe; its host locks) and the calls that go to whichever
 * backend made it.  Opening an address is src/backend/open.c's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include <blkclone/volume.h>

#include "volume/lock.h"
#include "volume/object.h"

const char *bc_method_name(enum bc_method m)
{
	switch (m) {
	case BC_METHOD_XCOPY_LID1: return "xcopy-lid1";
	case BC_METHOD_TOKEN: return "token";
	case BC_METHOD_NVME_COPY: return "nvme-copy";
	case BC_METHOD_REFLINK: return "reflink";
	case BC_METHOD_HOST: return "host";
	case BC_METHOD_NONE: break;
	}
	return "none";
}

struct bc_volume *bc_volume_alloc(const struct bc_volume_ops *ops,
				  const char *name, size_t priv_size)
{
	struct bc_volume *v = calloc(1, sizeof(*v) + priv_size);

	if (!v)
		return NULL;
	v->ops = ops;
	snprintf(v->name, sizeof(v->name), "%s", name);
	if (priv_size)
		v->priv = (char *)v + sizeof(*v);
	return v;
}

void bc_volume_free(struct bc_volume *v)
{
	free(v);
}

void bc_feature_set(struct bc_feature *f, enum bc_support s, const char *fmt, ...)
{
	va_list ap;

	f->state = s;
	va_start(ap, fmt);
	vsnprintf(f->reason, sizeof(f->reason), fmt, ap);
	va_end(ap);
}

unsigned bc_volume_create_mode(const struct bc_volume *src)
{
	return src && src->has_mode ? (src->mode & 0600) : 0600;
}

void bc_volume_close(struct bc_volume *v)
{
	if (!v)
		return;
	if (v->ops->close)
		v->ops->close(v);
	bc_lock_release(v->lock);	/* only once the LU is let go */
	bc_volume_free(v);
}

/* Every offload method a backend does not run, stated unsupported with
 * what it needs, so no backend speaks for another's methods.  A backend
 * may say why not better itself (a block volume over a dm-snapshot): a
 * refusal it gave with its reason is kept. */
static void state_foreign_methods(struct bc_caps *c, unsigned methods)
{
	static const struct {
		enum bc_method m;
		size_t off;
		const char *needs;
	} table[] = {
		{ BC_METHOD_XCOPY_LID1, offsetof(struct bc_caps, xcopy), "not a SCSI device" },
		{ BC_METHOD_TOKEN, offsetof(struct bc_caps, token), "not a SCSI device" },
		{ BC_METHOD_NVME_COPY, offsetof(struct bc_caps, nvme_copy), "not an NVMe namespace" },
		{ BC_METHOD_REFLINK, offsetof(struct bc_caps, reflink), "not a file" },
	};

	c->methods = methods;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!(methods & BC_METHOD_BIT(table[i].m))) {
			struct bc_feature *f = (struct bc_feature *)((char *)c + table[i].off);

			if (f->state == BC_SUP_NO && f->reason[0])
				continue;
			bc_feature_set(f, BC_SUP_NO, "%s", table[i].needs);
		}
}

int bc_volume_caps(struct bc_volume *v, const struct bc_caps **caps,
		   struct bc_error *e)
{
	int rc;

	if (!v->caps_valid) {
		memset(&v->caps, 0, sizeof(v->caps));
		rc = v->ops->probe(v, &v->caps, e);
		if (rc < 0)
			return rc;
		state_foreign_methods(&v->caps, v->ops->methods);
		v->caps_valid = true;
	}
	*caps = &v->caps;
	return 0;
}

int bc_volume_drop_cache(struct bc_volume *v, struct bc_error *e)
{
	return v->ops->drop_cache ? v->ops->drop_cache(v, e) : 0;
}

int bc_volume_set_size(struct bc_volume *v, uint64_t size, struct bc_error *e)
{
	if (!v->ops->resize)
		return bc_error_set(e, -EOPNOTSUPP, v->name, "resize",
				    "only files can be resized");
	return v->ops->resize(v, size, e);
}

int bc_volume_unlink_created(struct bc_volume *v)
{
	if (!v->created || !v->ops->unlink_created)
		return -EINVAL;
	return v->ops->unlink_created(v);
}
