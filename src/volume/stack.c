// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Resolve partitions, dm-linear volumes and dm-multipath maps to the
 * device beneath and the windows onto it (see stack.h).  Partitions come
 * from sysfs ("partition", "start", the parent directory); device-mapper
 * tables and status lines from the DM_TABLE_STATUS ioctl, parsed with
 * every length checked; a multipath map's paths from sysfs (device/state,
 * the VPD page 0x83 the kernel read, device/vpd_pg83).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/dm-ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "volume/dmtable.h"
#include "volume/identity.h"
#include "volume/stack.h"
#include "scsi/lu.h"
#include "util/sysfs.h"

#define DM_BUF 65536
#define PARAMS_MAX 1024

/* One attribute of exactly this device (no fallback to the parent). */
static int read_attr(const char *dir, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, attr);
	return bc_sysfs_read_path(path, buf, len);
}

static int read_u64(const char *dir, const char *attr, uint64_t *out)
{
	char buf[64], *end;
	int rc = read_attr(dir, attr, buf, sizeof(buf));

	if (rc < 0)
		return rc;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return errno || end == buf ? -EINVAL : 0;
}

int bc_stack_parse_linear(const char *params, unsigned *maj, unsigned *min,
			  uint64_t *sector)
{
	unsigned long long s;
	char tail;

	if (!params)
		return -EINVAL;
	/* the kernel prints the device as MAJ:MIN, the offset in sectors */
	if (sscanf(params, "%u:%u %llu %c", maj, min, &s, &tail) != 3)
		return -EINVAL;
	*sector = s;
	return 0;
}

void bc_stack_refusal(char *buf, size_t len, const char *kname,
		      const char *target)
{
	snprintf(buf, len, "%s is a dm-%s: not a plain window onto the LU",
		 kname, target);
}

/* One target of a device-mapper table: sectors, type, parameters. */
struct dm_tgt {
	uint64_t start, length;
	char type[DM_MAX_TYPE_NAME];
	char params[PARAMS_MAX];
};

/*
 * The targets of dm device @rdev, with their table lines (@status false)
 * or status lines (@status true); at most @max.  -EOPNOTSUPP with the
 * reason in @why for more targets than that.
 */
static int dm_targets(dev_t rdev, bool status, struct dm_tgt *out, size_t max,
		      size_t *n, char *why, size_t wlen)
{
	union {
		struct dm_ioctl io;
		char raw[DM_BUF];
	} *b;
	size_t pos, end;
	int fd, rc = -EINVAL;

	*n = 0;
	fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(why, wlen, "cannot open /dev/mapper/control: %s",
			 strerror(errno));
		return rc;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	b->io.version[0] = DM_VERSION_MAJOR;
	b->io.data_size = sizeof(*b);
	b->io.data_start = sizeof(struct dm_ioctl);
	b->io.dev = makedev(major(rdev), minor(rdev));
	b->io.flags = status ? 0 : DM_STATUS_TABLE_FLAG;
	if (ioctl(fd, DM_TABLE_STATUS, &b->io) < 0) {
		rc = -errno;
		snprintf(why, wlen, "DM_TABLE_STATUS: %s", strerror(errno));
		goto out;
	}
	if (b->io.flags & DM_BUFFER_FULL_FLAG) {
		snprintf(why, wlen, "device-mapper table too large");
		goto out;
	}
	if (b->io.target_count == 0) {
		snprintf(why, wlen, "device-mapper table is empty");
		rc = -EOPNOTSUPP;
		goto out;
	}
	if (b->io.target_count > max) {
		snprintf(why, wlen, "device-mapper table has %u targets (at most %zu followed)",
			 b->io.target_count, max);
		rc = -EOPNOTSUPP;
		goto out;
	}
	end = b->io.data_size < sizeof(*b) ? b->io.data_size : sizeof(*b);
	pos = b->io.data_start;
	for (uint32_t i = 0; i < b->io.target_count; i++) {
		struct dm_target_spec ts;
		const char *params, *nul;

		if (pos > end || end - pos < sizeof(ts) + 1) {
			snprintf(why, wlen, "malformed device-mapper reply");
			goto out;
		}
		memcpy(&ts, b->raw + pos, sizeof(ts));
		params = b->raw + pos + sizeof(ts);
		nul = memchr(params, '\0', end - pos - sizeof(ts));
		if (!nul || (size_t)(nul - params) >= PARAMS_MAX) {
			snprintf(why, wlen, "malformed device-mapper reply");
			goto out;
		}
		ts.target_type[DM_MAX_TYPE_NAME - 1] = '\0';
		out[i].start = ts.sector_start;
		out[i].length = ts.length;
		snprintf(out[i].type, sizeof(out[i].type), "%s", ts.target_type);
		memcpy(out[i].params, params, (size_t)(nul - params) + 1);
		/* the next spec: bytes from the first one (DM_TABLE_STATUS) */
		if (ts.next > end - b->io.data_start && i + 1 < b->io.target_count) {
			snprintf(why, wlen, "malformed device-mapper reply");
			goto out;
		}
		pos = b->io.data_start + ts.next;
	}
	*n = b->io.target_count;
	rc = 0;
out:
	free(b);
	close(fd);
	return rc;
}

