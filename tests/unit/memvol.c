/* In-memory volume for engine tests (see memvol.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memvol.h"

struct memvol *memvol_of(struct bc_volume *v)
{
	return v->priv;
}

/* One lock for all memvols: the engine may call from several threads. */
static pthread_mutex_t mv_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct bc_volume_ops mv_ops_reflink;

static int mv_probe(struct bc_volume *v, struct bc_caps *c, struct bc_error *e)
{
	struct memvol *m = memvol_of(v);

	(void)e;
	snprintf(c->id.backend, sizeof(c->id.backend), "mem");
	snprintf(c->id.location, sizeof(c->id.location), "%s", m->location);
	c->size = v->size;
	c->block_size = m->bs;
	c->opt_transfer = m->opt_transfer;
	c->max_transfer = m->max_transfer;
	c->extent_map.state = m->has_map ? BC_SUP_YES : BC_SUP_NO;
	c->map_source = m->map_source;
	c->zero_init.state = m->zero_init ? BC_SUP_YES : BC_SUP_UNKNOWN;
	c->zeroout.state = m->no_zero_op ? BC_SUP_NO : BC_SUP_YES;
	c->xcopy.state = m->offload ? BC_SUP_YES : BC_SUP_NO;
	if (v->ops == &mv_ops_reflink) {
		c->xcopy.state = BC_SUP_NO;
		c->reflink.state = BC_SUP_YES;
		snprintf(c->reflink.reason, sizeof(c->reflink.reason), "memvol clones");
	}
	snprintf(c->id.copy_domain, sizeof(c->id.copy_domain), "%s", m->domain);
	return 0;
}

/* anchored blocks keep what they hold: SBC does not promise zeros there */
static int mv_block_state(const struct memvol *m, uint64_t b)
{
	uint64_t off = b * m->bs;

	if (m->allocated[b])
		return BC_EXTENT_MAPPED;
	if (off >= m->anchor_off && off < m->anchor_off + m->anchor_len)
		return BC_EXTENT_ANCHORED;
	return BC_EXTENT_DEALLOCATED;
}

static int mv_read_unhooked_locked(struct bc_volume *v, void *buf, uint64_t off, size_t len,
		   struct bc_error *e)
{
	struct memvol *m = memvol_of(v);

	if (off % m->bs || len % m->bs || off + len > v->size)
		return bc_error_set(e, -EINVAL, v->name, "read", "unaligned");
	m->reads++;
	if (m->fail_read_at && m->reads == m->fail_read_at)
		return bc_error_set_lba(e, -EIO, v->name, "READ(16)", off / m->bs,
					m->bs, "MEDIUM ERROR: injected");
	for (uint64_t b = off / m->bs; b < (off + len) / m->bs; b++) {
		uint8_t *dst = (uint8_t *)buf + (b * m->bs - off);

		if (mv_block_state(m, b) != BC_EXTENT_DEALLOCATED || !m->zero_init)
			memcpy(dst, m->data + b * m->bs, m->bs);
		else
			memset(dst, 0, m->bs);
	}
	m->read_bytes += len;
	return 0;
}

static int mv_write_locked(struct bc_volume *v, const void *buf, uint64_t off,
		    size_t len, struct bc_error *e)
{
	struct memvol *m = memvol_of(v);

	if (off % m->bs || len % m->bs || off + len > v->size)
		return bc_error_set(e, -EINVAL, v->name, "write", "unaligned");
	m->writes++;
	if (m->fail_write_at && m->writes == m->fail_write_at)
		return bc_error_set_lba(e, -EIO, v->name, "WRITE(16)", off / m->bs,
					m->bs, "injected");
	memcpy(m->data + off, buf, len);
	for (uint64_t b = off / m->bs; b < (off + len) / m->bs; b++) {
		m->allocated[b] = true;
		m->dirty[b] = true;
	}
	m->written_bytes += len;
	return 0;
}

