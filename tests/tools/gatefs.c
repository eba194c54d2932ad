// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * gatefs: a FUSE passthrough of one directory's regular files whose I/O
 * can be held at a known point, so a fault test strikes a real target
 * (tgt, backed by files under the mount) in the middle of a copy on any
 * machine, however fast.  Timing never decides where a fault lands: the
 * test arms a gate, waits until a request is held at it, injects the
 * fault, and opens the gate.
 *
 *   gatefs BACKDIR MOUNTPOINT [fuse options]
 *
 * Control file MOUNTPOINT/.gate (write one line, read the state):
 *   arm NAME read|write|any OFFSET   hold every request of that kind on
 *                                    file NAME that ends past OFFSET
 *                                    (write also covers fallocate)
 *   open                             let every held request go, disarm
 *   watch NAME                       count from now on the writes (and
 *                                    fallocates) of file NAME
 *   count NAME                       count from now on the bytes read
 *                                    from file NAME (holds nothing)
 * Reading .gate gives "armed 0|1\nheld N\ntotal M\nlow OFF\n": requests
 * held now and since the last arm, and the lowest byte offset of those
 * (-1 before any); then "writes N\nwlow OFF\n": the watched file's writes
 * since the watch and the lowest byte offset they touched (-1 before
 * any), so a test can tell that a range was not written again; then
 * "read B\n": the bytes read from the counted file since "count" -- what
 * the target read of it, which a test compares with what a copy says it
 * read; then "rhigh OFF\n": the end of the highest byte read from it
 * since (-1 before any), which bounds what a copy can have had of it.  A held request that the kernel
 * interrupts (its caller got SIGKILL) ends with EINTR, unperformed, so
 * a killed tgtd dies instead of waiting in D state.
 *
 * Every file is opened with direct_io: reads and writes reach this
 * process (and the gate) instead of the page cache; lseek passes
 * SEEK_DATA/SEEK_HOLE through so a thin file stays thin to the target.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* O_PATH, AT_EMPTY_PATH, fallocate */
#endif
#define FUSE_USE_VERSION 35
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define CTL_NAME ".gate"

enum gate_kind { GATE_READ = 1, GATE_WRITE = 2, GATE_ANY = 3 };

struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int backdir;		/* O_PATH|O_DIRECTORY fd of BACKDIR */
	int armed;
	char name[NAME_MAX + 1];
	int kind;
	off_t offset;
	unsigned held;		/* requests waiting now */
	unsigned total;		/* requests held since the last arm */
	off_t low;		/* lowest offset held since the last arm */
	char wname[NAME_MAX + 1];	/* the watched file, "" when none */
	unsigned writes;	/* its writes since the watch */
	off_t wlow;		/* the lowest offset they touched */
	char count_name[NAME_MAX + 1];	/* the file whose reads are counted */
	unsigned long long read_bytes;	/* read from it since "count" */
	off_t read_high;		/* the end of the highest byte read, or -1 */
};

static struct gate *gate_of(void)
{
	return fuse_get_context()->private_data;
}

static int is_ctl(const char *path)
{
	return strcmp(path, "/" CTL_NAME) == 0;
}

/* "/name" only: the mount is flat, like the folder it mirrors */
static const char *leaf(const char *path)
{
	if (path[0] != '/' || path[1] == '\0' || strchr(path + 1, '/'))
		return NULL;
	return path + 1;
}

/*
 * Hold the caller while the gate covers [off, off+len) of NAME.  Polls
 * for the kernel's interrupt every 20 ms: a condition variable alone
 * cannot hear it.
 */
static int gate_pass(const char *name, int kind, off_t off, size_t len)
{
	struct gate *g = gate_of();
	int counted = 0, ret = 0;

	pthread_mutex_lock(&g->lock);
	if ((kind & GATE_WRITE) && g->wname[0] && strcmp(g->wname, name) == 0) {
		if (g->writes == 0 || off < g->wlow)
			g->wlow = off;
		g->writes++;
	}
	while (g->armed && (g->kind & kind) && strcmp(g->name, name) == 0 &&
	       off + (off_t)len > g->offset) {
		struct timespec ts;

		if (!counted) {
			counted = 1;
			if (g->total == 0 || off < g->low)
				g->low = off;
			g->held++;
			g->total++;
		}
		if (fuse_interrupted()) {
			ret = -EINTR;
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&g->cond, &g->lock, &ts);
	}
	if (counted)
		g->held--;
	pthread_mutex_unlock(&g->lock);
	return ret;
}

