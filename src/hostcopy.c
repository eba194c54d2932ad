// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The host copy engine: walk the source's allocation, read what is
 * allocated, write what is not zero, and make sure every other byte of the
 * destination reads zero -- by proof (the destination is known zero
 * there), or by the cheapest zeroing command the destination has.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <blkclone/copy.h>

#include "zerodetect.h"

#define DEFAULT_CHUNK (1u << 20)
#define MAP_BATCH 64

struct engine {
	struct bc_volume *src, *dst;
	const struct bc_caps *sc, *dc;
	const struct bc_copy_opts *o;
	struct bc_copy_stats *st;
	struct bc_error *e;
	bool dest_proven_zero;
	bool src_map;		/* the source has a usable map */
	bool dst_map_proves;	/* dst map + zero_init: holes read zero */
	uint32_t align;		/* I/O alignment: the larger block size */
	uint32_t zgran;		/* zero detection granularity */
	uint32_t chunk;
	/* a destination range waiting to be made zero, merged across
	 * chunks so runs of holes cost one command */
	uint64_t hole_off, hole_len;
	struct timespec t0, last_progress;
};

static double elapsed(const struct timespec *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - a->tv_sec) +
	       (double)(now.tv_nsec - a->tv_nsec) / 1e9;
}

static void progress(struct engine *g, uint64_t pos, bool force)
{
	g->st->done_bytes = pos;
	g->st->seconds = elapsed(&g->t0);
	if (!g->o->progress)
		return;
	if (!force && elapsed(&g->last_progress) < 0.25)
		return;
	clock_gettime(CLOCK_MONOTONIC, &g->last_progress);
	g->o->progress(g->st, g->o->progress_arg);
}

/* Zero [off, off+len) on the destination, which is not proven zero. */
static int zero_dest(struct engine *g, uint64_t off, uint64_t len)
{
	int rc = g->dst->ops->zero ?
		 g->dst->ops->zero(g->dst, off, len, BC_ZERO_MAY_UNMAP, g->e) :
		 -EOPNOTSUPP;

	if (rc == -EOPNOTSUPP) {
		/* The backend cannot zero cheaply: write zeros ourselves. */
		static const size_t zchunk = 1 << 20;
		void *z;

		if (posix_memalign(&z, 4096, zchunk))
			return bc_error_set(g->e, -ENOMEM, g->dst->name,
					    "write zeros", NULL);
		memset(z, 0, zchunk);
		rc = 0;
		for (uint64_t p = off; p < off + len && !rc; p += zchunk) {
			size_t n = off + len - p < zchunk ?
				   (size_t)(off + len - p) : zchunk;

			rc = g->dst->ops->write(g->dst, z, p, n, g->e);
			if (!rc)
				g->st->written_bytes += n;
		}
		free(z);
		return rc;
	}
	if (rc == 0)
		g->st->zeroed_bytes += len;
	return rc;
}

/*
 * A range of the destination must read zero.  Skip it where that is
 * proven, zero it elsewhere.
 */
static int settle_hole(struct engine *g, uint64_t off, uint64_t len)
{
	struct bc_extent ext[MAP_BATCH];
	uint64_t end = off + len;

	if (!len)
		return 0;
	if (g->dest_proven_zero) {
		g->st->skipped_bytes += len;
		return 0;
	}
	if (!g->dst_map_proves)
		return zero_dest(g, off, len);
	while (off < end) {
		size_t n = 0;
		int rc = g->dst->ops->map(g->dst, off, end - off, ext,
					  MAP_BATCH, &n, g->e);

		if (rc < 0)
			return rc;
		if (!n)
			return zero_dest(g, off, end - off);
		for (size_t i = 0; i < n && off < end; i++) {
			uint64_t l = ext[i].length;

			if (ext[i].offset != off || !l)
				return zero_dest(g, off, end - off);
			if (l > end - off)
				l = end - off;
			if (ext[i].state == BC_EXTENT_DEALLOCATED)
				g->st->skipped_bytes += l;
			else if ((rc = zero_dest(g, off, l)) < 0)
				return rc;
			off += l;
		}
	}
	return 0;
}

