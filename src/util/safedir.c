// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Trusted directories and the files in them (see safedir.h).  Every check
 * is made on an open descriptor (fstat), not on a path that someone could
 * swap between the check and the use.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/safedir.h"

void bc_owner_name(uid_t uid, char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, len, "uid %u (%.64s)", (unsigned)uid, res->pw_name);
	else
		snprintf(buf, len, "uid %u", (unsigned)uid);
}

/* Root's files are anyone's to trust; the caller's own are the caller's. */
static bool trusted_owner(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

static void not_trusted_owner(char *why, size_t len, const char *what,
			      const char *path, uid_t uid)
{
	char owner[96], me[96];

	bc_owner_name(uid, owner, sizeof(owner));
	if (geteuid() == 0) {
		snprintf(why, len, "%s %s is owned by %s, not by root", what, path, owner);
		return;
	}
	bc_owner_name(geteuid(), me, sizeof(me));
	snprintf(why, len, "%s %s is owned by %s, not by root or %s", what, path,
		 owner, me);
}

/* Split @path into the directory that holds it and its last name. */
static int split(const char *path, char *parent, size_t plen, char *base,
		 size_t blen)
{
	size_t n = strlen(path);
	const char *name;
	char *slash;

	while (n > 1 && path[n - 1] == '/')
		n--;
	if (!n || n >= plen)
		return -ENAMETOOLONG;
	memcpy(parent, path, n);
	parent[n] = '\0';
	if (!strcmp(parent, "/")) {		/* "/" is "." in "/" */
		snprintf(base, blen, ".");
		return 0;
	}
	slash = strrchr(parent, '/');
	name = slash ? slash + 1 : parent;
	if (strlen(name) >= blen)
		return -ENAMETOOLONG;
	memcpy(base, name, strlen(name) + 1);
	if (!slash)				/* "name" */
		memcpy(parent, ".", 2);
	else if (slash == parent)		/* "/name" */
		parent[1] = '\0';
	else					/* "dir/name" */
		*slash = '\0';
	return 0;
}

int bc_safedir_open(const char *path, bool create, const char *what,
		    char *why, size_t len)
{
	char parent[PATH_MAX], base[NAME_MAX + 1], owner[96];
	struct stat st;
	int pfd, fd, err;

	if (split(path, parent, sizeof(parent), base, sizeof(base)) < 0) {
		snprintf(why, len, "%s name too long", what);
		return -ENAMETOOLONG;
	}
	/* mkdir and open by the name in one parent, resolved once */
	pfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0) {
		err = errno;
		snprintf(why, len, "cannot %s the %s %s: %s", create ? "make" : "open",
			 what, path, strerror(err));
		return -err;
	}
	if (create && mkdirat(pfd, base, 0755) < 0 && errno != EEXIST) {
		err = errno;
		close(pfd);
		snprintf(why, len, "cannot make the %s %s: %s", what, path, strerror(err));
		return -err;
	}
	fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		/* a symbolic link planted where the directory should be */
		if ((err == ELOOP || err == ENOTDIR) &&
		    fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode)) {
			bc_owner_name(st.st_uid, owner, sizeof(owner));
			snprintf(why, len, "%s %s is a symbolic link (owned by %s); it must be a directory owned by root",
				 what, path, owner);
			close(pfd);
			return -EPERM;
		}
		close(pfd);
		if (err == ENOENT && !create)
			return -ENOENT;
		snprintf(why, len, "cannot open the %s %s: %s", what, path, strerror(err));
		return -err;
	}
	close(pfd);
	if (fstat(fd, &st) < 0) {
		err = errno;
		close(fd);
		snprintf(why, len, "cannot stat the %s %s: %s", what, path, strerror(err));
		return -err;
	}
	if (!trusted_owner(st.st_uid)) {
		not_trusted_owner(why, len, what, path, st.st_uid);
		close(fd);
		return -EPERM;
	}
	/* another writer could plant names in it, or (without the sticky
	 * bit) rename ours away */
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		bc_owner_name(st.st_uid, owner, sizeof(owner));
		snprintf(why, len, "%s %s (owned by %s) may be written by group or others (mode %04o); chmod 755 it",
			 what, path, owner, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -EPERM;
	}
	return fd;
}

int bc_safedir_check(int fd, int flags, const char *dir, const char *name,
		     const char *what, char *why, size_t len)
{
	char owner[96];
	struct stat st;
	int err;

	if (fstat(fd, &st) < 0) {
		err = errno;
		snprintf(why, len, "cannot stat the %s %s/%s: %s", what, dir, name,
			 strerror(err));
		return -err;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, len, "%s %s/%s is not a regular file", what, dir, name);
		return -EPERM;
	}
	if (st.st_uid != geteuid()) {
		/* even root's: a file we did not make is not ours to write */
		bc_owner_name(st.st_uid, owner, sizeof(owner));
		snprintf(why, len, "%s %s/%s is owned by %s, not by us", what, dir, name,
			 owner);
		return -EPERM;
	}
	if (st.st_nlink == 0) {
		/* Removed or renamed over since we opened it: a job record
		 * is replaced so while `job wait` polls it.  It was our
		 * regular file in our directory when opened, so its bytes
		 * are ours to read; but a write would land nowhere, and a
		 * lock on it would lock nothing. */
		if ((flags & O_ACCMODE) == O_RDONLY)
			return 0;
		snprintf(why, len,
			 "%s %s/%s has no name left: it was removed or replaced after it was opened",
			 what, dir, name);
		return -EPERM;
	}
	if (st.st_nlink != 1) {
		/* a second name of some other file: writing it writes that */
		snprintf(why, len, "%s %s/%s has %lu links; it may be another file's name",
			 what, dir, name, (unsigned long)st.st_nlink);
		return -EPERM;
	}
	return 0;
}

int bc_safedir_openat(int dfd, const char *dir, const char *name, int flags,
		      mode_t mode, const char *what, char *why, size_t len)
{
	int fd, err, rc;

	fd = openat(dfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
		    mode);
	if (fd < 0) {
		err = errno;
		if (err == ELOOP)
			snprintf(why, len, "%s %s/%s is a symbolic link", what, dir, name);
		else
			snprintf(why, len, "cannot open the %s %s/%s: %s", what, dir, name,
				 strerror(err));
		return err == ELOOP ? -EPERM : -err;
	}
	rc = bc_safedir_check(fd, flags, dir, name, what, why, len);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}
