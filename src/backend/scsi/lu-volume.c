// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * SCSI logical units as volumes, over any transport: libiscsi, SG_IO (the
 * data then through the block device), or one the caller made (the test
 * simulator).  Here: the constructors, the data path (READ/WRITE(16)),
 * the map (GET LBA STATUS), and the ops table that sends the other jobs
 * to their files (scsi-volume.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "backend/backends.h"
#include "backend/scsi/scsi-volume.h"
#include "scsi/lu.h"
#include "transport/iscsi/session.h"
#include "transport/sg.h"
#include "util/sysfs.h"
#include "volume/stack.h"

#define GLS_BATCH 256
#define DEFAULT_MAX_XFER (1u << 20)

static const struct bc_volume_ops scsi_ops;

/* The LU behind @v, or NULL when @v is no SCSI LU volume (a file, a block
 * device, an NVMe namespace). */
static struct scsi_priv *scsi_lu_of(const struct bc_volume *v)
{
	return v->ops == &scsi_ops ? v->priv : NULL;
}

static int scsi_rw(struct bc_volume *v, void *buf, uint64_t off, size_t len,
		   bool write, struct bc_error *e)
{
	struct scsi_priv *p = sp(v);
	uint64_t lba = scsi_lba(v, off, NULL);
	uint64_t blocks = len / v->block_size;
	char *b = buf;

	if (p->data)
		return write ? p->data->ops->write(p->data, buf, off, len, e) :
			       p->data->ops->read(p->data, buf, off, len, e);
	if (off % v->block_size || len % v->block_size)
		return bc_error_set_lba(e, -EINVAL, v->name, write ? "WRITE(16)" : "READ(16)",
					lba, v->block_size, "unaligned request");
	while (blocks) {
		uint64_t run, left;
		int rc;

		/* one window at a time: its blocks are one range on the LU */
		lba = scsi_lba(v, off, &run);
		left = run / v->block_size < blocks ? run / v->block_size : blocks;
		if (!left)
			return bc_error_set_lba(e, -EINVAL, v->name, write ? "WRITE(16)" : "READ(16)",
						lba, v->block_size, "outside the volume's windows");
		blocks -= left;
		off += left * v->block_size;
		while (left) {
			uint32_t n = left > p->max_xfer_blocks ? p->max_xfer_blocks :
								 (uint32_t)left;

			rc = write ? bc_lu_write16(&p->lu, lba, n, b, e)
				   : bc_lu_read16(&p->lu, lba, n, b, e);
			if (rc < 0)
				return rc;
			lba += n;
			left -= n;
			b += (size_t)n * v->block_size;
		}
	}
	return 0;
}

static int scsi_read(struct bc_volume *v, void *buf, uint64_t off, size_t len,
		     struct bc_error *e)
{
	return scsi_rw(v, buf, off, len, false, e);
}

static int scsi_write(struct bc_volume *v, const void *buf, uint64_t off,
		      size_t len, struct bc_error *e)
{
	return scsi_rw(v, (void *)buf, off, len, true, e);
}

static int scsi_map(struct bc_volume *v, uint64_t off, uint64_t len,
		    struct bc_extent *out, size_t max, size_t *n,
		    struct bc_error *e)
{
	struct scsi_priv *p = sp(v);
	struct bc_lu_lba_status st[GLS_BATCH];
	uint64_t bs = v->block_size, run, lba0 = scsi_lba(v, off, &run), lba = lba0;
	uint64_t stop = off + len > v->size ? v->size : off + len, end;
	size_t got = 0, k = 0;
	int rc;

	if (!p->gls)
		return bc_error_set(e, -EOPNOTSUPP, v->name, "GET LBA STATUS", NULL);
	/* one window at a time: the walk asks again from where this ends */
	if (stop - off > run)
		stop = off + run;
	end = lba0 + (stop - off) / bs;
	rc = bc_lu_get_lba_status(&p->lu, lba, st, max < GLS_BATCH ? max : GLS_BATCH,
				  &got, e);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < got && k < max && lba < end; i++) {
		uint64_t cnt = st[i].blocks;

		if (st[i].lba != lba)
			break;
		if (cnt > end - lba)	/* tgt answers beyond the end */
			cnt = end - lba;
		out[k++] = (struct bc_extent){
			off + (lba - lba0) * bs, cnt * bs,
			st[i].status == 1 ? BC_EXTENT_DEALLOCATED :
			st[i].status == 2 ? BC_EXTENT_ANCHORED : BC_EXTENT_MAPPED };
		lba += cnt;
	}
	if (!k)	/* a reply that says nothing: treat one block as mapped */
		out[k++] = (struct bc_extent){ off + (lba - lba0) * bs, bs, BC_EXTENT_MAPPED };
	*n = k;
	return 0;
}