static int mv_map_locked(struct bc_volume *v, uint64_t off, uint64_t len,
		  struct bc_extent *out, size_t max, size_t *n,
		  struct bc_error *e)
{
	struct memvol *m = memvol_of(v);
	uint64_t b = off / m->bs, end = (off + len) / m->bs;
	size_t i = 0;

	m->maps++;
	if (m->map_lie && off == m->map_lie_at) {
		if (m->map_fail)
			return bc_error_set_lba(e, m->map_fail, v->name,
						"GET LBA STATUS", b, m->bs,
						"injected");
		for (i = 0; i < m->map_lie_n && i < max && i < 8; i++)
			out[i] = m->map_lie_ext[i];
		*n = m->map_lie_n;
		return 0;
	}
	if (end > m->nblocks)
		end = m->nblocks;
	while (b < end && i < max) {
		int st = mv_block_state(m, b);
		uint64_t s = b;

		while (b < end && mv_block_state(m, b) == st)
			b++;
		out[i++] = (struct bc_extent){ s * m->bs, (b - s) * m->bs,
					       (enum bc_extent_state)st };
	}
	*n = i;
	return 0;
}

static int mv_zero_unhooked_locked(struct bc_volume *v, uint64_t off, uint64_t len,
		   unsigned flags, struct bc_error *e)
{
	struct memvol *m = memvol_of(v);

	if (m->no_zero_op)
		return -EOPNOTSUPP;
	m->zeros++;
	if (m->fail_zero_at && m->zeros == m->fail_zero_at)
		return bc_error_set_lba(e, -EIO, v->name, "WRITE SAME(16)", off / m->bs,
					m->bs, "injected");
	memset(m->data + off, 0, len);
	for (uint64_t b = off / m->bs; b < (off + len) / m->bs; b++) {
		m->allocated[b] = !(flags & BC_ZERO_MAY_UNMAP) || !m->zero_init;
		m->dirty[b] = true;
	}
	m->zeroed_bytes += len;
	return 0;
}

static int mv_flush_unhooked_locked(struct bc_volume *v, struct bc_error *e)
{
	struct memvol *m = memvol_of(v);
	bool lose = m->fail_flush_at && ++m->flushes == m->fail_flush_at;

	if (!m->fail_flush_at)
		m->flushes++;
	for (uint64_t b = 0; b < m->nblocks; b++) {
		if (lose && m->volatile_cache && m->dirty[b]) {
			memset(m->data + b * m->bs, 0xee, m->bs);
			m->allocated[b] = true;
		}
		m->dirty[b] = false;
	}
	if (lose)
		return bc_error_set(e, -EIO, v->name, "SYNCHRONIZE CACHE(10)",
				    "MEDIUM ERROR: write error (injected)");
	return 0;
}

/*
 * A copy manager like LIO's: copies whatever it reads (the destination
 * ends up allocated), may refuse, may stop part-way with nothing said
 * about the failed command beyond *done.
 */
