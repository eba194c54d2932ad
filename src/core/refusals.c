// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The refusal memory (see refusals.h).  The file is rewritten whole under
 * an flock, through a temporary file and rename, so a crash never leaves
 * half a line; it holds at most MAX_ENTRIES pairs, newest last.  Its
 * directory must be one root can trust (src/util/safedir.h), and the file, its
 * .lock and its .tmp are opened relative to it, never through a link: a
 * .tmp planted as a link once made root truncate the file it named.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/refusals.h"
#include "core/statedir.h"
#include "util/safedir.h"

#define MAX_ENTRIES 512
#define LINE_MAX_LEN 1400

int bc_refusal_path(char *buf, size_t len)
{
	char dir[4096];
	int rc = bc_state_dir(dir, sizeof(dir));

	if (rc < 0)
		return rc;
	snprintf(buf, len, "%s/refusals", dir);
	return 0;
}

/* @path's directory and last name. */
static int split_path(const char *path, char *dir, size_t dlen, char *base,
		      size_t blen)
{
	const char *slash = strrchr(path, '/');

	if (!slash || !slash[1] || (size_t)(slash - path) >= dlen ||
	    strlen(slash + 1) + sizeof(".lock") > blen)
		return -EINVAL;
	if (slash == path)
		snprintf(dir, dlen, "/");
	else
		snprintf(dir, dlen, "%.*s", (int)(slash - path), path);
	snprintf(base, blen, "%s", slash + 1);
	return 0;
}

/* The state directory of @path, checked; -ENOENT when it is not there. */
static int open_dir(const char *path, char *dir, size_t dlen, char *base,
		    size_t blen, char *why, size_t wlen)
{
	if (split_path(path, dir, dlen, base, blen) < 0) {
		snprintf(why, wlen, "cannot use %.300s for the refusal memory", path);
		return -EINVAL;
	}
	return bc_safedir_open(dir, false, "state directory", why, wlen);
}

/* The memory itself, for reading: a regular file, not followed if a link. */
static FILE *open_memory(int dfd, const char *base)
{
	struct stat st;
	int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	FILE *f;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(f = fdopen(fd, "r"))) {
		close(fd);
		return NULL;
	}
	return f;
}

/* Fields are tab-separated: keep tabs and newlines out of them. */
static void clean(char *dst, size_t len, const char *src)
{
	size_t i = 0;

	for (; src && *src && i + 1 < len; src++)
		dst[i++] = (*src == '\t' || *src == '\n' || *src == '\r') ? ' ' : *src;
	dst[i] = '\0';
}

/*
 * The next line of @fp into @line without its newline (a last line may
 * lack one): 1, or 0 at the end.  A line too long for @line is not one
 * blkclone wrote: it is consumed whole and comes back empty, so no piece
 * of it passes for a line of its own.
 */
static int next_line(FILE *fp, char *line, size_t len)
{
	size_t n;

	if (!fgets(line, (int)len, fp))
		return 0;
	n = strlen(line);
	if (n && line[n - 1] == '\n') {
		line[n - 1] = '\0';
		return 1;
	}
	if (n + 1 < len || feof(fp))
		return 1;		/* the last line, without a newline */
	for (int c = fgetc(fp); c != EOF && c != '\n'; c = fgetc(fp))
		;
	line[0] = '\0';
	return 1;
}

/* Split a line into method, src, dst, time, reason; false if malformed. */
static bool split(char *line, char **f)
{
	for (int i = 0; i < 5; i++) {
		f[i] = line;
		if (i < 4) {
			line = strchr(line, '\t');
			if (!line)
				return false;
			*line++ = '\0';
		}
	}
	return true;
}

static bool same_pair(char **f, enum bc_method m, const char *src, const char *dst)
{
	return !strcmp(f[0], bc_method_name(m)) && !strcmp(f[1], src) &&
	       !strcmp(f[2], dst);
}

bool bc_refusal_find(const char *path, enum bc_method m, const char *src,
		     const char *dst, char *why, size_t wlen)
{
	char line[LINE_MAX_LEN], s[300], d[300], *f[5], dir[4096], base[256], bad[600];
	bool found = false;
	int dfd = open_dir(path, dir, sizeof(dir), base, sizeof(base), bad, sizeof(bad));
	FILE *fp;

	if (dfd < 0)
		return false;	/* not there, or not to be trusted */
	fp = open_memory(dfd, base);
	close(dfd);
	if (!fp)
		return false;
	clean(s, sizeof(s), src);
	clean(d, sizeof(d), dst);
	while (next_line(fp, line, sizeof(line))) {
		if (!split(line, f) || !same_pair(f, m, s, d))
			continue;
		{
			time_t t = (time_t)strtoll(f[3], NULL, 10);
			struct tm tm;
			char when[32] = "?";

			if (gmtime_r(&t, &tm))
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
			snprintf(why, wlen, "%s, on %s", f[4], when);
		}
		found = true;	/* the last line for a pair wins */
	}
	fclose(fp);
	return found;
}

/* Rewrite the file without @pair's line, and with @add appended; at most
 * MAX_ENTRIES lines, the oldest dropped first. */