/* Zero or discard [off, +len) one window of the LU at a time. */
static int scsi_zero_cut(struct bc_volume *v, uint64_t off, uint64_t len,
			 unsigned flags, struct bc_error *e)
{
	while (len) {
		uint64_t run, piece;
		int rc;

		(void)scsi_lba(v, off, &run);
		piece = len < run ? len : run;
		rc = bc_scsi_zero(v, off, piece, flags, e);
		if (rc < 0)
			return rc;
		off += piece;
		len -= piece;
	}
	return 0;
}

static int scsi_discard_cut(struct bc_volume *v, uint64_t off, uint64_t len,
			    struct bc_error *e)
{
	while (len) {
		uint64_t run, piece;
		int rc;

		(void)scsi_lba(v, off, &run);
		piece = len < run ? len : run;
		rc = bc_scsi_discard(v, off, piece, e);
		if (rc < 0)
			return rc;
		off += piece;
		len -= piece;
	}
	return 0;
}

/* What the copy manager runs on one piece that lies in one window of
 * each volume. */
typedef int (*piece_fn)(void *ctx, struct bc_volume *src, uint64_t src_off,
			struct bc_volume *dst, uint64_t dst_off, uint64_t len,
			uint64_t *done, struct bc_error *e);

/*
 * Cut a copy at every window boundary of either volume (an LV of several
 * segments is one window per segment) and run @fn on each piece in
 * order.  *done is the pieces finished plus what the device confirmed
 * of the one that failed: a prefix, as one uncut command would report.
 */
static int cut_pairs(struct bc_volume *src, uint64_t src_off,
		     struct bc_volume *dst, uint64_t dst_off, uint64_t len,
		     piece_fn fn, void *ctx, uint64_t *done, struct bc_error *e)
{
	struct scsi_priv *s = sp(src), *d = sp(dst);
	struct bc_seg_piece pc[16];
	uint64_t at = 0;

	*done = 0;
	if (!len || (s->n_segs <= 1 && d->n_segs <= 1))
		return fn(ctx, src, src_off, dst, dst_off, len, done, e);
	while (at < len) {
		size_t n = 0;
		uint64_t covered = 0;

		if (bc_segs_cut(s->segs, s->n_segs, src_off + at, d->segs,
				d->n_segs, dst_off + at, len - at, pc,
				sizeof(pc) / sizeof(pc[0]), &n, &covered) < 0 || !n)
			return bc_error_set(e, -EINVAL, src->name, "copy",
					    "range outside the volume's windows (byte %llu)",
					    (unsigned long long)(src_off + at));
		for (size_t i = 0; i < n; i++) {
			uint64_t got = 0;
			int rc = fn(ctx, src, pc[i].src_off, dst, pc[i].dst_off,
				    pc[i].length, &got, e);

			*done += got;
			if (rc < 0)
				return rc;
			if (got != pc[i].length)	/* never: a piece runs whole or fails */
				return bc_error_set(e, -EIO, src->name, "copy",
						    "a piece of %llu bytes reported %llu done",
						    (unsigned long long)pc[i].length,
						    (unsigned long long)got);
		}
		at += covered;
	}
	return 0;
}

struct copy_ctx {
	const struct bc_stop *stop;
	struct bc_capture *cap;
};