static void add_layer(struct bc_stack *s, const char *name, const char *kind)
{
	size_t n = strlen(s->layers);

	snprintf(s->layers + n, sizeof(s->layers) - n, "%s%s%s%s%s",
		 n ? " > " : "", name, kind ? " (" : "", kind ? kind : "",
		 kind ? ")" : "");
}

/* The unique designator keys a path's LU reported when the kernel found
 * it (device/vpd_pg83), sorted, joined by spaces; -ENOENT for none. */
static int path_designators(dev_t pdev, char *keys, size_t klen, char *first,
			    size_t flen)
{
	char path[96];
	uint8_t *vpd;
	ssize_t got;
	struct bc_designator ds[BC_MAX_DESIGNATORS];
	char k[BC_MAX_DESIGNATORS][BC_UNIT_KEY_MAX];
	size_t nd = 0, nk = 0, used = 0;
	int fd;

	keys[0] = first[0] = '\0';
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/device/vpd_pg83",
		 major(pdev), minor(pdev));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	vpd = malloc(4096);
	got = vpd ? read(fd, vpd, 4096) : -1;
	close(fd);
	if (got <= 0 || bc_lu_parse_designators(vpd, (size_t)got, ds,
						BC_MAX_DESIGNATORS, &nd) < 0) {
		free(vpd);
		return -ENOENT;
	}
	free(vpd);
	for (size_t i = 0; i < nd; i++)
		if (bc_identity_designator_key(k[nk], sizeof(k[nk]), &ds[i]) >= 0)
			nk++;
	if (!nk)
		return -ENOENT;
	/* a set: the order a target lists them in does not matter */
	for (size_t i = 1; i < nk; i++)
		for (size_t j = i; j > 0 && strcmp(k[j - 1], k[j]) > 0; j--) {
			char t[BC_UNIT_KEY_MAX];

			memcpy(t, k[j], sizeof(t));
			memcpy(k[j], k[j - 1], sizeof(t));
			memcpy(k[j - 1], t, sizeof(t));
		}
	snprintf(first, flen, "%.79s", k[0]);
	for (size_t i = 0; i < nk; i++)
		used += (size_t)snprintf(keys + used, used < klen ? klen - used : 0,
					 "%s%s", i ? " " : "", k[i]);
	return used < klen ? 0 : -ENAMETOOLONG;
}

/*
 * The paths of multipath map @rdev (@kname), from its table and status
 * lines and sysfs.  0 when every path is a SCSI disk naming the same LU
 * and one at least is usable; otherwise the reason in @why.
 */
