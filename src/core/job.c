// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Job records on disk (see include/blkclone/job.h): the jobs directory,
 * ids, replacing and reading a record, and whether the process a record
 * names still runs.  The directory is checked as the refusal memory's is
 * (src/util/safedir.h) and every file in it is opened relative to it,
 * never through a link.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/job-record.h"
#include "util/sysfs.h"
#include "core/statedir.h"
#include "util/safedir.h"

int bc_job_id_check(const char *id)
{
	size_t i;

	for (i = 0; id && id[i]; i++)
		if (i >= BC_JOB_ID_LEN ||
		    !((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return -EINVAL;
	return i == BC_JOB_ID_LEN ? 0 : -EINVAL;
}

const char *bc_job_id_shown(const char *id, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; id[i] && i < 40 && o + 5 < len; i++) {
		unsigned char c = (unsigned char)id[i];

		if (c >= 0x20 && c < 0x7f)
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
		buf[o] = '\0';
	}
	return buf;
}

int bc_job_id_new(char id[BC_JOB_ID_LEN + 1])
{
	unsigned char b[BC_JOB_ID_LEN / 2];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -errno ? -errno : -EIO;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(id + 2 * i, 3, "%02x", b[i]);
	return 0;
}

int bc_job_dir_open(bool create, struct bc_error *e)
{
	char dir[4096], jobs[4200], why[600];
	int fd, rc = bc_state_dir(dir, sizeof(dir));

	if (rc < 0)
		return bc_error_set(e, rc, "jobs", "open",
				    "no state directory: set BLKCLONE_STATE_DIR");
	if (create && (rc = bc_state_mkdirs(dir)) < 0)
		return bc_error_set(e, rc, dir, "mkdir", "cannot make the state directory");
	/* the state directory itself: another user's would let them swap
	 * the jobs directory under us */
	fd = bc_safedir_open(dir, false, "state directory", why, sizeof(why));
	if (fd < 0)
		return bc_error_set(e, fd, dir, "open", "%s",
				    fd == -ENOENT ? "no job was ever started" : why);
	close(fd);
	snprintf(jobs, sizeof(jobs), "%s/jobs", dir);
	fd = bc_safedir_open(jobs, create, "jobs directory", why, sizeof(why));
	if (fd < 0)
		return bc_error_set(e, fd, jobs, "open", "%s",
				    fd == -ENOENT ? "no job was ever started" : why);
	return fd;
}

/* --- liveness ------------------------------------------------------------ */

static int boot_id(char *buf, size_t len)
{
	char b[64];
	int rc = bc_sysfs_read_path("/proc/sys/kernel/random/boot_id", b, sizeof(b));

	if (rc < 0)
		return rc;
	b[strcspn(b, "\n")] = '\0';
	snprintf(buf, len, "%.36s", b);
	return 0;
}

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks
 * since boot; the name in field 2 may hold spaces and ')', so fields are
 * counted after its last ')'.  A zombie (state Z or X, field 3) has ended:
 * -ESRCH. */
static int proc_start(int pid, uint64_t *out)
{
	char path[64], buf[1024], *p;
	int rc;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((rc = bc_sysfs_read_path(path, buf, sizeof(buf))) < 0)
		return rc;
	if (!(p = strrchr(buf, ')')) || p[1] != ' ')
		return -EINVAL;
	p++;			/* the space before field 3 */
	if (p[1] == 'Z' || p[1] == 'X')
		return -ESRCH;
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EINVAL;
	}
	*out = strtoull(p + 1, NULL, 10);
	return 0;
}

int bc_job_set_self(struct bc_job *j, struct bc_error *e)
{
	int rc;

	j->pid = (int)getpid();
	if ((rc = proc_start(j->pid, &j->pid_start)) < 0 ||
	    (rc = boot_id(j->boot_id, sizeof(j->boot_id))) < 0)
		return bc_error_set(e, rc, "/proc", "read", "cannot tell this process's start time or boot id");
	return 0;
}

/* 1 when the process @j names runs, 0 when it provably does not (another
 * boot, no such process, another start time: a reused pid), -errno when
 * /proc cannot tell.  Only a 0 is ever written into a record. */
static int liveness(const struct bc_job *j)
{
	char b[40];
	uint64_t start;
	int rc;

	if ((rc = boot_id(b, sizeof(b))) < 0)
		return rc;
	if (strcmp(b, j->boot_id))
		return 0;
	rc = proc_start(j->pid, &start);
	if (rc == -ENOENT || rc == -ESRCH)
		return 0;
	if (rc < 0)
		return rc;
	return start == j->pid_start;
}

bool bc_job_alive(const struct bc_job *j)
{
	return liveness(j) == 1;
}

/* A descriptor for the process that has @pid now (it names that one
 * process for good, whatever the pid is given to later), or -errno. */
static int pid_open(int pid)
{
#ifdef SYS_pidfd_open
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	return fd < 0 ? -errno : fd;
#else
	(void)pid;
	return -ENOSYS;
#endif
}

int bc_job_wait_exit(const struct bc_job *j, int timeout_ms)
{
	struct pollfd pf = { .events = POLLIN };
	int rc;

	if (j->pid <= 0)
		return -EINVAL;
	pf.fd = pid_open(j->pid);
	if (pf.fd == -ESRCH)
		return 1;
	if (pf.fd < 0)
		return pf.fd;
	/* the descriptor's process is the job's only if it has the job's
	 * start time and boot, checked after it was opened: a pid given to
	 * another process is never waited on */
	rc = liveness(j);
	if (rc == 1) {
		/* readable once the process has ended (as a zombie too) */
		rc = poll(&pf, 1, timeout_ms);
		rc = rc < 0 ? (errno == EINTR ? 0 : -errno) : rc > 0;
	} else if (rc == 0) {
		rc = 1;
	}
	close(pf.fd);
	return rc;
}

/* --- records --------------------------------------------------------------- */

int bc_job_write(int dfd, const struct bc_job *j, struct bc_error *e)
{
	char name[64], tmp[64], why[600];
	char *text = bc_job_record_format(j);
	size_t len, off = 0;
	int fd, rc = 0;

	if (!text)
		return bc_error_set(e, -ENOMEM, j->id, "job record", NULL);
	snprintf(name, sizeof(name), "%s.json", j->id);
	snprintf(tmp, sizeof(tmp), "%s.json.tmp", j->id);
	/* only a new file of our own, made here, is written: a planted
	 * .tmp (a link to some other file) goes first */
	if (unlinkat(dfd, tmp, 0) < 0 && errno != ENOENT)
		rc = -errno;
	fd = rc ? -1 : openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			      0644);
	if (!rc && fd < 0)
		rc = -errno;
	len = strlen(text);
	while (!rc && off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			rc = n < 0 ? -errno : -EIO;
		else
			off += (size_t)n;
	}
	if (fd >= 0 && close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && renameat(dfd, tmp, dfd, name) < 0)
		rc = -errno;
	if (rc && fd >= 0)
		unlinkat(dfd, tmp, 0);
	free(text);
	(void)why;
	return rc ? bc_error_set(e, rc, j->id, "write job record", NULL) : 0;
}

