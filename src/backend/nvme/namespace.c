// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * NVMe namespaces (/dev/nvmeXnY).  Data moves like on any block device
 * (the inner generic block volume, O_DIRECT); what NVMe adds comes from
 * Identify: Write Zeroes with DEAC, DSM deallocate, the DLFEAT guarantee
 * that deallocated blocks read as zeros, and the Copy command's limits.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libnvme.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backends.h"
#include "volume/identity.h"
#include "nvme/copy.h"
#include "backend/nvme/caps.h"
#include "backend/nvme/cut.h"
#include "nvme/identify.h"
#include "volume/stack.h"

#define COPY_TIMEOUT_MS 60000

struct nvme_priv {
	struct bc_volume *blk;	/* I/O path: the device the user named */
	int fd;			/* for NVMe passthrough: the namespace */
	uint64_t base_lba;	/* a partition or LV window starts here */
	/* every byte of the volume as windows onto the namespace (bytes):
	 * one for a namespace, partition or one-segment LV, one per
	 * segment for an LV of several; commands are cut at their ends */
	size_t n_segs;
	struct bc_stack_seg segs[BC_STACK_SEGS];
	char layers[256];
	uint32_t nsid;
	dev_t ns_rdev;		/* the namespace's block device */
	bool have_id;
	struct bc_nvme_ctrl_info ctrl;
	struct bc_nvme_ns_info ns;
};

static struct nvme_priv *np(struct bc_volume *v)
{
	return v->priv;
}

static struct bc_nvme_ns_ref ns_ref(const struct nvme_priv *p)
{
	return (struct bc_nvme_ns_ref){ p->ctrl.subnqn, p->ctrl.serial, p->nsid,
					p->ns_rdev };
}

/* An NVMe completion status into @e: "Invalid Field in Command (SCT 0h
 * SC 02h, DNR)". */
static int ns_fail(struct bc_volume *v, const char *op, uint64_t lba,
		     int status, struct bc_error *e)
{
	uint8_t sct = (uint8_t)((status >> 8) & 0x7), sc = (uint8_t)(status & 0xff);
	bool dnr = status & 0x4000;

	if (status < 0)
		return bc_error_set_lba(e, -errno, v->name, op, lba,
					v->block_size, NULL);
	bc_error_set_lba(e, -EIO, v->name, op, lba, v->block_size,
			 "%s (SCT %xh SC %02xh%s)", bc_nvme_status_str(sct, sc),
			 sct, sc, dnr ? ", DNR" : "");
	e->status.kind = BC_STATUS_NVME;
	e->status.nvme_sct = sct;
	e->status.nvme_sc = sc;
	e->status.nvme_dnr = dnr;
	e->status.cat = (sct == 0 && (sc == 0x01 || sc == 0x02)) ||
			(sct == 1 && sc == 0x0a) ? BC_CAT_NOT_SUPPORTED :
			BC_CAT_OTHER;
	return e->status.cat == BC_CAT_NOT_SUPPORTED ? -EOPNOTSUPP : -EIO;
}

/*
 * The namespace by its NGUID, EUI-64 and UUID (the forms a SCSI
 * translation of it reports too), then by the kernel device beneath the
 * window (@blk:
 * what the block volume found at the bottom of its stack).
 */
static void ns_identity(struct bc_caps *c, const struct bc_identity *blk)
{
	size_t strong;

	c->id.n_unit_keys = 0;
	snprintf(c->id.unit, sizeof(c->id.unit), "namespace");
	strong = bc_identity_add_designators(&c->id);
	for (size_t i = 0; i < blk->n_unit_keys; i++)
		bc_identity_add_key(&c->id, "%s", blk->unit_keys[i]);
	c->id.unit_weak = !strong;
	bc_identity_describe(&c->id,
		"it reports no NGUID, EUI-64 or UUID, so through another controller "
		"it is not recognised as this namespace");
}

static int ns_probe(struct bc_volume *v, struct bc_caps *c,
		      struct bc_error *e)
{
	struct nvme_priv *p = np(v);
	const struct bc_caps *bc;
	int rc = bc_volume_caps(p->blk, &bc, e);