static int multipath_paths(struct bc_stack *s, dev_t rdev, const char *kname,
			   const char *table, char *why, size_t wlen)
{
	struct bc_mpath_path mp[BC_STACK_PATHS], ms[BC_STACK_PATHS];
	struct dm_tgt *st;
	char keys0[1024], keys[1024], dwhy[128] = "", gone[160] = "";
	size_t n = 0, nst = 0, ns = 0;
	int rc;

	s->multipath = true;
	s->usable_path = -1;
	rc = bc_dm_parse_multipath(table, false, mp, BC_STACK_PATHS, &n);
	if (rc < 0) {
		snprintf(why, wlen, "%s (multipath): %s table \"%.60s\"", kname,
			 rc == -E2BIG ? "more paths than followed in" : "cannot parse",
			 table);
		return -EOPNOTSUPP;
	}
	st = calloc(1, sizeof(*st));
	if (st && dm_targets(rdev, true, st, 1, &nst, dwhy, sizeof(dwhy)) == 0 &&
	    nst == 1 && !strcmp(st->type, "multipath") &&
	    bc_dm_parse_multipath(st->params, true, ms, BC_STACK_PATHS, &ns) < 0)
		ns = 0;
	free(st);
	for (size_t i = 0; i < n; i++) {
		struct bc_stack_path *p = &s->paths[s->n_paths++];
		char dir[64];
		unsigned h, c, t;
		uint64_t l;

		p->rdev = makedev(mp[i].maj, mp[i].min);
		p->group = mp[i].group;
		if (bc_sysfs_kname(p->rdev, p->name, sizeof(p->name)) < 0)
			snprintf(p->name, sizeof(p->name), "%u:%u", mp[i].maj, mp[i].min);
		/* the status line lists the same paths in the same order */
		if (ns == n && ms[i].maj == mp[i].maj && ms[i].min == mp[i].min) {
			p->has_dm_state = true;
			p->dm_active = ms[i].active;
			p->fail_count = ms[i].fail_count;
		}
		snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u", mp[i].maj, mp[i].min);
		if (read_attr(dir, "device/state", p->state, sizeof(p->state)) < 0)
			snprintf(p->state, sizeof(p->state), "unknown");
		p->usable = !strcmp(p->state, "running") &&
			    (!p->has_dm_state || p->dm_active);
		if (p->usable && s->usable_path < 0)
			s->usable_path = (int)i;
		if (!p->usable) {
			size_t u = strlen(gone);

			/* the path's own state says why; "failed" only when the
			 * map alone knows it */
			snprintf(gone + u, sizeof(gone) - u, "%s%s %s", u ? ", " : "",
				 p->name, strcmp(p->state, "running") ? p->state :
				 "failed");
		}
		/* the first problem is the reason; the loop goes on so that
		 * every path's state is known */
		if (rc)
			continue;
		if (bc_sysfs_scsi_address(true, p->rdev, &h, &c, &t, &l) < 0) {
			snprintf(why, wlen, "%s (multipath): path %s is not a SCSI disk",
				 kname, p->name);
			rc = -EOPNOTSUPP;
		} else if (path_designators(p->rdev, i ? keys : keys0,
					    sizeof(keys), p->designator,
					    sizeof(p->designator)) < 0) {
			snprintf(why, wlen, "%s (multipath): path %s reports no unique LU designator (device/vpd_pg83)",
				 kname, p->name);
			rc = -EOPNOTSUPP;
		} else if (i && strcmp(keys, keys0)) {
			s->multipath_split = true;
			snprintf(why, wlen, "%.16s (multipath): paths %.16s and %.16s name different LUs (%.40s vs %.40s)",
				 kname, s->paths[0].name, p->name,
				 s->paths[0].designator, p->designator);
			rc = -EOPNOTSUPP;
		}
	}
	if (s->usable_path < 0) {
		/* bounded so that the list of paths is what may be cut */
		snprintf(why, wlen, "%.16s (multipath): no active path (%.100s)",
			 kname, gone);
		return -ENODEV;
	}
	if (rc)
		return rc;
	s->multipath_ok = true;
	return 0;
}

/* The walk: where each byte of the top device ends up. */
struct walk {
	struct bc_stack *s;
	bool first;		/* on the first chain: it names the layers */
	bool have_bottom;
	dev_t bottom;
	char bottom_name[64];
	unsigned depth;		/* of the first chain */
	int rc;			/* -EXDEV: chains end on different devices */
};