static int gfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct gate *g = gate_of();
	const char *n;

	if (strcmp(path, "/") == 0)
		return fstatat(g->backdir, "", st, AT_EMPTY_PATH) ? -errno : 0;
	if (is_ctl(path)) {
		memset(st, 0, sizeof(*st));
		st->st_mode = S_IFREG | 0600;
		st->st_nlink = 1;
		st->st_size = 4096;
		return 0;
	}
	if (fi)
		return fstat((int)fi->fh, st) ? -errno : 0;
	n = leaf(path);
	if (!n)
		return -ENOENT;
	return fstatat(g->backdir, n, st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static int gfs_open(const char *path, struct fuse_file_info *fi)
{
	struct gate *g = gate_of();
	const char *n = leaf(path);
	int fd;

	fi->direct_io = 1;
	if (is_ctl(path)) {
		fi->fh = (uint64_t)-1;
		return 0;
	}
	if (!n)
		return -ENOENT;
	fd = openat(g->backdir, n, (fi->flags & O_ACCMODE) | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int gfs_release(const char *path, struct fuse_file_info *fi)
{
	if (fi->fh != (uint64_t)-1)
		close((int)fi->fh);
	return 0;
}

static int ctl_read(char *buf, size_t size, off_t off)
{
	struct gate *g = gate_of();
	char text[320];
	int n;

	pthread_mutex_lock(&g->lock);
	n = snprintf(text, sizeof(text),
		     "armed %d\nheld %u\ntotal %u\nlow %lld\nwrites %u\nwlow %lld\nread %llu\nrhigh %lld\n",
		     g->armed, g->held, g->total, g->total ? (long long)g->low : -1LL,
		     g->writes, g->writes ? (long long)g->wlow : -1LL, g->read_bytes,
		     (long long)g->read_high);
	pthread_mutex_unlock(&g->lock);
	if (off >= n)
		return 0;
	if ((size_t)(n - off) < size)
		size = (size_t)(n - off);
	memcpy(buf, text + off, size);
	return (int)size;
}

static int ctl_write(const char *buf, size_t size)
{
	struct gate *g = gate_of();
	char line[NAME_MAX + 64], name[NAME_MAX + 1], kind[8];
	long long off;

	if (size >= sizeof(line))
		return -EINVAL;
	memcpy(line, buf, size);
	line[size] = '\0';
	if (strncmp(line, "open", 4) == 0) {
		pthread_mutex_lock(&g->lock);
		g->armed = 0;
		pthread_cond_broadcast(&g->cond);
		pthread_mutex_unlock(&g->lock);
		return (int)size;
	}
	if (sscanf(line, "watch %255s", name) == 1) {
		pthread_mutex_lock(&g->lock);
		snprintf(g->wname, sizeof(g->wname), "%s", name);
		g->writes = 0;
		pthread_mutex_unlock(&g->lock);
		return (int)size;
	}
	if (sscanf(line, "count %255s", name) == 1) {
		pthread_mutex_lock(&g->lock);
		snprintf(g->count_name, sizeof(g->count_name), "%s", name);
		g->read_bytes = 0;
		g->read_high = -1;
		pthread_mutex_unlock(&g->lock);
		return (int)size;
	}
	if (sscanf(line, "arm %255s %7s %lld", name, kind, &off) != 3 || off < 0)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	g->kind = strcmp(kind, "read") == 0 ? GATE_READ :
		  strcmp(kind, "write") == 0 ? GATE_WRITE :
		  strcmp(kind, "any") == 0 ? GATE_ANY : 0;
	if (g->kind) {
		snprintf(g->name, sizeof(g->name), "%s", name);
		g->offset = (off_t)off;
		g->total = 0;
		g->armed = 1;
	}
	pthread_mutex_unlock(&g->lock);
	return g->kind ? (int)size : -EINVAL;
}

static int gfs_read(const char *path, char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	ssize_t n;
	int ret;

	if (is_ctl(path))
		return ctl_read(buf, size, off);
	ret = gate_pass(path + 1, GATE_READ, off, size);
	if (ret)
		return ret;
	n = pread((int)fi->fh, buf, size, off);
	if (n > 0) {
		struct gate *g = gate_of();

		pthread_mutex_lock(&g->lock);
		if (strcmp(g->count_name, path + 1) == 0) {
			g->read_bytes += (unsigned long long)n;
			if (off + n > g->read_high)
				g->read_high = off + n;
		}
		pthread_mutex_unlock(&g->lock);
	}
	return n < 0 ? -errno : (int)n;
}

static int gfs_write(const char *path, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	ssize_t n;
	int ret;

	if (is_ctl(path))
		return ctl_write(buf, size);
	ret = gate_pass(path + 1, GATE_WRITE, off, size);
	if (ret)
		return ret;
	n = pwrite((int)fi->fh, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int gfs_fallocate(const char *path, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	int ret;

	if (!fi || is_ctl(path))
		return -EOPNOTSUPP;
	ret = gate_pass(path + 1, GATE_WRITE, off, (size_t)len);
	if (ret)
		return ret;
	return fallocate((int)fi->fh, mode, off, len) ? -errno : 0;
}

static int gfs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	if (is_ctl(path))
		return 0;
	return (datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh)) ? -errno : 0;
}

static off_t gfs_lseek(const char *path, off_t off, int whence, struct fuse_file_info *fi)
{
	off_t r;

	if (!fi || is_ctl(path))
		return -EINVAL;
	r = lseek((int)fi->fh, off, whence);
	return r < 0 ? -errno : r;
}

static int gfs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	if (strcmp(path, "/") != 0)
		return -ENOENT;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, CTL_NAME, NULL, 0, 0);
	return 0;	/* backing files are reached by name only */
}

static int gfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	if (is_ctl(path))
		return 0;	/* "echo ... > .gate" truncates first */
	return -EPERM;
}