static int mv_offload_locked(struct bc_volume *src, uint64_t soff,
			     struct bc_volume *dst, uint64_t doff, uint64_t len,
			     enum bc_method method, const struct bc_stop *stop,
			     uint64_t *done, struct bc_error *e)
{
	struct memvol *s = memvol_of(src), *d = memvol_of(dst);
	uint64_t n = len;

	(void)method;
	(void)stop;
	*done = 0;
	s->offload_calls++;
	if (!len && (s->pair_cannot_ask || s->pair_os_refuse)) {
		bc_error_set(e, -EOPNOTSUPP, dst->name, "reflink", "pair check (injected)");
		if (s->pair_os_refuse)
			e->status.cat = BC_CAT_NOT_SUPPORTED;
		return -EOPNOTSUPP;
	}
	if (len && s->offload_os_err) {
		int err = s->offload_os_err;

		s->offload_os_err = 0;	/* the first data command only */
		if (s->offload_os_partial) {
			memcpy(d->data + doff, s->data + soff, s->bs);
			d->allocated[doff / d->bs] = true;
		}
		bc_error_set_lba(e, err, dst->name, "FICLONERANGE", doff / d->bs,
				 d->bs, "injected");
		e->status.cat = s->offload_os_cat;
		return err;
	}
	if (len && s->offload_dev_cat != BC_CAT_OK) {
		enum bc_status_cat cat = s->offload_dev_cat;

		s->offload_dev_cat = BC_CAT_OK;	/* the first data command only */
		bc_error_set_lba(e, -EIO, src->name, "EXTENDED COPY(LID1)",
				 soff / s->bs, s->bs, "device status (injected)");
		e->status.kind = BC_STATUS_SCSI;
		e->status.cat = cat;
		return -EIO;
	}
	if (s->offload_refuse || !s->offload)
		return bc_error_set_lba(e, -ECANCELED, src->name, "EXTENDED COPY(LID1)",
					soff / s->bs, s->bs,
					"COPY ABORTED: copy target device not reachable (injected)");
	if (s->offload_fail_after) {
		uint64_t room = s->offload_fail_after > s->offloaded_bytes ?
				s->offload_fail_after - s->offloaded_bytes : 0;

		if (room < n)
			n = room / s->bs * s->bs;
	}
	for (uint64_t b = 0; b < n / s->bs; b++) {
		uint64_t sb = soff / s->bs + b, db = doff / d->bs + b;

		if (s->allocated[sb] || !s->zero_init)
			memcpy(d->data + db * d->bs, s->data + sb * s->bs, s->bs);
		else
			memset(d->data + db * d->bs, 0, d->bs);
		d->allocated[db] = true;
	}
	s->offloaded_bytes += n;
	*done = n;
	if (n < len)
		return bc_error_set_lba(e, -ECANCELED, src->name, "EXTENDED COPY(LID1)",
					(soff + n) / s->bs, s->bs,
					"COPY ABORTED (injected after %llu bytes)",
					(unsigned long long)s->offload_fail_after);
	return 0;
}

#define LOCKED(name, params, args)					\
	static int name params						\
	{								\
		int rc;							\
		pthread_mutex_lock(&mv_lock);				\
		rc = name##_locked args;				\
		pthread_mutex_unlock(&mv_lock);				\
		return rc;						\
	}
LOCKED(mv_read_unhooked, (struct bc_volume *v, void *buf, uint64_t off,
			  size_t len, struct bc_error *e), (v, buf, off, len, e))
LOCKED(mv_write, (struct bc_volume *v, const void *buf, uint64_t off,
		  size_t len, struct bc_error *e), (v, buf, off, len, e))
LOCKED(mv_map, (struct bc_volume *v, uint64_t off, uint64_t len,
		struct bc_extent *out, size_t max, size_t *n,
		struct bc_error *e), (v, off, len, out, max, n, e))
LOCKED(mv_zero_unhooked, (struct bc_volume *v, uint64_t off, uint64_t len,
		 unsigned flags, struct bc_error *e), (v, off, len, flags, e))
LOCKED(mv_flush_unhooked, (struct bc_volume *v, struct bc_error *e), (v, e))
LOCKED(mv_offload, (struct bc_volume *src, uint64_t soff, struct bc_volume *dst,
		    uint64_t doff, uint64_t len, enum bc_method method,
		    const struct bc_stop *stop, uint64_t *done, struct bc_error *e),
       (src, soff, dst, doff, len, method, stop, done, e))

/* The hooks run outside the lock: a held read must not stop the rest. */
static int mv_read(struct bc_volume *v, void *buf, uint64_t off, size_t len,
		   struct bc_error *e)
{
	struct memvol *m = memvol_of(v);

	if (m->before_io)
		m->before_io(m, false, off, len, m->before_io_arg);
	return mv_read_unhooked(v, buf, off, len, e);
}

static int mv_zero(struct bc_volume *v, uint64_t off, uint64_t len,
		   unsigned flags, struct bc_error *e)
{
	struct memvol *m = memvol_of(v);

	if (m->before_zero)
		m->before_zero(m, off, len, m->before_zero_arg);
	return mv_zero_unhooked(v, off, len, flags, e);
}