/* A chain ends at @dev (@name): bytes [start, +len) of the top device are
 * bytes [off, +len) of it. */
static void land(struct walk *w, dev_t dev, const char *name, uint64_t start,
		 uint64_t len, uint64_t off)
{
	struct bc_stack *s = w->s;

	if (!w->have_bottom) {
		w->have_bottom = true;
		w->bottom = dev;
		snprintf(w->bottom_name, sizeof(w->bottom_name), "%s", name);
	} else if (w->bottom != dev) {
		if (!w->rc)
			snprintf(s->why_stopped, sizeof(s->why_stopped),
				 "segments end on two devices (%.60s and %.60s)",
				 w->bottom_name, name);
		w->rc = -EXDEV;
		return;
	}
	if (s->n_segs >= BC_STACK_SEGS) {
		if (!w->rc)
			snprintf(s->why_stopped, sizeof(s->why_stopped),
				 "more than %d segments", BC_STACK_SEGS);
		w->rc = -EXDEV;
		return;
	}
	/* a segment that continues the last one on the bottom is one window */
	if (s->n_segs) {
		struct bc_stack_seg *g = &s->segs[s->n_segs - 1];

		if (g->start + g->length == start && g->offset + g->length == off) {
			g->length += len;
			return;
		}
	}
	s->segs[s->n_segs++] = (struct bc_stack_seg){ start, len, off };
}

/* Stop the chain at @dev: it is the bottom for these bytes. */
static void stop(struct walk *w, dev_t dev, const char *name, uint64_t start,
		 uint64_t len, uint64_t off, const char *why)
{
	if (why && why[0] && !w->s->why_stopped[0])
		/* a long reason is cut to what the stack keeps */
		snprintf(w->s->why_stopped, sizeof(w->s->why_stopped), "%.*s",
			 (int)sizeof(w->s->why_stopped) - 1, why);
	land(w, dev, name, start, len, off);
}

/*
 * Bytes [start, +len) of the top device are bytes [off, +len) of @dev,
 * @depth layers down: follow them to the bottom.
 */
