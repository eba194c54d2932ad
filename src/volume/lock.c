// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Host-side volume locks (see lock.h).  flock, not fcntl locks: an flock
 * belongs to the open file, so it dies with the process however it ends
 * (no stale locks after a crash or SIGKILL), and two opens in one process
 * conflict too.  Lock files are never removed: unlinking a lock file
 * while another process waits on it would let two holders in at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "volume/identity.h"
#include "volume/lock.h"
#include "util/safedir.h"

#define DEFAULT_LOCK_DIR "/run/lock/blkclone"

struct bc_lock {
	struct bc_lock *next;
	int fd;
};

int bc_lock_key_designator(char *buf, size_t len, const struct bc_designator *d)
{
	const char *kind = bc_designator_kind(d);	/* unique ones only */
	size_t k;

	if (!kind)
		return -ENOENT;
	if (len < 3 + strlen(kind) + 1 + 2 * (size_t)d->len + 1)
		return -ENAMETOOLONG;
	k = (size_t)snprintf(buf, len, "lu-%s-", kind);
	for (size_t i = 0; i < d->len; i++)
		k += (size_t)snprintf(buf + k, len - k, "%02x", d->id[i]);
	return (int)k;
}

/*
 * blkclone before 0.2 made /run/lock/blkclone root's with mode 01777.
 * Such a directory, and only that one (the built-in path, root's, exactly
 * 01777), is taken back to 0755 on the descriptor it was checked on: no
 * other user can own it, and any file planted in it meanwhile is still
 * checked (bc_safedir_openat) before it is used.  A directory named by
 * BLKCLONE_LOCK_DIR is never changed (it could be /tmp).
 */
static void repair_old_default(void)
{
	struct stat st;
	int fd = open(DEFAULT_LOCK_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && st.st_uid == 0 && geteuid() == 0 &&
	    (st.st_mode & 07777) == 01777)
		(void)fchmod(fd, 0755);
	close(fd);
}

static const char *lock_dir(void)
{
	const char *d = getenv("BLKCLONE_LOCK_DIR");

	return d && *d ? d : DEFAULT_LOCK_DIR;
}

/* What the holder wrote about itself, on one line. */
static void read_holder(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	if (n <= 0) {
		snprintf(buf, len, "it has not said who it is");
		return;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	for (char *c = buf; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
			*c = '?';
}

int bc_lock_take(struct bc_lock **chain, const char *key, bool shared,
		 const char *device, const char *holder, struct bc_error *e)
{
	const char *dir = lock_dir();
	struct bc_lock *l;
	struct stat st;
	char name[300], why[600], who[200];
	int dfd, fd, n;

	n = snprintf(name, sizeof(name), "%s.lock", key);
	if (n < 0 || (size_t)n >= sizeof(name))
		return bc_error_set(e, -ENAMETOOLONG, device, "lock", "lock file name too long");
	/* Root's, and only root may write it: a directory anyone may write
	 * (as /run/lock itself) let any user plant a link that root then
	 * followed to create or truncate a file, or hold a lock that stopped
	 * root's copies.  -ENOLCK: refused, nothing written. */
	if (!strcmp(dir, DEFAULT_LOCK_DIR))
		repair_old_default();
	dfd = bc_safedir_open(dir, true, "lock directory", why, sizeof(why));
	if (dfd < 0)
		return bc_error_set(e, -ENOLCK, device, "lock",
				    "%s (BLKCLONE_LOCK_DIR names another)", why);
	/* 0600: a user who could open it could flock it */
	fd = bc_safedir_openat(dfd, dir, name, O_RDWR | O_CREAT, 0600, "lock file",
			       why, sizeof(why));
	close(dfd);
	if (fd < 0)
		return bc_error_set(e, -ENOLCK, device, "lock", "%s", why);
	/* an older blkclone made its lock files readable by all */
	if (fstat(fd, &st) == 0 && (st.st_mode & 077))
		(void)fchmod(fd, 0600);
	if (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		int err = errno;

		if (err == EWOULDBLOCK) {
			read_holder(fd, who, sizeof(who));
			close(fd);
			return bc_error_set(e, -EBUSY, device, "lock",
					    "in use by another blkclone on this host (%s); lock %s/%s",
					    who, dir, name);
		}
		close(fd);
		return bc_error_set(e, -ENOLCK, device, "lock", "flock %s/%s: %s", dir,
				    name, strerror(err));
	}
	l = malloc(sizeof(*l));
	if (!l) {
		close(fd);
		return bc_error_set(e, -ENOMEM, device, "lock", NULL);
	}
	/* best effort (our own file, checked above): the lock holds
	 * without the note; of several sharing holders the last one to
	 * come says who it is */
	n = snprintf(who, sizeof(who), "%s\n", holder);
	if (ftruncate(fd, 0) < 0 ||
	    pwrite(fd, who, n > 0 && (size_t)n < sizeof(who) ? (size_t)n : strlen(who), 0) < 0)
		who[0] = '\0';
	l->fd = fd;
	l->next = *chain;
	*chain = l;
	return 0;
}

void bc_lock_release(struct bc_lock *chain)
{
	while (chain) {
		struct bc_lock *next = chain->next;

		close(chain->fd);	/* drops the flock */
		free(chain);
		chain = next;
	}
}