void memvol_overlap_zero(struct memvol *m, uint64_t off, uint64_t len,
			 void *arg)
{
	struct memvol_overlap *t = arg;
	struct timespec until;

	(void)m;
	(void)off;
	(void)len;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;
	pthread_mutex_lock(&t->lock);
	t->calls++;
	if (++t->in >= 2)
		t->seen = true;
	pthread_cond_broadcast(&t->cv);
	while (!t->seen &&
	       pthread_cond_timedwait(&t->cv, &t->lock, &until) != ETIMEDOUT)
		;
	t->in--;
	pthread_mutex_unlock(&t->lock);
}

void memvol_overlap_pair(struct bc_volume **src, struct bc_volume **dst,
			 struct memvol_overlap *t)
{
	const uint64_t MiB = 1024 * 1024;

	*src = memvol_new("src", 64 * MiB, 512, true, true, false);
	*dst = memvol_new("old", 64 * MiB, 512, true, true, true);
	(*src)->io_threads = (*dst)->io_threads = 4;
	for (unsigned i = 0; i < 4; i++)
		memvol_fill(*src, i * 16 * MiB, 1 * MiB, 20 + i);
	memvol_garbage(*dst, 21);
	memvol_of(*dst)->before_zero = memvol_overlap_zero;
	memvol_of(*dst)->before_zero_arg = t;
}

static int mv_flush(struct bc_volume *v, struct bc_error *e)
{
	struct memvol *m = memvol_of(v);

	if (m->before_io)
		m->before_io(m, true, 0, 0, m->before_io_arg);
	return mv_flush_unhooked(v, e);
}

static void mv_close(struct bc_volume *v)
{
	struct memvol *m = memvol_of(v);

	free(m->data);
	free(m->allocated);
	free(m->dirty);
}

struct bc_capture {
	struct bc_volume *dst;
};

/* As file.c's capture: the clone is the hold. */
static int mv_capture_locked(struct bc_volume *src, struct bc_volume *dst,
			     enum bc_method method, const struct bc_extent *x,
			     size_t n, const struct bc_stop *stop,
			     struct bc_capture **out, char *said, size_t said_len,
			     struct bc_error *e)
{
	struct memvol *s = memvol_of(src), *d = memvol_of(dst);

	(void)method;
	(void)stop;
	s->captures++;
	for (size_t i = 0; i < n; i++) {
		if (s->capture_fail_at == i + 1) {
			bool written = i > 0;

			/* what was cloned is deallocated again */
			for (size_t k = 0; k < i; k++)
				for (uint64_t b = x[k].offset / d->bs;
				     b < (x[k].offset + x[k].length) / d->bs; b++) {
					memset(d->data + b * d->bs, 0, d->bs);
					d->allocated[b] = false;
				}
			bc_error_set_lba(e, s->capture_err, dst->name, "FICLONERANGE",
					 x[i].offset / d->bs, d->bs, "injected");
			e->status.cat = written ? BC_CAT_OTHER : BC_CAT_NOT_SUPPORTED;
			return s->capture_err;
		}
		memcpy(d->data + x[i].offset, s->data + x[i].offset, x[i].length);
		for (uint64_t b = x[i].offset / d->bs;
		     b < (x[i].offset + x[i].length) / d->bs; b++)
			d->allocated[b] = true;
	}
	if (!(*out = calloc(1, sizeof(**out))))
		abort();
	(*out)->dst = dst;
	snprintf(said, said_len, "%zu extents cloned", n);
	return 0;
}

static int mv_capture_copy(struct bc_capture *cap, struct bc_volume *src,
			   uint64_t src_off, struct bc_volume *dst,
			   uint64_t dst_off, uint64_t len,
			   const struct bc_stop *stop, uint64_t *done,
			   struct bc_error *e)
{
	(void)src;
	(void)stop;
	if (cap->dst != dst || src_off != dst_off)
		return bc_error_set(e, -EINVAL, dst->name, "capture copy", "another range");
	*done = len;
	return 0;
}

static void mv_capture_free(struct bc_capture *cap)
{
	free(cap);
}