	if (rc < 0)
		return rc;
	*c = *bc;	/* sizes, transfer limits, location */
	snprintf(c->id.backend, sizeof(c->id.backend), "nvme");
	if (!p->have_id) {
		bc_feature_set(&c->nvme_copy, BC_SUP_UNKNOWN, "Identify failed");
		return 0;
	}
	snprintf(c->id.vendor, sizeof(c->id.vendor), "NVMe");
	snprintf(c->id.product, sizeof(c->id.product), "%.16s", p->ctrl.model);
	snprintf(c->id.revision, sizeof(c->id.revision), "%.4s", p->ctrl.firmware);
	snprintf(c->id.serial, sizeof(c->id.serial), "%s", p->ctrl.serial);
	/* Format 0 copies inside one namespace only. */
	{
		struct bc_nvme_ns_ref r = ns_ref(p);

		bc_nvme_copy_domain(c->id.copy_domain, sizeof(c->id.copy_domain), &r);
	}
	snprintf(c->id.lu_location, sizeof(c->id.lu_location), "%s",
		 c->id.copy_domain);
	c->id.lu_offset = p->base_lba * v->block_size;
	c->id.n_lu_windows = 0;
	if (p->n_segs > 1 && p->n_segs <= BC_MAX_LU_WINDOWS) {
		for (size_t i = 0; i < p->n_segs; i++)
			c->id.lu_windows[i] = (struct bc_lu_window){ p->segs[i].offset,
								     p->segs[i].length };
		c->id.n_lu_windows = p->n_segs;
	}
	snprintf(c->id.stack, sizeof(c->id.stack), "%s", p->layers);
	if (p->layers[0])
		snprintf(c->id.location, sizeof(c->id.location), "%.200s+%" PRIu64,
			 c->id.lu_location, c->id.lu_offset);
	c->id.n_designators = 0;
	if (p->ns.has_eui64) {
		struct bc_designator *d = &c->id.designators[c->id.n_designators++];

		d->type = 2;
		d->len = 8;
		memcpy(d->id, p->ns.eui64, 8);
	}
	if (p->ns.has_nguid) {
		struct bc_designator *d = &c->id.designators[c->id.n_designators++];

		d->type = 2;	/* an NGUID is an EUI-64 based 16-byte id */
		d->len = 16;
		memcpy(d->id, p->ns.nguid, 16);
	}
	if (p->ns.has_uuid) {
		struct bc_designator *d = &c->id.designators[c->id.n_designators++];

		d->type = 0xa;	/* the UUID itself, without SPC's two leading bytes */
		d->len = 16;
		memcpy(d->id, p->ns.uuid, 16);
	}
	ns_identity(c, &bc->id);
	c->provisioning = p->ns.thin ? BC_PROV_THIN : BC_PROV_UNKNOWN;

	if (!(p->ctrl.oncs & BC_NVME_ONCS_COPY))
		bc_feature_set(&c->nvme_copy, BC_SUP_NO, "ONCS: the controller has no Copy command");
	else if (!(p->ctrl.ocfs & 1) && p->ctrl.ocfs)
		bc_feature_set(&c->nvme_copy, BC_SUP_NO, "OCFS %#x: no copy format 0", p->ctrl.ocfs);
	else if (!p->ns.mssrl || !p->ns.mcl)
		bc_feature_set(&c->nvme_copy, BC_SUP_NO,
		     "Copy limits are zero (MSSRL %u, MCL %u): every copy would fail",
		     p->ns.mssrl, p->ns.mcl);
	else
		bc_feature_set(&c->nvme_copy, BC_SUP_YES,
		     "Copy format 0 within namespace %u", p->nsid);
	c->nvme_lim.mssrl = p->ns.mssrl;
	c->nvme_lim.mcl = p->ns.mcl;
	c->nvme_lim.msrc = p->ns.msrc;

	bc_nvme_zero_caps(&p->ctrl, &p->ns, c);
	return 0;
}

static int ns_read(struct bc_volume *v, void *buf, uint64_t off, size_t len,
		     struct bc_error *e)
{
	return np(v)->blk->ops->read(np(v)->blk, buf, off, len, e);
}