static int read_record(int dfd, const char *id, char **text, size_t *len,
		       struct bc_error *e)
{
	char name[64], why[600];
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(name, sizeof(name), "%s.json", id);
	fd = bc_safedir_openat(dfd, "jobs", name, O_RDONLY, 0, "job record", why,
			       sizeof(why));
	if (fd == -ENOENT)
		return bc_error_set(e, -ENOENT, id, "job", "no such job");
	if (fd < 0)
		return bc_error_set(e, fd, id, "job", "%s", why);
	if (fstat(fd, &st) < 0 || st.st_size > BC_JOB_RECORD_MAX) {
		close(fd);
		return bc_error_set(e, -EBADMSG, id, "job",
				    "the record is larger than %d bytes: not one blkclone wrote",
				    BC_JOB_RECORD_MAX);
	}
	*text = malloc(BC_JOB_RECORD_MAX + 1);
	if (!*text) {
		close(fd);
		return bc_error_set(e, -ENOMEM, id, "job", NULL);
	}
	*len = 0;
	while (*len < BC_JOB_RECORD_MAX + 1 &&
	       (n = read(fd, *text + *len, BC_JOB_RECORD_MAX + 1 - *len)) > 0)
		*len += (size_t)n;
	close(fd);
	if (*len > BC_JOB_RECORD_MAX) {
		free(*text);
		return bc_error_set(e, -EBADMSG, id, "job", "the record grew past %d bytes",
				    BC_JOB_RECORD_MAX);
	}
	return 0;
}

static int read_once(int dfd, const char *id, struct bc_job *j, struct bc_error *e)
{
	char why[600], *text = NULL;
	size_t len = 0;
	int rc = read_record(dfd, id, &text, &len, e);

	if (rc < 0)
		return rc;
	rc = bc_job_record_parse(text, len, j, why, sizeof(why));
	free(text);
	if (rc < 0)
		return bc_error_set(e, rc, id, "job", "the record is corrupt or not blkclone's: %s",
				    why);
	if (strcmp(j->id, id)) {
		bc_job_release(j);
		return bc_error_set(e, -EBADMSG, id, "job", "the record names another job (%s)",
				    j->id);
	}
	return 0;
}

/* Percent from the byte counts (bytes_done and the pairs' only grow). */
static double bytes_percent(const struct bc_job *j)
{
	double pc = j->bytes_total ? (double)j->bytes_done * 100.0 / (double)j->bytes_total : 0;

	return pc > 100 ? 100 : pc;
}

/* What a running record whose process is gone says instead; the resume
 * offsets stay as the job last wrote them. */
static void mark_died(struct bc_job *j, int live)
{
	char b[40];

	j->state = BC_JOB_FAILED;
	j->exit_code = 1;
	if (live < 0)
		snprintf(j->error, sizeof(j->error),
			 "process died? whether pid %d still runs cannot be told (%s)",
			 j->pid, strerror(-live));
	else if (boot_id(b, sizeof(b)) == 0 && strcmp(b, j->boot_id))
		snprintf(j->error, sizeof(j->error),
			 "process died: the system was restarted since (boot id %.36s)",
			 j->boot_id);
	else
		snprintf(j->error, sizeof(j->error), "process died (pid %d)", j->pid);
}