static int piece_xcopy(void *ctx, struct bc_volume *src, uint64_t src_off,
		       struct bc_volume *dst, uint64_t dst_off, uint64_t len,
		       uint64_t *done, struct bc_error *e)
{
	(void)ctx;
	return bc_scsi_xcopy_exec(src, src_off, dst, dst_off, len, done, e);
}

static int piece_token(void *ctx, struct bc_volume *src, uint64_t src_off,
		       struct bc_volume *dst, uint64_t dst_off, uint64_t len,
		       uint64_t *done, struct bc_error *e)
{
	return bc_scsi_token_exec(src, src_off, dst, dst_off, len,
				  ((struct copy_ctx *)ctx)->stop, done, e);
}

static int piece_capture(void *ctx, struct bc_volume *src, uint64_t src_off,
			 struct bc_volume *dst, uint64_t dst_off, uint64_t len,
			 uint64_t *done, struct bc_error *e)
{
	struct copy_ctx *c = ctx;

	return bc_scsi_token_capture_copy(c->cap, src, src_off, dst, dst_off,
					  len, c->stop, done, e);
}

static int scsi_flush(struct bc_volume *v, struct bc_error *e)
{
	int rc;

	/* what the kernel holds for the block device goes down first */
	if (sp(v)->data && (rc = sp(v)->data->ops->flush(sp(v)->data, e)) < 0)
		return rc;
	rc = bc_lu_sync_cache16(&sp(v)->lu, e);

	/* A target without a cache may not implement it: nothing to flush. */
	return rc == -EOPNOTSUPP ? 0 : rc;
}

/*
 * The write-behind flush: SYNCHRONIZE CACHE(16) with IMMED, so the target
 * may answer before its cache is written back and the command does not
 * hold a slot of the session's queue meanwhile.  A target may refuse the
 * bit (ILLEGAL REQUEST, INVALID FIELD IN CDB, as SBC-4 allows): then
 * without, now and for every later flush of this volume.  An SG_IO
 * volume's data goes through the block device first: a whole flush.
 */
static int scsi_flush_early(struct bc_volume *v, bool *early,
			    struct bc_error *e)
{
	struct scsi_priv *p = sp(v);
	struct bc_error ie = { 0 };
	int rc;

	*early = false;
	if (p->data || __atomic_load_n(&p->immed_refused, __ATOMIC_RELAXED))
		return scsi_flush(v, e);
	rc = bc_lu_sync_cache16_immed(&p->lu, true, &ie);
	if (rc == 0) {
		*early = true;
		return 0;
	}
	if (ie.status.kind == BC_STATUS_SCSI && ie.status.sense_key == 0x5) {
		__atomic_store_n(&p->immed_refused, true, __ATOMIC_RELAXED);
		return scsi_flush(v, e);
	}
	*e = ie;
	return rc;
}

/* SG_IO volumes: the block device's cache; iSCSI: none on this host */
static int scsi_drop_cache(struct bc_volume *v, struct bc_error *e)
{
	return sp(v)->data ? bc_volume_drop_cache(sp(v)->data, e) : 0;
}

/*
 * The copy manager's copy of [src_off, src_off+len) onto dst_off, by
 * @method: both are SCSI-to-SCSI, so a destination that is no SCSI LU
 * (a file, a block device, an NVMe namespace) is refused.
 */
static int scsi_offload_copy(struct bc_volume *src, uint64_t src_off,
			     struct bc_volume *dst, uint64_t dst_off,
			     uint64_t len, enum bc_method method,
			     const struct bc_stop *stop,
			     uint64_t *done, struct bc_error *e)
{
	bool dst_is_lu = scsi_lu_of(dst) != NULL;
	struct copy_ctx c = { .stop = stop };

	*done = 0;
	if (method == BC_METHOD_TOKEN && dst_is_lu)
		return cut_pairs(src, src_off, dst, dst_off, len, piece_token,
				 &c, done, e);
	if (method != BC_METHOD_XCOPY_LID1 || !dst_is_lu)
		return bc_error_set(e, -EOPNOTSUPP, src->name, "EXTENDED COPY(LID1)",
				    "%s needs SCSI LUs on both sides",
				    bc_method_name(method));
	/* one EXTENDED COPY runs to its end: nothing to poll */
	return cut_pairs(src, src_off, dst, dst_off, len, piece_xcopy, &c,
			 done, e);
}