static int flush_hole(struct engine *g)
{
	int rc = settle_hole(g, g->hole_off, g->hole_len);

	g->hole_len = 0;
	return rc;
}

static int add_hole(struct engine *g, uint64_t off, uint64_t len)
{
	if (g->hole_len && g->hole_off + g->hole_len == off) {
		g->hole_len += len;
		return 0;
	}
	if (g->hole_len) {
		int rc = flush_hole(g);

		if (rc < 0)
			return rc;
	}
	g->hole_off = off;
	g->hole_len = len;
	return 0;
}

/* Copy one allocated range through @buf, splitting out zero runs. */
static int copy_data(struct engine *g, void *buf, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	int rc;

	while (off < end) {
		size_t n = end - off < g->chunk ? (size_t)(end - off) : g->chunk;
		size_t i = 0;

		if (g->o->cancel && *g->o->cancel)
			return bc_error_set(g->e, -EINTR, g->src->name, "copy",
					    "interrupted");
		rc = g->src->ops->read(g->src, buf, off, n, g->e);
		if (rc < 0)
			return rc;
		g->st->read_bytes += n;
		while (i < n) {
			size_t run = 0;
			bool zero = bc_is_zero((char *)buf + i,
					       n - i < g->zgran ? n - i : g->zgran);

			/* extend the run while pieces keep the same kind */
			while (i + run < n) {
				size_t piece = n - i - run < g->zgran ?
					       n - i - run : g->zgran;

				if (bc_is_zero((char *)buf + i + run, piece) != zero)
					break;
				run += piece;
			}
			if (zero) {
				rc = add_hole(g, off + i, run);
			} else {
				rc = flush_hole(g);
				if (!rc)
					rc = g->dst->ops->write(g->dst,
								(char *)buf + i,
								off + i, run, g->e);
				if (!rc)
					g->st->written_bytes += run;
			}
			if (rc < 0)
				return rc;
			i += run;
		}
		off += n;
		g->st->resume_offset = g->hole_len ? g->hole_off : off;
		progress(g, off, false);
	}
	return 0;
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/*
 * Re-cut the source's extents to the I/O alignment (the larger block
 * size): a block is a hole only if the source's map says all of it is,
 * so a 512-byte extent never leads to an unaligned write on a 4096-byte
 * destination.  Holes that would need the next map reply to be complete
 * are left for that reply; progress is always made.
 */
static size_t align_extents(const struct bc_extent *in, size_t n,
			    struct bc_extent *out, uint64_t pos, uint64_t end,
			    uint64_t align, bool src_zero_init)
{
	uint64_t cur = pos, last = pos;
	bool last_hole = false;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t s = in[i].offset, e = s + in[i].length;
		bool hole = in[i].state != BC_EXTENT_MAPPED && src_zero_init;

		if (s != last || !in[i].length)
			break;	/* not contiguous: stop here, ask again */
		last = e > end ? end : e;
		last_hole = hole;
		if (hole) {
			uint64_t hs = round_up(s, align), he = e / align * align;

			if (e >= end)
				he = end;
			if (hs < he) {
				if (cur < hs)
					out[k++] = (struct bc_extent){ cur, hs - cur,
								       BC_EXTENT_MAPPED };
				out[k++] = (struct bc_extent){ hs, he - hs,
							       BC_EXTENT_DEALLOCATED };
				cur = he;
			}
		}
		if (last >= end)
			break;
	}
	if (cur < last) {
		/* The tail: data up to a whole block (or the end), unless it is
		 * a partial hole the next map reply can complete. */
		uint64_t stop = round_up(last, align);

		if (stop > end)
			stop = end;
		if (k == 0 || !last_hole || stop == end)
			out[k++] = (struct bc_extent){ cur, stop - cur,
						       BC_EXTENT_MAPPED };
	}
	if (k == 0)	/* never stall: at least one aligned block of data */
		out[k++] = (struct bc_extent){ pos, (round_up(pos + 1, align) > end ?
					       end : round_up(pos + 1, align)) - pos,
					       BC_EXTENT_MAPPED };
	return k;
}

static int next_extents(struct engine *g, uint64_t pos, uint64_t end,
			struct bc_extent *ext, size_t *n)
{
	struct bc_extent raw[MAP_BATCH];
	size_t got = 0;
	int rc;