LOCKED(mv_capture, (struct bc_volume *src, struct bc_volume *dst,
		    enum bc_method method, const struct bc_extent *x, size_t n,
		    const struct bc_stop *stop, struct bc_capture **out,
		    char *said, size_t said_len, struct bc_error *e),
       (src, dst, method, x, n, stop, out, said, said_len, e))

static const struct bc_volume_ops mv_ops_reflink = {
	.name = "mem", .methods = BC_METHOD_BIT(BC_METHOD_REFLINK), .probe = mv_probe,
	.read = mv_read, .write = mv_write, .map = mv_map, .zero = mv_zero,
	.offload_copy = mv_offload, .flush = mv_flush, .close = mv_close,
	.capture = mv_capture, .capture_copy = mv_capture_copy,
	.capture_free = mv_capture_free,
};

void memvol_reflink(struct bc_volume *v)
{
	v->ops = &mv_ops_reflink;
}

static const struct bc_volume_ops mv_ops = {
	.name = "mem", .methods = BC_METHOD_BIT(BC_METHOD_XCOPY_LID1), .probe = mv_probe, .read = mv_read, .write = mv_write,
	.map = mv_map, .zero = mv_zero, .offload_copy = mv_offload,
	.flush = mv_flush, .close = mv_close,
};

static const struct bc_volume_ops mv_ops_nomap = {
	.name = "mem", .methods = BC_METHOD_BIT(BC_METHOD_XCOPY_LID1), .probe = mv_probe, .read = mv_read, .write = mv_write,
	.zero = mv_zero, .offload_copy = mv_offload, .flush = mv_flush,
	.close = mv_close,
};

struct bc_volume *memvol_new(const char *name, uint64_t size, uint32_t bs,
			     bool has_map, bool zero_init, bool writable)
{
	struct bc_volume *v = calloc(1, sizeof(*v) + sizeof(struct memvol));
	struct memvol *m;

	if (!v)
		abort();
	v->ops = has_map ? &mv_ops : &mv_ops_nomap;
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->priv = v + 1;
	v->size = size;
	v->block_size = bs;
	v->writable = writable;
	m = v->priv;
	m->bs = bs;
	m->nblocks = size / bs;
	m->has_map = has_map;
	m->zero_init = zero_init;
	m->data = calloc(1, size);
	m->allocated = calloc(m->nblocks, sizeof(bool));
	m->dirty = calloc(m->nblocks, sizeof(bool));
	snprintf(m->location, sizeof(m->location), "mem:%s", name);
	snprintf(m->domain, sizeof(m->domain), "mem");
	if (!m->data || !m->allocated || !m->dirty)
		abort();
	return v;
}

void memvol_fill(struct bc_volume *v, uint64_t off, uint64_t len, unsigned seed)
{
	struct memvol *m = memvol_of(v);

	for (uint64_t i = 0; i < len; i++)
		m->data[off + i] = (uint8_t)(((off + i) * 2654435761u + seed) >> 7 | 1);
	for (uint64_t b = off / m->bs; b < (off + len) / m->bs; b++)
		m->allocated[b] = true;
}

void memvol_garbage(struct bc_volume *v, unsigned seed)
{
	memvol_fill(v, 0, v->size, seed);
}

uint64_t memvol_allocated_bytes(struct bc_volume *v)
{
	struct memvol *m = memvol_of(v);
	uint64_t n = 0;

	for (uint64_t b = 0; b < m->nblocks; b++)
		n += m->allocated[b];
	return n * m->bs;
}

bool memvol_same(struct bc_volume *a, struct bc_volume *b, uint64_t len)
{
	uint8_t *x = malloc(len), *y = malloc(len);
	struct bc_error e = { 0 };
	bool same;

	if (!x || !y)
		abort();
	if (a->ops->read(a, x, 0, len, &e) < 0 || b->ops->read(b, y, 0, len, &e) < 0)
		abort();
	same = memcmp(x, y, len) == 0;
	free(x);
	free(y);
	return same;
}
