// SPDX-License-Identifier: LGPL-2.1-or-later
/* The CHAP secret (see secret.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "transport/iscsi/secret.h"
#include "util/safedir.h"

#define ENV_SECRET "BLKCLONE_ISCSI_PASSWORD"
#define ENV_FILE "BLKCLONE_ISCSI_PASSWORD_FILE"

/*
 * A core file, or a core_pattern pipe (which ignores RLIMIT_CORE but not
 * a process that is not dumpable), would hold the secret.  Never turned
 * back on: libiscsi holds its copy for as long as the session lasts.
 */
static void no_core_dumps(void)
{
	const struct rlimit none = { 0, 0 };

	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &none);
}

void bc_iscsi_secret_hide_env(void)
{
	char *v = getenv(ENV_SECRET);
	size_t n;

	if (!v || !*v)
		return;
	no_core_dumps();
	n = strlen(v);
	/* setenv copies the value before we wipe the original; should it
	 * fail, the secret still goes from the block (the login then says
	 * there is none, which is better than showing it) */
	if (setenv(ENV_SECRET, v, 1) < 0)
		(void)unsetenv(ENV_SECRET);
	explicit_bzero(v, n);
}

/* The file's first line, once the file proved safe to take a secret from. */
static int read_file(const char *file, char *buf, char *why, size_t whylen)
{
	const size_t len = BC_ISCSI_SECRET_MAX;
	char owner[96], me[96];
	struct stat st;
	size_t n = 0;
	ssize_t r;
	int fd, rc = 0;

	/* O_NONBLOCK: a FIFO must not hold the open forever */
	fd = open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			snprintf(why, whylen, "the secret file (" ENV_FILE ") %s is a symbolic link: name the file itself",
				 file);
		else
			snprintf(why, whylen, "cannot read the secret file named by " ENV_FILE ": %s",
				 strerror(errno));
		return -EACCES;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(why, whylen, "cannot read the secret file named by " ENV_FILE ": %s",
			 strerror(errno));
		rc = -EACCES;
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "the secret file (" ENV_FILE ") %s is not a regular file", file);
		rc = -EACCES;
	} else if (st.st_uid != 0 && st.st_uid != geteuid()) {
		/* another user could have put any secret there, or read it */
		bc_owner_name(st.st_uid, owner, sizeof(owner));
		bc_owner_name(geteuid(), me, sizeof(me));
		snprintf(why, whylen, "the secret file (" ENV_FILE ") %s is owned by %s, not by root%s%s",
			 file, owner, geteuid() ? " or " : "", geteuid() ? me : "");
		rc = -EACCES;
	} else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(why, whylen, "the secret file (" ENV_FILE ") %s may be read or written by group or others (mode %04o): chmod 600 it",
			 file, (unsigned)(st.st_mode & 07777));
		rc = -EACCES;
	}
	/* read(2) into the caller's buffer: stdio would leave a copy in
	 * its own buffer, freed unwiped */
	while (rc == 0 && n < len && !memchr(buf, '\n', n) &&
	       (r = read(fd, buf + n, len - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, whylen, "cannot read the secret file named by " ENV_FILE ": %s",
				 strerror(errno));
			rc = -EACCES;
			break;
		}
		n += (size_t)r;
	}
	close(fd);
	if (rc == 0 && n == len && !memchr(buf, '\n', n)) {
		snprintf(why, whylen, "the secret in " ENV_FILE " is longer than %zu bytes",
			 len - 1);
		rc = -EACCES;
	}
	if (rc == 0) {
		buf[n < len ? n : len - 1] = '\0';
		n = strcspn(buf, "\r\n");
	} else {
		n = 0;
	}
	/* what followed the first line, or all of it on failure */
	explicit_bzero(buf + n, len - n);
	return rc;
}

int bc_iscsi_secret_load(char *buf, char *why, size_t whylen)
{
	const char *env = getenv(ENV_SECRET);
	const char *file = getenv(ENV_FILE);
	int rc;

	no_core_dumps();
	if (env && *env) {
		if (strlen(env) >= BC_ISCSI_SECRET_MAX) {
			snprintf(why, whylen, "the secret in " ENV_SECRET " is longer than %d bytes",
				 BC_ISCSI_SECRET_MAX - 1);
			return -EACCES;
		}
		memcpy(buf, env, strlen(env) + 1);
		return 0;
	}
	if (!file || !*file) {
		snprintf(why, whylen,
			 "a user is given but no secret: set " ENV_SECRET " or " ENV_FILE);
		return -EACCES;
	}
	rc = read_file(file, buf, why, whylen);
	if (rc == 0 && !buf[0]) {
		snprintf(why, whylen, "the secret file is empty");
		rc = -EACCES;
	}
	return rc;
}