static int ns_write(struct bc_volume *v, const void *buf, uint64_t off,
		      size_t len, struct bc_error *e)
{
	return np(v)->blk->ops->write(np(v)->blk, buf, off, len, e);
}

/* What a Write Zeroes piece needs, and the error of the one that failed. */
struct zero_ctx {
	struct bc_volume *v;
	bool deac;
	bool failed;
	struct bc_error *e;
};

/* One run of namespace LBAs; NLB is 16 bits, 0's based. */
static int zero_piece(void *arg, uint64_t vlba, uint64_t slba, uint64_t lba,
		      uint64_t n, uint64_t *done_blocks)
{
	struct zero_ctx *z = arg;
	struct nvme_priv *p = np(z->v);

	(void)slba;
	*done_blocks = 0;
	while (n) {
		uint32_t cnt = n > 65536 ? 65536 : (uint32_t)n;
		struct nvme_io_args a = {
			.args_size = sizeof(a),
			.fd = p->fd,
			.nsid = p->nsid,
			.slba = lba,
			.nlb = (uint16_t)(cnt - 1),
			.control = z->deac ? NVME_IO_DEAC : 0,
			.timeout = 0,
		};
		int st = nvme_write_zeros(&a);

		if (st != 0) {
			z->failed = true;
			return ns_fail(z->v, z->deac ? "Write Zeroes (DEAC)" : "Write Zeroes",
				       vlba + *done_blocks, st, z->e);
		}
		lba += cnt;
		n -= cnt;
		*done_blocks += cnt;
	}
	return 0;
}

/*
 * Write Zeroes, with DEAC where the namespace both deallocates that way
 * and reads deallocated blocks as zeros; cut at the volume's window
 * boundaries (an LV of several segments).
 */
static int ns_zero(struct bc_volume *v, uint64_t off, uint64_t len,
		     unsigned flags, struct bc_error *e)
{
	struct nvme_priv *p = np(v);
	struct zero_ctx z = {
		.v = v,
		.deac = (flags & BC_ZERO_MAY_UNMAP) && bc_nvme_write_zeroes_deac(&p->ns),
		.e = e,
	};
	uint64_t done = 0;
	int rc;

	if (!p->have_id || !(p->ctrl.oncs & BC_NVME_ONCS_WRITE_ZEROES))
		return p->blk->ops->zero(p->blk, off, len, flags, e);
	rc = bc_nvme_cut_run(p->segs, p->n_segs, off, p->segs, p->n_segs, off,
			     len, v->block_size, zero_piece, &z, &done);
	if (done)
		bc_blk_invalidate(p->blk);	/* written behind the page cache */
	if (rc < 0 && !z.failed)
		return bc_error_set_lba(e, rc, v->name, "Write Zeroes",
					(off + done) / v->block_size, v->block_size,
					"range outside the volume's windows on the namespace");
	return rc;
}

static const struct bc_volume_ops ns_ops;

/* Copy commands in flight at once: QEMU's controller runs them
 * concurrently, and a real one has many queues. */
#define COPY_STREAMS 4

/* One stream: a contiguous stripe of the copy, its commands in order. */
struct copy_stream {
	struct bc_volume *src;
	const struct bc_nvme_copy_limits *lim;
	uint64_t lba, dlba, blocks;	/* namespace LBAs */
	uint64_t vlba;			/* the source volume's LBA of lba */
	uint64_t done;			/* blocks confirmed, from the start */
	int rc;
	struct bc_error e;
	pthread_t thread;
};