/* A token copy's point in time, fixed before anything is written
 * (token-capture.c); SCSI-to-SCSI only, as the copy itself. */
static int scsi_capture(struct bc_volume *src, struct bc_volume *dst,
			enum bc_method method, const struct bc_extent *x,
			size_t n, const struct bc_stop *stop,
			struct bc_capture **out, char *said, size_t said_len,
			struct bc_error *e)
{
	if (method != BC_METHOD_TOKEN || !scsi_lu_of(dst))
		return bc_error_set(e, -EOPNOTSUPP, src->name, "POPULATE TOKEN",
				    "%s fixes no point in time here: token copy between SCSI LUs does",
				    bc_method_name(method));
	if (sp(src)->n_segs > 1)
		return bc_error_set(e, -EOPNOTSUPP, src->name, "POPULATE TOKEN",
				    "the source is an LV of %zu segments: its tokens are not cut at segment boundaries yet",
				    sp(src)->n_segs);
	return bc_scsi_token_capture(src, dst, x, n, stop, out, said, said_len, e);
}

static int scsi_capture_copy(struct bc_capture *cap, struct bc_volume *src,
			     uint64_t src_off, struct bc_volume *dst,
			     uint64_t dst_off, uint64_t len,
			     const struct bc_stop *stop, uint64_t *done,
			     struct bc_error *e)
{
	struct copy_ctx c = { .stop = stop, .cap = cap };
	int rc;

	*done = 0;
	if (!scsi_lu_of(dst))
		return bc_error_set(e, -EOPNOTSUPP, dst->name, "WRITE USING TOKEN",
				    "the destination is no SCSI LU");
	rc = cut_pairs(src, src_off, dst, dst_off, len, piece_capture, &c,
		       done, e);
	if (sp(dst)->data && *done)
		bc_blk_invalidate(sp(dst)->data);
	return rc;
}

static void scsi_close(struct bc_volume *v)
{
	bc_scsi_transport_close(sp(v)->lu.t);
	if (sp(v)->data)
		bc_volume_close(sp(v)->data);
}

static const struct bc_volume_ops scsi_ops = {
	.name = "scsi",
	.methods = BC_METHOD_BIT(BC_METHOD_XCOPY_LID1) | BC_METHOD_BIT(BC_METHOD_TOKEN),
	.probe = bc_scsi_probe,
	.read = scsi_read,
	.write = scsi_write,
	.map = scsi_map,
	.zero = scsi_zero_cut,
	.discard = scsi_discard_cut,
	.flush = scsi_flush,
	.flush_early = scsi_flush_early,
	.drop_cache = scsi_drop_cache,
	.offload_copy = scsi_offload_copy,
	.capture = scsi_capture,
	.capture_copy = scsi_capture_copy,
	.capture_free = bc_scsi_capture_free,
	.close = scsi_close,
};

/*
 * Every SCSI volume starts here: a volume over transport @t (owned from
 * here on, also on failure), sized by READ CAPACITY(16), data through
 * READ/WRITE(16) one command at a time until a caller says otherwise.
 */
int bc_scsi_volume_wrap(struct bc_scsi_transport *t, unsigned flags,
			struct bc_volume **out, struct bc_error *e)
{
	struct bc_volume *v;
	struct scsi_priv *p;
	int rc;