static void walk(struct walk *w, dev_t dev, uint64_t start, uint64_t len,
		 uint64_t off, unsigned depth)
{
	struct bc_stack *s = w->s;
	char dir[PATH_MAX], name[64], buf[64], why[200] = "";
	struct dm_tgt *t;
	size_t n = 0;
	int rc;

	if (w->rc)
		return;
	snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u", major(dev), minor(dev));
	bc_sysfs_kname(dev, name, sizeof(name));
	if (w->first)
		w->depth = depth;
	if (depth >= BC_STACK_DEPTH) {
		snprintf(why, sizeof(why), "more than %d layers", BC_STACK_DEPTH);
		stop(w, dev, name, start, len, off, why);
		return;
	}
	if (read_attr(dir, "partition", buf, sizeof(buf)) == 0) {
		char parent[PATH_MAX + 4], real[PATH_MAX];
		unsigned ma, mi;
		uint64_t pstart;

		if (!realpath(dir, real) || read_u64(dir, "start", &pstart) < 0) {
			stop(w, dev, name, start, len, off,
			     "partition without a start in sysfs");
			return;
		}
		snprintf(parent, sizeof(parent), "%s/..", real);
		if (read_attr(parent, "dev", buf, sizeof(buf)) < 0 ||
		    sscanf(buf, "%u:%u", &ma, &mi) != 2) {
			stop(w, dev, name, start, len, off,
			     "partition's parent device unknown");
			return;
		}
		if (w->first)
			add_layer(s, name, "partition");
		walk(w, makedev(ma, mi), start, len, off + pstart * 512, depth + 1);
		return;
	}
	if (read_attr(dir, "dm/name", buf, sizeof(buf)) < 0) {
		land(w, dev, name, start, len, off);	/* a plain disk */
		return;
	}
	t = calloc(BC_STACK_SEGS, sizeof(*t));
	if (!t) {
		w->rc = -ENOMEM;
		return;
	}
	rc = dm_targets(dev, false, t, BC_STACK_SEGS, &n, why, sizeof(why));
	if (rc < 0) {
		char w2[sizeof(name) + sizeof(why) + 2];

		snprintf(w2, sizeof(w2), "%s: %s", name, why);
		stop(w, dev, name, start, len, off, w2);
		goto out;
	}
	/* every target a plain window, or one multipath target */
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(t[i].type, "linear"))
			continue;
		if (n == 1 && !strcmp(t[i].type, "multipath"))
			break;
		if (w->first || !s->bottom_dm_target[0])
			snprintf(s->bottom_dm_target, sizeof(s->bottom_dm_target),
				 "%s", t[i].type);
		bc_stack_refusal(why, sizeof(why), name, t[i].type);
		stop(w, dev, name, start, len, off, why);
		goto out;
	}
	if (!strcmp(t[0].type, "multipath")) {
		snprintf(s->bottom_dm_target, sizeof(s->bottom_dm_target), "multipath");
		if (!s->multipath && multipath_paths(s, dev, name, t[0].params, why,
						     sizeof(why)) < 0)
			snprintf(s->why_stopped, sizeof(s->why_stopped), "%s", why);
		if (w->first)
			add_layer(s, name, "multipath");
		land(w, dev, name, start, len, off);
		goto out;
	}
	if (w->first)
		add_layer(s, name, n == 1 ? "linear" : "linear, segments");
	/* the bytes asked for, target by target */
	for (size_t i = 0; i < n && !w->rc; i++) {
		uint64_t t0 = t[i].start * 512, t1 = t0 + t[i].length * 512;
		uint64_t a = off > t0 ? off : t0, b = off + len < t1 ? off + len : t1;
		unsigned ma, mi;
		uint64_t sector;

		if (a >= b)
			continue;
		if (bc_stack_parse_linear(t[i].params, &ma, &mi, &sector) < 0) {
			snprintf(why, sizeof(why), "%s: cannot parse linear table \"%.60s\"",
				 name, t[i].params);
			stop(w, dev, name, start, len, off, why);
			goto out;
		}
		walk(w, makedev(ma, mi), start + (a - off), b - a,
		     sector * 512 + (a - t0), depth + 1);
		w->first = false;
	}
out:
	free(t);
}

int bc_stack_resolve(dev_t rdev, struct bc_stack *s, struct bc_error *e)
{
	struct walk w = { .s = s, .first = true };
	char dir[64], name[64];
	uint64_t size;

	memset(s, 0, sizeof(*s));
	s->usable_path = -1;
	snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u", major(rdev), minor(rdev));
	if (read_u64(dir, "size", &size) < 0)
		return bc_error_set(e, -ENODEV, dir, "sysfs", "no size attribute");
	s->length = size * 512;
	if (size)
		walk(&w, rdev, 0, s->length, 0, 0);
	if (w.rc == -ENOMEM)
		return bc_error_set(e, -ENOMEM, dir, "stack", NULL);
	if (!size || w.rc || !w.have_bottom ||
	    bc_segs_check(s->segs, s->n_segs) < 0) {
		/* no one bottom: the device is its own, whole */
		char why[200];

		snprintf(why, sizeof(why), "%s", s->why_stopped);
		memset(s, 0, sizeof(*s));
		s->usable_path = -1;
		s->length = size * 512;
		snprintf(s->why_stopped, sizeof(s->why_stopped), "%s", why);
		bc_sysfs_kname(rdev, name, sizeof(name));
		add_layer(s, name, NULL);
		snprintf(s->bottom, sizeof(s->bottom), "/dev/%s", name);
		s->bottom_rdev = rdev;
		if (size) {
			s->n_segs = 1;
			s->segs[0] = (struct bc_stack_seg){ 0, s->length, 0 };
		}
		return 0;
	}
	if (!s->multipath)	/* a map at the bottom named itself */
		add_layer(s, w.bottom_name, NULL);
	snprintf(s->bottom, sizeof(s->bottom), "/dev/%s", w.bottom_name);
	s->bottom_rdev = w.bottom;
	s->depth = w.depth;
	s->offset = s->segs[0].offset;
	return 0;
}