static void *copy_stream_run(void *arg)
{
	struct copy_stream *c = arg;
	struct nvme_priv *s = np(c->src);
	struct bc_nvme_copy_range r[BC_NVME_COPY_MAX_RANGES];
	uint8_t *buf = NULL;

	if (posix_memalign((void **)&buf, 4096,
			   BC_NVME_COPY_MAX_RANGES * BC_NVME_COPY_DESC_LEN)) {
		c->rc = bc_error_set(&c->e, -ENOMEM, c->src->name, "Copy", NULL);
		return NULL;
	}
	while (c->done < c->blocks) {
		uint64_t lba = c->lba + c->done, covered = 0;
		size_t n = 0;
		int l, st;

		if (bc_nvme_copy_cut(c->lim, lba, c->blocks - c->done, r,
				     BC_NVME_COPY_MAX_RANGES, &n, &covered) < 0 || !n) {
			c->rc = bc_error_set(&c->e, -EOPNOTSUPP, c->src->name, "Copy",
					     "the namespace's copy limits are unusable");
			break;
		}
		l = bc_nvme_copy_build(buf, BC_NVME_COPY_MAX_RANGES * BC_NVME_COPY_DESC_LEN,
				       r, n);
		if (l < 0) {
			c->rc = bc_error_set(&c->e, l, c->src->name, "Copy", "descriptor list");
			break;
		}
		st = nvme_io_passthru(s->fd, BC_NVME_OPC_COPY, 0, 0, s->nsid, 0, 0,
				      (uint32_t)(c->dlba + c->done),
				      (uint32_t)((c->dlba + c->done) >> 32),
				      (uint32_t)(n - 1) & 0xff, 0, 0, 0,
				      (uint32_t)l, buf, 0, NULL, COPY_TIMEOUT_MS, NULL);
		if (st != 0) {
			c->rc = ns_fail(c->src, "Copy", c->vlba + c->done, st, &c->e);
			break;
		}
		c->done += covered;
	}
	free(buf);
	return NULL;
}

/* What a Copy piece needs, and the error of the one that failed. */
struct copy_ctx {
	struct bc_volume *src;
	const struct bc_nvme_copy_limits *lim;
	bool failed;
	struct bc_error *e;
};

/*
 * One piece (a run of namespace LBAs on each side): commands cut to
 * MSSRL/MCL/MSRC and several run at once, each stream over its own
 * contiguous stripe; *done_blocks is the prefix every command of which
 * succeeded, so a failure never claims a block that a later stripe
 * copied but an earlier one did not.
 */
static int copy_piece(void *arg, uint64_t vlba, uint64_t slba, uint64_t dlba,
		      uint64_t blocks, uint64_t *done_blocks)
{
	struct copy_ctx *x = arg;
	struct copy_stream cs[COPY_STREAMS];
	uint64_t per, cmd_blocks;
	unsigned n = 1, started = 0;
	int rc = 0;

	*done_blocks = 0;
	/* streams only for copies of several commands each */
	cmd_blocks = x->lim->mcl ? x->lim->mcl : 1;
	if (blocks >= 4 * COPY_STREAMS * cmd_blocks)
		n = COPY_STREAMS;
	per = (blocks / n + cmd_blocks - 1) / cmd_blocks * cmd_blocks;
	memset(cs, 0, sizeof(cs));
	for (unsigned i = 0; i < n; i++) {
		uint64_t first = per * i;

		cs[i].src = x->src;
		cs[i].lim = x->lim;
		cs[i].lba = slba + first;
		cs[i].dlba = dlba + first;
		cs[i].vlba = vlba + first;
		cs[i].blocks = first >= blocks ? 0 : blocks - first < per ? blocks - first : per;
	}
	if (n == 1) {
		copy_stream_run(&cs[0]);
	} else {
		for (; started < n; started++)
			if (pthread_create(&cs[started].thread, NULL, copy_stream_run,
					   &cs[started]))
				break;
		for (unsigned i = started; i < n; i++)	/* no thread: run here */
			copy_stream_run(&cs[i]);
		for (unsigned i = 0; i < started; i++)
			pthread_join(cs[i].thread, NULL);
	}
	for (unsigned i = 0; i < n; i++) {
		*done_blocks += cs[i].done;
		if (cs[i].rc < 0) {
			rc = cs[i].rc;
			*x->e = cs[i].e;
			x->failed = true;
			break;
		}
		if (cs[i].done < cs[i].blocks)
			break;
	}
	return rc;
}

/*
 * NVMe Copy (format 0) inside one namespace: both volumes are windows on
 * it (partitions, LVs of one or several segments).  The copy is cut at
 * every window boundary of either side (cut.h) and each piece run by
 * copy_piece; *done is a prefix of the range, as one command reports.
 */