	v = bc_volume_alloc(&scsi_ops, t->name, sizeof(*p));
	if (!v) {
		bc_scsi_transport_close(t);
		return bc_error_set(e, -ENOMEM, t->name, "open", NULL);
	}
	p = v->priv;
	p->lu.t = t;
	p->lu.block_size = 512;
	rc = bc_lu_read_capacity16(&p->lu, &p->cap, e);
	if (rc < 0) {
		bc_volume_close(v);
		return rc;
	}
	p->lu.block_size = p->cap.block_size;
	v->block_size = p->cap.block_size;
	v->size = p->cap.blocks * p->cap.block_size;
	v->writable = !!(flags & BC_OPEN_WRITE);
	v->io_threads = 1;	/* one transport, one command at a time */
	p->max_xfer_blocks = DEFAULT_MAX_XFER / v->block_size;
	p->n_segs = 1;
	p->segs[0] = (struct bc_stack_seg){ 0, v->size, 0 };
	*out = v;
	return 0;
}

int bc_scsi_volume_set_windows(struct bc_volume *v, const struct bc_stack_seg *segs,
			       size_t n, struct bc_error *e)
{
	struct scsi_priv *p = scsi_lu_of(v);
	uint64_t total = 0, lu_bytes;

	if (!p)
		return bc_error_set(e, -EINVAL, v->name, "open", "not a SCSI LU volume");
	lu_bytes = p->cap.blocks * p->cap.block_size;
	if (bc_segs_check(segs, n) < 0)
		return bc_error_set(e, -EINVAL, v->name, "open",
				    "windows must be back to back from byte 0, at most %d",
				    BC_STACK_SEGS);
	for (size_t i = 0; i < n; i++) {
		if (segs[i].offset % v->block_size || segs[i].length % v->block_size ||
		    segs[i].offset > lu_bytes || segs[i].length > lu_bytes - segs[i].offset)
			return bc_error_set(e, -EINVAL, v->name, "open",
					    "window %zu (%" PRIu64 " bytes at %" PRIu64
					    ") does not fit the LU (%" PRIu64 " bytes of %u-byte blocks)",
					    i + 1, segs[i].length, segs[i].offset, lu_bytes,
					    v->block_size);
		total += segs[i].length;
	}
	memcpy(p->segs, segs, n * sizeof(segs[0]));
	p->n_segs = n;
	p->base_lba = segs[0].offset / v->block_size;
	v->size = total;
	v->caps_valid = false;
	return 0;
}

int bc_scsi_volume_open(const char *addr, unsigned flags,
			struct bc_volume **out, struct bc_error *e)
{
	struct bc_scsi_transport *t;
	unsigned depth;
	int rc = bc_iscsi_connect(addr, &t, e);

	if (rc < 0)
		return rc;
	depth = t->max_queue;
	rc = bc_scsi_volume_wrap(t, flags, out, e);
	/* the session pipelines commands: one engine thread per slot */
	if (rc == 0 && depth > 1)
		(*out)->io_threads = depth;
	return rc;
}

/*
 * The path whose H:C:T:L names a multipath map's LU and copy domain: of
 * the usable ones, the lowest address, so two maps over LUs of one target
 * reached through the same sessions get the same copy domain whatever
 * order their tables list the paths in.
 */
static size_t naming_path(const struct bc_stack *s)
{
	size_t best = (size_t)s->usable_path;
	unsigned bh = 0, bc = 0, bt = 0;
	uint64_t bl = 0;
	bool have = false;

	for (size_t i = 0; i < s->n_paths; i++) {
		unsigned h, c, t;
		uint64_t l;

		if (!s->paths[i].usable ||
		    bc_sysfs_scsi_address(true, s->paths[i].rdev, &h, &c, &t, &l) < 0)
			continue;
		if (!have || h < bh || (h == bh && (c < bc || (c == bc &&
		    (t < bt || (t == bt && l < bl)))))) {
			best = i;
			bh = h, bc = c, bt = t, bl = l;
			have = true;
		}
	}
	return best;
}

int bc_scsi_sg_volume_open(const char *path, unsigned flags,
			   const struct bc_stack *stack,
			   struct bc_volume **out, struct bc_error *e)
{
	static const struct bc_stack itself;	/* /dev/sgN: no block device */
	struct bc_scsi_transport *t;
	struct bc_volume *data = NULL, *v;
	struct scsi_priv *p;
	uint64_t lu_bytes;
	int rc;