static void *gfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->direct_io = 1;
	cfg->attr_timeout = 0;
	cfg->entry_timeout = 0;
	cfg->negative_timeout = 0;
	return fuse_get_context()->private_data;
}

static const struct fuse_operations gfs_ops = {
	.init = gfs_init,
	.getattr = gfs_getattr,
	.open = gfs_open,
	.release = gfs_release,
	.read = gfs_read,
	.write = gfs_write,
	.fallocate = gfs_fallocate,
	.fsync = gfs_fsync,
	.lseek = gfs_lseek,
	.readdir = gfs_readdir,
	.truncate = gfs_truncate,
};

int main(int argc, char **argv)
{
	static struct gate g = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.cond = PTHREAD_COND_INITIALIZER,
		.read_high = -1,
	};
	char *fargv[18];
	int fargc = 0, i;

	if (argc < 3 || argc > 12) {
		fprintf(stderr, "usage: gatefs BACKDIR MOUNTPOINT [fuse options]\n");
		return 2;
	}
	g.backdir = open(argv[1], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (g.backdir < 0) {
		fprintf(stderr, "gatefs: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	fargv[fargc++] = argv[0];
	fargv[fargc++] = argv[2];
	/* Every read held at the gate keeps a FUSE worker thread, and
	 * reading or writing .gate needs one more: with libfuse's default of
	 * 10 workers, 10 reads held (an iSCSI session keeps up to 16
	 * commands in flight, tgt as many reads) leave none to open the gate
	 * with, and the test hangs.  More than any test holds at once. */
	fargv[fargc++] = "-o";
	fargv[fargc++] = "max_threads=64";
	for (i = 3; i < argc; i++)
		fargv[fargc++] = argv[i];
	fargv[fargc] = NULL;
	return fuse_main(fargc, fargv, &gfs_ops, &g);
}