static int rewrite(const char *path, enum bc_method m, const char *src,
		   const char *dst, const char *add)
{
	char dir[4096], base[256], name[300], why[600], line[LINE_MAX_LEN];
	char copy[LINE_MAX_LEN], *f[5], **keep = NULL;
	size_t nkeep = 0, room = add ? MAX_ENTRIES - 1 : MAX_ENTRIES;
	FILE *in, *out;
	int dfd, lockfd, fd, rc = 0;

	if (split_path(path, dir, sizeof(dir), base, sizeof(base)) < 0)
		return -EINVAL;
	if ((rc = bc_state_mkdirs(dir)) < 0)
		return rc;
	dfd = bc_safedir_open(dir, false, "state directory", why, sizeof(why));
	if (dfd < 0)
		return dfd;
	snprintf(name, sizeof(name), "%s.lock", base);
	lockfd = bc_safedir_openat(dfd, dir, name, O_RDWR | O_CREAT, 0600,
				   "state file", why, sizeof(why));
	if (lockfd < 0) {
		close(dfd);
		return lockfd;
	}
	flock(lockfd, LOCK_EX);
	keep = calloc(MAX_ENTRIES, sizeof(*keep));
	if (!keep) {
		rc = -ENOMEM;
		goto out;
	}
	if ((in = open_memory(dfd, base))) {
		while (next_line(in, line, sizeof(line))) {
			snprintf(copy, sizeof(copy), "%s", line);
			if (!split(copy, f) || same_pair(f, m, src, dst))
				continue;
			if (nkeep == room) {	/* drop the oldest */
				free(keep[0]);
				memmove(keep, keep + 1, (room - 1) * sizeof(*keep));
				nkeep--;
			}
			keep[nkeep++] = strdup(line);
		}
		fclose(in);
	}
	/* a .tmp left by a crash (or planted) goes: only a new file of our
	 * own, made here, is written */
	snprintf(name, sizeof(name), "%s.tmp", base);
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
		rc = -errno;
		goto out;
	}
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || !(out = fdopen(fd, "w"))) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	for (size_t i = 0; i < nkeep; i++)
		if (keep[i])
			fprintf(out, "%s\n", keep[i]);
	if (add)
		fputs(add, out);
	if (fflush(out) != 0 || fsync(fileno(out)) < 0)
		rc = -errno;
	if (fclose(out) != 0 && !rc)
		rc = -errno;
	if (!rc && renameat(dfd, name, dfd, base) < 0)
		rc = -errno;
	if (rc)
		unlinkat(dfd, name, 0);
out:
	for (size_t i = 0; keep && i < nkeep; i++)
		free(keep[i]);
	free(keep);
	flock(lockfd, LOCK_UN);
	close(lockfd);
	close(dfd);
	return rc;
}

int bc_refusal_record(const char *path, enum bc_method m, const char *src,
		      const char *dst, const char *why)
{
	char s[300], d[300], w[700], line[LINE_MAX_LEN];

	clean(s, sizeof(s), src);
	clean(d, sizeof(d), dst);
	clean(w, sizeof(w), why);
	snprintf(line, sizeof(line), "%s\t%s\t%s\t%" PRId64 "\t%s\n",
		 bc_method_name(m), s, d, (int64_t)time(NULL), w);
	return rewrite(path, m, s, d, line);
}

int bc_refusal_forget(const char *path, enum bc_method m, const char *src,
		      const char *dst)
{
	char s[300], d[300], why[8];

	if (!bc_refusal_find(path, m, src, dst, why, sizeof(why)))
		return 0;
	clean(s, sizeof(s), src);
	clean(d, sizeof(d), dst);
	return rewrite(path, m, s, d, NULL);
}

int bc_refusal_apply(struct bc_plan *p, enum bc_offload_policy policy,
		     const struct bc_caps *s, const struct bc_caps *d,
		     const char *device, struct bc_error *e)
{
	char path[4200], why[800], dir[4096], base[256];
	bool consulted = false;
	int dfd;

	if (policy == BC_OFFLOAD_NEVER || bc_refusal_path(path, sizeof(path)) < 0)
		return 0;
	for (size_t i = 0; i < p->n; i++)
		consulted = consulted || (p->steps[i].method != BC_METHOD_HOST &&
					  p->steps[i].usable);
	if (!consulted)
		return 0;
	/* what an untrusted directory holds may be anyone's, and the copy
	 * would write there after: refused, as an unsafe lock directory is */
	dfd = open_dir(path, dir, sizeof(dir), base, sizeof(base), why, sizeof(why));
	if (dfd < 0 && dfd != -ENOENT)
		return bc_error_set(e, -EPERM, device, "plan",
				    "%s (BLKCLONE_STATE_DIR names another)", why);
	if (dfd >= 0)
		close(dfd);
	for (size_t i = 0; i < p->n; i++) {
		enum bc_method m = p->steps[i].method;

		if (m == BC_METHOD_HOST || !p->steps[i].usable)
			continue;
		if (bc_refusal_find(path, m, s->id.location, d->id.location,
				    why, sizeof(why)))
			bc_plan_known_refusal(p, m, policy, why);
	}
	return 0;
}