	if (!g->src_map) {
		ext[0] = (struct bc_extent){ pos, end - pos, BC_EXTENT_MAPPED };
		*n = 1;
		return 0;
	}
	rc = g->src->ops->map(g->src, pos, end - pos, raw, MAP_BATCH, &got,
			      g->e);
	if (rc < 0)
		return rc;
	if (!got || raw[0].offset != pos)
		return bc_error_set_lba(g->e, -EIO, g->src->name, "map",
					pos / g->src->block_size,
					g->src->block_size,
					"allocation map does not continue at this LBA");
	*n = align_extents(raw, got, ext, pos, end, g->align,
			   g->sc->zero_init.state == BC_SUP_YES);
	return 0;
}

static uint32_t pick_chunk(uint32_t want, uint32_t align)
{
	uint32_t c = want ? want : DEFAULT_CHUNK;

	if (c < align)
		c = align;
	return c / align * align;
}

int bc_host_copy(struct bc_volume *src, struct bc_volume *dst,
		 bool dest_proven_zero, const struct bc_copy_opts *o,
		 struct bc_copy_stats *st, struct bc_error *e)
{
	struct bc_extent ext[2 * MAP_BATCH + 2];
	struct engine g = { .src = src, .dst = dst, .o = o, .st = st, .e = e,
			    .dest_proven_zero = dest_proven_zero };
	uint64_t pos, end = src->size;
	void *buf = NULL;
	int rc;

	if ((rc = bc_volume_caps(src, &g.sc, e)) < 0 ||
	    (rc = bc_volume_caps(dst, &g.dc, e)) < 0)
		return rc;
	g.src_map = src->ops->map && g.sc->extent_map.state == BC_SUP_YES;
	g.dst_map_proves = dst->ops->map &&
			   g.dc->extent_map.state == BC_SUP_YES &&
			   g.dc->zero_init.state == BC_SUP_YES;
	g.align = src->block_size > dst->block_size ? src->block_size :
						      dst->block_size;
	g.zgran = g.align > 4096 ? g.align : 4096;
	g.chunk = pick_chunk(o->chunk, g.zgran);
	clock_gettime(CLOCK_MONOTONIC, &g.t0);
	g.last_progress = g.t0;

	pos = o->start / g.align * g.align;
	st->total_bytes = end;
	st->resume_offset = pos;
	/* What other writers left in the page cache must reach the device
	 * (or a loop device's backing file) before we map and read it. */
	if (src->ops->flush && (rc = src->ops->flush(src, e)) < 0)
		return rc;
	if (posix_memalign(&buf, 4096, g.chunk))
		return bc_error_set(e, -ENOMEM, src->name, "copy", NULL);

	while (pos < end) {
		size_t n = 0;

		rc = next_extents(&g, pos, end, ext, &n);
		if (rc < 0)
			goto out;
		if (!n || ext[0].offset != pos || !ext[0].length) {
			rc = bc_error_set_lba(e, -EIO, src->name, "map",
					      pos / src->block_size,
					      src->block_size,
					      "allocation map does not continue at this LBA");
			goto out;
		}
		for (size_t i = 0; i < n && pos < end; i++) {
			uint64_t len = ext[i].length;
			bool hole = ext[i].state != BC_EXTENT_MAPPED;

			if (ext[i].offset != pos)
				break;
			if (len > end - pos)
				len = end - pos;
			rc = hole ? add_hole(&g, pos, len)
				  : copy_data(&g, buf, pos, len);
			if (rc < 0)
				goto out;
			/* Holes are done once settled; flush so that the
			 * resume offset below is honest. */
			if (hole)
				progress(&g, pos + len, false);
			pos += len;
			st->resume_offset = g.hole_len ? g.hole_off : pos;
		}
	}
	rc = flush_hole(&g);
	if (rc < 0)
		goto out;
	st->resume_offset = end;
	if (dst->ops->flush)
		rc = dst->ops->flush(dst, e);
out:
	if (rc < 0 && g.hole_len)
		st->resume_offset = g.hole_off;
	progress(&g, rc < 0 ? st->resume_offset : end, true);
	free(buf);
	return rc;
}
