/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Directories a root process makes files in, where other users may reach:
 * the lock directory (under /run/lock, which anyone may write) and the
 * refusal memory's state directory.  A directory is trusted only if it is
 * a real directory (not a symbolic link), owned by root or by the caller,
 * and writable by no one else: then no one else can have planted a name
 * in it, and a file made there lands there.  Files in it are opened
 * relative to the directory's descriptor, never through a symbolic link,
 * and only if they are the caller's own regular files with one name.
 */
#ifndef BC_SAFEDIR_H
#define BC_SAFEDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Open directory @path (made first, mode 0755, when @create and it is
 * missing; its parent must exist) and check it as above.  @what names it
 * in @why ("lock directory").  A descriptor, or -errno with the reason in
 * @why: -EPERM the directory is not safe (the message names its owner),
 * -ENOENT missing (only without @create), others from the system.
 */
int bc_safedir_open(const char *path, bool create, const char *what,
		    char *why, size_t len);

/*
 * Open @name in the directory @dfd (from bc_safedir_open; @dir is its
 * path, for messages) with @flags (O_CREAT allowed; O_NOFOLLOW, O_NONBLOCK
 * and O_CLOEXEC are added), and refuse it unless it is a regular file of
 * the caller's with one link (or, opened only to read, none left: it was
 * replaced after it was opened, and its bytes are still the caller's).
 * A descriptor, or -errno with the reason in
 * @why (-EPERM: not a file to trust).
 */
int bc_safedir_openat(int dfd, const char *dir, const char *name, int flags,
		      mode_t mode, const char *what, char *why, size_t len);

/*
 * The checks bc_safedir_openat makes on @fd, opened with @flags as
 * @dir/@name: 0, or -errno with the reason in @why (-EPERM: not a file
 * to trust).
 */
int bc_safedir_check(int fd, int flags, const char *dir, const char *name,
		     const char *what, char *why, size_t len);

/* "uid N (name)", or "uid N" for a uid without a name. */
void bc_owner_name(uid_t uid, char *buf, size_t len);

#endif