	/* the block device first: O_EXCL on a destination refuses a mounted
	 * or claimed device before any SCSI command is sent */
	if (!stack)
		stack = &itself;
	else if ((rc = bc_blk_open(path, flags, &data, e)) < 0)
		return rc;
	/* a multipath map: SG_IO to its node, named by a usable path */
	if (stack->multipath && stack->multipath_ok && stack->usable_path >= 0) {
		dev_t paths[BC_STACK_PATHS];
		size_t n = 0, name = naming_path(stack);

		/* one usable path names the LU; all are tried after a failure */
		paths[n++] = stack->paths[name].rdev;
		for (size_t i = 0; i < stack->n_paths; i++)
			if (i != name)
				paths[n++] = stack->paths[i].rdev;
		rc = bc_sg_open_via(stack->bottom, paths, n,
				    !!(flags & BC_OPEN_WRITE), &t, e);
	}
	else
		rc = bc_sg_open(stack->bottom[0] ? stack->bottom : path,
				!!(flags & BC_OPEN_WRITE), &t, e);
	if (rc == 0)
		rc = bc_scsi_volume_wrap(t, flags, &v, e);
	if (rc < 0) {
		if (data)
			bc_volume_close(data);
		return rc;
	}
	snprintf(v->name, sizeof(v->name), "%s", path);
	p = v->priv;
	p->data = data;
	if (!data) {
		*out = v;
		return 0;
	}
	lu_bytes = v->size;
	if (p->cap.block_size != data->block_size ||
	    stack->offset % p->cap.block_size ||
	    stack->offset + data->size > lu_bytes) {
		if (stack->n_segs <= 1) {
			rc = bc_error_set(e, -EINVAL, path, "open",
					  "%s does not fit the LU beneath (%s: %u-byte blocks, %" PRIu64
					  " bytes; window at %" PRIu64 ")",
					  path, stack->bottom, p->cap.block_size, lu_bytes,
					  stack->offset);
			bc_volume_close(v);
			return rc;
		}
	}
	if (stack->n_segs > 1) {
		uint64_t total = 0;

		/* every segment whole blocks on the LU, and all of the LV */
		for (size_t i = 0; i < stack->n_segs; i++) {
			const struct bc_stack_seg *g = &stack->segs[i];

			if (p->cap.block_size != data->block_size ||
			    g->offset % p->cap.block_size || g->length % p->cap.block_size ||
			    g->offset > lu_bytes || g->length > lu_bytes - g->offset) {
				rc = bc_error_set(e, -EINVAL, path, "open",
						  "%s does not fit the LU beneath (%s: %u-byte blocks, %" PRIu64
						  " bytes; segment %zu: %" PRIu64 " bytes at %" PRIu64 ")",
						  path, stack->bottom, p->cap.block_size, lu_bytes,
						  i + 1, g->length, g->offset);
				bc_volume_close(v);
				return rc;
			}
			total += g->length;
		}
		if (total != data->size) {
			rc = bc_error_set(e, -EINVAL, path, "open",
					  "%s: its %zu segments hold %" PRIu64 " bytes, the device %" PRIu64,
					  path, stack->n_segs, total, data->size);
			bc_volume_close(v);
			return rc;
		}
		p->n_segs = stack->n_segs;
		memcpy(p->segs, stack->segs, stack->n_segs * sizeof(p->segs[0]));
	} else {
		p->segs[0] = (struct bc_stack_seg){ 0, data->size, stack->offset };
	}
	p->multipath = stack->multipath;
	p->base_lba = stack->offset / p->cap.block_size;
	if (stack->depth || stack->multipath)
		snprintf(p->layers, sizeof(p->layers), "%s", stack->layers);
	v->size = data->size;
	v->writable = data->writable;
	v->has_mode = data->has_mode;
	v->mode = data->mode;
	v->io_threads = data->io_threads;
	*out = v;
	return 0;
}