static int ns_offload_copy(struct bc_volume *src, uint64_t src_off,
			   struct bc_volume *dst, uint64_t dst_off,
			   uint64_t len, enum bc_method method,
			   const struct bc_stop *stop,
			     uint64_t *done, struct bc_error *e)
{
	struct nvme_priv *s = np(src), *d;
	struct bc_nvme_ns_ref sr, dr;
	const struct bc_caps *sc, *dc;
	struct copy_ctx x = { .src = src, .e = e };
	int rc = 0;

	(void)stop;
	*done = 0;
	if (method != BC_METHOD_NVME_COPY || dst->ops != &ns_ops)
		return bc_error_set(e, -EOPNOTSUPP, src->name, "Copy",
				    "%s needs NVMe namespaces on both sides",
				    bc_method_name(method));
	d = np(dst);
	if ((rc = bc_volume_caps(src, &sc, e)) < 0 ||
	    (rc = bc_volume_caps(dst, &dc, e)) < 0)
		return rc;
	sr = ns_ref(s);
	dr = ns_ref(d);
	if (!s->have_id || !d->have_id || !bc_nvme_same_namespace(&sr, &dr) ||
	    strcmp(sc->id.copy_domain, dc->id.copy_domain) ||
	    src->block_size != dst->block_size)
		return bc_error_set(e, -EOPNOTSUPP, dst->name, "Copy",
				    "Copy format 0 works inside one namespace only");
	if (!len)	/* no zero-length Copy to ask with: NLB is 0's based */
		return bc_error_set(e, -EOPNOTSUPP, src->name, "Copy",
				    "the pair cannot be checked without copying");
	x.lim = &sc->nvme_lim;
	rc = bc_nvme_cut_run(s->segs, s->n_segs, src_off, d->segs, d->n_segs,
			     dst_off, len, src->block_size, copy_piece, &x, done);
	if (*done)
		bc_blk_invalidate(d->blk);	/* the controller wrote it */
	if (rc < 0 && !x.failed)
		return bc_error_set_lba(e, rc, src->name, "Copy",
					(src_off + *done) / src->block_size,
					src->block_size,
					rc == -ERANGE ?
					"range outside the volumes' windows on the namespace" :
					"a piece reported less done than it was given");
	return rc;
}

static int ns_discard(struct bc_volume *v, uint64_t off, uint64_t len,
			struct bc_error *e)
{
	return np(v)->blk->ops->discard(np(v)->blk, off, len, e);
}

static int ns_flush(struct bc_volume *v, struct bc_error *e)
{
	return np(v)->blk->ops->flush(np(v)->blk, e);
}

static int ns_drop_cache(struct bc_volume *v, struct bc_error *e)
{
	return bc_volume_drop_cache(np(v)->blk, e);
}

static void ns_close(struct bc_volume *v)
{
	struct nvme_priv *p = np(v);

	if (p->fd >= 0)
		close(p->fd);
	bc_volume_close(p->blk);
}

static const struct bc_volume_ops ns_ops = {
	.name = "nvme",
	.methods = BC_METHOD_BIT(BC_METHOD_NVME_COPY),
	.probe = ns_probe,
	.read = ns_read,
	.write = ns_write,
	.zero = ns_zero,
	.discard = ns_discard,
	.flush = ns_flush,
	.drop_cache = ns_drop_cache,
	.offload_copy = ns_offload_copy,
	.close = ns_close,
};

/*
 * The windows of an open over a stack: a valid list covering the volume,
 * each whole blocks inside the namespace.  -EINVAL for a list the walk
 * should never give or blocks cut in two, -ERANGE past the namespace.
 */
static int ns_check_segs(const struct bc_volume *v, const struct nvme_priv *p)
{
	uint64_t bs = v->block_size, total = 0;

	if (!p->have_id || !bs || bc_segs_check(p->segs, p->n_segs) < 0)
		return -EINVAL;
	for (size_t i = 0; i < p->n_segs; i++) {
		const struct bc_stack_seg *g = &p->segs[i];

		if (g->offset % bs || g->length % bs)
			return -EINVAL;
		if (g->offset / bs > p->ns.nsze ||
		    g->length / bs > p->ns.nsze - g->offset / bs)
			return -ERANGE;
		total += g->length;
	}
	return total == v->size ? 0 : -EINVAL;
}