/*
 * Under the jobs directory's lock: read @id again and, when it still says
 * running and its process is provably gone, write it back as failed, so
 * that list, wait, forget and --resume all see one state.  Only a dead
 * process's record is written (a live job is the only writer of its own),
 * and the lock keeps two readers (or a reader and forget) from replacing
 * it twice or bringing a forgotten record back.  0, or -errno with @e set
 * when @j could not be read again.
 */
static int persist_died(int dfd, const char *id, struct bc_job *j,
			struct bc_error *e)
{
	struct bc_error we = { 0 };
	int rc;

	if (flock(dfd, LOCK_EX) < 0)
		return 1;	/* no lock: say it, do not write it */
	rc = read_once(dfd, id, j, e);
	if (rc == 0 && j->state == BC_JOB_RUNNING && liveness(j) == 0) {
		mark_died(j, 0);
		j->updated = (int64_t)time(NULL);
		/* a failed write is not the reader's failure: the record
		 * reads the same next time, and is written then */
		bc_job_write(dfd, j, &we);
	}
	flock(dfd, LOCK_UN);
	return rc;
}

int bc_job_read(int dfd, const char *id, struct bc_job *j, struct bc_error *e)
{
	char shown[64];
	int rc, live;

	if (bc_job_id_check(id) < 0)
		return bc_error_set(e, -EINVAL, "job", "id",
				    "malformed job id '%s': %d hex digits expected",
				    bc_job_id_shown(id, shown, sizeof(shown)), BC_JOB_ID_LEN);
	if ((rc = read_once(dfd, id, j, e)) < 0)
		return rc;
	if (j->state == BC_JOB_RUNNING && (live = liveness(j)) != 1) {
		/* it may have written its final record and ended since: read
		 * again (under the lock when it is provably gone), and only a
		 * record still "running" is a process that died */
		bc_job_release(j);
		rc = live == 0 ? persist_died(dfd, id, j, e) : 1;
		if (rc > 0)
			rc = read_once(dfd, id, j, e);
		if (rc < 0)
			return rc;
		if (j->state == BC_JOB_RUNNING && (live = liveness(j)) != 1)
			mark_died(j, live);
	}
	/* progress never goes back: a record whose percent is below what
	 * its own byte counts prove (a writer that lowered it) reads as
	 * those bytes say, and a complete job as 100 */
	if (j->progress < bytes_percent(j))
		j->progress = bytes_percent(j);
	if (j->state == BC_JOB_COMPLETE)
		j->progress = 100;
	return 0;
}

int bc_job_remove(int dfd, const char *id, struct bc_error *e)
{
	char name[64];

	int rc = 0;

	if (bc_job_id_check(id) < 0)
		return bc_error_set(e, -EINVAL, "job", "id", "malformed job id");
	/* not while a reader writes a died job's record (persist_died) */
	flock(dfd, LOCK_EX);
	snprintf(name, sizeof(name), "%s.log", id);
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		rc = bc_error_set(e, -errno, id, "unlink", "cannot remove the job's log");
	snprintf(name, sizeof(name), "%s.json.tmp", id);
	if (!rc)
		unlinkat(dfd, name, 0);
	snprintf(name, sizeof(name), "%s.json", id);
	if (!rc && unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		rc = bc_error_set(e, -errno, id, "unlink", "cannot remove the job record");
	flock(dfd, LOCK_UN);
	return rc;
}

int bc_job_log_create(int dfd, const char *id, struct bc_error *e)
{
	char name[64], why[600];
	int fd;

	snprintf(name, sizeof(name), "%s.log", id);
	fd = bc_safedir_openat(dfd, "jobs", name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND,
			       0600, "job log", why, sizeof(why));
	return fd < 0 ? bc_error_set(e, fd, id, "job log", "%s", why) : fd;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

int bc_job_list(int dfd, char (*ids)[BC_JOB_ID_LEN + 1], size_t max, size_t *n,
		struct bc_error *e)
{
	int fd = dup(dfd);
	struct dirent *d;
	DIR *dir;

	*n = 0;
	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return bc_error_set(e, -errno, "jobs", "opendir", NULL);
	}
	rewinddir(dir);
	while ((d = readdir(dir)) && *n < max) {
		char id[BC_JOB_ID_LEN + 1];

		if (strlen(d->d_name) != BC_JOB_ID_LEN + 5 ||
		    strcmp(d->d_name + BC_JOB_ID_LEN, ".json"))
			continue;
		memcpy(id, d->d_name, BC_JOB_ID_LEN);
		id[BC_JOB_ID_LEN] = '\0';
		if (bc_job_id_check(id) == 0)
			memcpy(ids[(*n)++], id, sizeof(id));
	}
	closedir(dir);
	qsort(ids, *n, sizeof(*ids), cmp_id);
	return 0;
}
