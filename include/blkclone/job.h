/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Clone jobs: the record of a copy that runs in a process of its own, so
 * that other processes can tell how far it got, whether it still runs,
 * and where to resume it.  One record per job, a JSON file
 * $STATE/jobs/ID.json beside its log ID.log, where $STATE is the refusal
 * memory's state directory (BLKCLONE_STATE_DIR, /var/lib/blkclone for
 * root, else $XDG_STATE_HOME/blkclone).  Records are replaced whole
 * (write, then rename), never edited in place, so a reader sees an old
 * record or a new one, never half of one.
 *
 * Whoever runs the job (the CLI's "job start") fills a struct bc_job and
 * writes it; anyone reads it back.  A record is read as hostile input: a
 * size cap, every type checked, a file that is a link, another user's or
 * has two names refused (src/util/safedir.h).  Nothing here prints,
 * forks or signals.
 */
#ifndef BLKCLONE_JOB_H
#define BLKCLONE_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <blkclone/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BC_JOB_ID_LEN		16	/* lower-case hex digits */
#define BC_JOB_MAX_PAIRS	32
/* a record larger than this is not one blkclone wrote */
#define BC_JOB_RECORD_MAX	(1024 * 1024)

enum bc_job_state {
	BC_JOB_RUNNING = 0,
	BC_JOB_COMPLETE,
	BC_JOB_FAILED,
	BC_JOB_CANCELLED,
};

const char *bc_job_state_name(enum bc_job_state s);

struct bc_job_pair {
	char source[320];		/* as shown: a typed secret is "***" */
	char destination[320];
	char method[32];		/* planned, then used; "" before */
	char consistency[16];		/* "bulk", "atomic"; "" before */
	uint64_t bytes_done;		/* never decreases */
	uint64_t bytes_total;
	/* where this pair continues from: while it runs, the last point
	 * the destination made durable (bc_copy_stats.durable_offset: a
	 * flush covered every byte below it, so a kill -9 or a reboot
	 * loses none of them), else the run's own start; the first byte
	 * not copied once it stopped; bytes_total once done.  A record
	 * whose process died keeps the value it last wrote. */
	uint64_t resume_offset;
	uint64_t resume_lba;		/* the same, in the source's blocks */
	int exit_code;			/* as "copy" would exit; -1 not finished */
	char *report;			/* the copy --json object, or NULL */
};

/* The copy options, kept for --resume. */
struct bc_job_opts {
	char offload[16];		/* auto, require, never */
	bool verify;
	bool dest_zeroed;
	bool flush_never;		/* --flush=never */
	unsigned timeout_s;
	unsigned stall_timeout_s;	/* 0: none */
	/* the host copy's I/O shape as fixed (--io-depth, --chunk,
	 * --write-behind); 0: chosen as the copy goes */
	uint32_t io_depth;
	uint32_t chunk;
	uint64_t write_behind;
};

struct bc_job {
	char id[BC_JOB_ID_LEN + 1];
	enum bc_job_state state;
	char consistency[16];		/* the weakest of the pairs' */
	double progress;		/* percent, never decreases */
	uint64_t bytes_done, bytes_total;
	/* the process running the job: a pid alone may be reused */
	int pid;
	uint64_t pid_start;		/* /proc/PID/stat field 22 */
	char boot_id[40];
	int64_t started, updated;	/* seconds since the epoch */
	char error[1024];		/* "" when none */
	int exit_code;			/* -1 while running */
	char resumed_from[BC_JOB_ID_LEN + 1];	/* "" when none */
	struct bc_job_opts opts;
	size_t n;
	struct bc_job_pair pairs[BC_JOB_MAX_PAIRS];
};

/* 0 if @id is a job id (BC_JOB_ID_LEN lower-case hex digits), else
 * -EINVAL: nothing else is ever made into a path. */
int bc_job_id_check(const char *id);

/* @id as a message may show it (a job id is typed input, and may hold
 * anything): printable ASCII as is, every other byte as \xNN, at most
 * 40 bytes of it; returns @buf.  @len of 64 or more fits any. */
const char *bc_job_id_shown(const char *id, char *buf, size_t len);

/* A new random id. */
int bc_job_id_new(char id[BC_JOB_ID_LEN + 1]);

/*
 * The jobs directory, checked (src/util/safedir.h) and made with the
 * state directory when @create: a descriptor, or -errno with the reason
 * in @e (-EPERM: not safe; -ENOENT: none yet).
 */
int bc_job_dir_open(bool create, struct bc_error *e);

/* Fill @j's pid, pid_start and boot_id with the caller's. */
int bc_job_set_self(struct bc_job *j, struct bc_error *e);

/* Is the process @j names (pid, start time, boot) still running? */
bool bc_job_alive(const struct bc_job *j);

/*
 * Wait up to @timeout_ms for the process @j names to end: 1 when it has
 * ended, or the process with its pid now is provably another (start
 * time, boot); 0 when it still runs; -errno when this cannot be waited
 * on (-EINVAL no such pid; -ENOSYS a kernel without pidfd_open, 5.3):
 * the caller then reads the record again after a pause.  Woken by the
 * process's end, not by polling.
 */
int bc_job_wait_exit(const struct bc_job *j, int timeout_ms);

/* Replace @j's record (write a new file, rename it over the old one).
 * No fsync: a record is progress, not data. */
int bc_job_write(int dfd, const struct bc_job *j, struct bc_error *e);

/*
 * Read and check the record of @id: -EINVAL malformed id, -ENOENT no such
 * job, -EPERM not a file to trust, -EBADMSG not a record; the reason in
 * @e.  A running job whose process is provably gone (no such process,
 * another start time, or the system restarted) reads as failed, "process
 * died", and the record is replaced so (under a lock on @dfd, write +
 * rename, resume offsets kept); one whose process cannot be checked
 * reads so without being written.  progress is never below what the
 * record's bytes prove.  Release @j after.
 */
int bc_job_read(int dfd, const char *id, struct bc_job *j, struct bc_error *e);

/* Free what bc_job_read or the caller allocated (the reports). */
void bc_job_release(struct bc_job *j);

/* Remove the record and the log of @id (under the lock bc_job_read
 * takes to write a died job's record). */
int bc_job_remove(int dfd, const char *id, struct bc_error *e);

/* Create the log of @id (O_EXCL): a descriptor, or -errno. */
int bc_job_log_create(int dfd, const char *id, struct bc_error *e);

/* The ids of the records in the jobs directory, sorted; at most @max. */
int bc_job_list(int dfd, char (*ids)[BC_JOB_ID_LEN + 1], size_t max,
		size_t *n, struct bc_error *e);

#ifdef __cplusplus
}
#endif
#endif