int bc_nvme_volume_open(const char *path, unsigned flags,
			const struct bc_stack *stack,
			struct bc_volume **out, struct bc_error *e)
{
	struct bc_volume *blk, *v;
	struct nvme_priv *p;
	uint8_t *buf = NULL;
	int rc;

	rc = bc_blk_open(path, flags, &blk, e);
	if (rc < 0)
		return rc;
	v = bc_volume_alloc(&ns_ops, path, sizeof(*p));
	if (!v) {
		bc_volume_close(blk);
		return bc_error_set(e, -ENOMEM, path, "open", NULL);
	}
	p = v->priv;
	p->blk = blk;
	v->size = blk->size;
	v->block_size = blk->block_size;
	v->writable = blk->writable;
	v->has_mode = blk->has_mode;
	v->mode = blk->mode;
	v->io_threads = blk->io_threads;
	/* A second descriptor for passthrough commands; the block one is
	 * O_DIRECT and exclusive, and ioctls need neither. */
	p->fd = open(stack && stack->bottom[0] ? stack->bottom : path,
		     (flags & BC_OPEN_WRITE ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	p->ns_rdev = stack && stack->bottom[0] ? stack->bottom_rdev : bc_blk_rdev(blk);
	if (p->fd >= 0 && nvme_get_nsid(p->fd, &p->nsid) == 0 &&
	    posix_memalign((void **)&buf, 4096, BC_NVME_IDENTIFY_LEN) == 0) {
		if (nvme_identify_ctrl(p->fd, (struct nvme_id_ctrl *)buf) == 0 &&
		    bc_nvme_decode_id_ctrl(buf, BC_NVME_IDENTIFY_LEN, &p->ctrl) == 0 &&
		    nvme_identify_ns(p->fd, p->nsid, (struct nvme_id_ns *)buf) == 0 &&
		    bc_nvme_decode_id_ns(buf, BC_NVME_IDENTIFY_LEN, &p->ns) == 0)
			p->have_id = p->ns.lba_size == v->block_size;
		/* the UUID (NVMe 1.3 on; older controllers refuse CNS 03h,
		 * and a malformed list keeps what came before the fault) */
		if (p->have_id &&
		    nvme_identify_ns_descs(p->fd, p->nsid, (struct nvme_ns_id_desc *)buf) == 0)
			bc_nvme_decode_ns_descs(buf, BC_NVME_IDENTIFY_LEN, &p->ns);
	}
	free(buf);
	p->n_segs = 1;
	p->segs[0] = (struct bc_stack_seg){ 0, v->size, 0 };
	if (stack && stack->depth) {
		/* windows onto the namespace: passthrough LBAs are offset */
		if (stack->n_segs > 1) {
			p->n_segs = stack->n_segs;
			memcpy(p->segs, stack->segs, stack->n_segs * sizeof(p->segs[0]));
		} else {
			p->segs[0].offset = stack->offset;
		}
		if ((rc = ns_check_segs(v, p)) < 0) {
			bc_volume_close(v);
			return bc_error_set(e, -EINVAL, path, "open",
					    "does not fit the namespace beneath (%s)%s",
					    stack->bottom,
					    rc == -EINVAL && p->have_id ?
					    ": its windows are not whole blocks of it" : "");
		}
		p->base_lba = p->segs[0].offset / v->block_size;
		snprintf(p->layers, sizeof(p->layers), "%s", stack->layers);
	}
	*out = v;
	return 0;
}

/* a namespace, or windows (partition, dm-linear, an LV of one or
 * several segments) onto one */
static bool nvme_claims(const struct bc_open_req *r)
{
	return r->stacked && r->stack.n_segs >= 1 &&
	       !strncmp(r->stack.bottom, "/dev/nvme", 9);
}

static int nvme_open_req(const struct bc_open_req *r, struct bc_volume **out,
			 struct bc_error *e)
{
	return bc_nvme_volume_open(r->addr, r->flags, &r->stack, out, e);
}

const struct bc_backend bc_backend_nvme = {
	.name = "nvme",
	.claims = nvme_claims,
	.open = nvme_open_req,
};
