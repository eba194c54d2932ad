// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The process that runs a job (see job.h).  It was forked before anything
 * was opened: a libiscsi session's service thread would not survive a
 * fork, and the host locks belong to the process that opens.  Every pair
 * is opened, planned and started before the parent is told anything, so
 * all points in time are fixed together and a refusal leaves no job.
 *
 * Three threads touch the record: the copy's progress callback, the
 * watchdog (a cancel asked for by a signal, the stall timeout) and the
 * main thread; one mutex keeps the record and its writes in order.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/job.h"
#include "volume/address.h"

/* set by SIGTERM or SIGINT (job cancel), or by the stall watchdog */
static volatile sig_atomic_t job_cancel;
/* the write end of a pipe that wakes the watchdog from the handler */
static int wake_fd = -1;

static void on_signal(int sig)
{
	int saved = errno;

	(void)sig;
	job_cancel = 1;
	/* a full pipe is fine: the watchdog's poll wakes every second */
	if (wake_fd >= 0 && write(wake_fd, "c", 1) < 0) {
	}
	errno = saved;
}

struct runner;

/* A pair's progress callback argument: several pairs run at once when
 * they share a source (template fan-out). */
struct pair_ctx {
	struct runner *r;
	size_t i;
};

struct runner {
	struct bc_job job;
	int dfd;
	pthread_mutex_t lock;
	struct pair_ctx pc[BC_JOB_MAX_PAIRS];
	double last_write;		/* monotonic seconds */
	double last_written_progress;
	double last_progress;		/* when bytes last moved on */
	unsigned stall_s;
	bool stalled, done;
	int wake[2];
	struct bc_clone *cl[BC_JOB_MAX_PAIRS];
	uint32_t block[BC_JOB_MAX_PAIRS];	/* each source's block size */
	uint64_t run_start[BC_JOB_MAX_PAIRS];	/* where each run began */
};

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Totals and percent from the pairs; the percent never goes back (a
 * fallback may restart a pair's count). */
static void sum_up(struct bc_job *j)
{
	uint64_t done = 0, total = 0;
	double pc;

	for (size_t i = 0; i < j->n; i++) {
		done += j->pairs[i].bytes_done;
		total += j->pairs[i].bytes_total;
	}
	j->bytes_done = done;
	j->bytes_total = total;
	pc = total ? (double)done * 100.0 / (double)total : 0;
	if (pc > 100)
		pc = 100;
	if (pc > j->progress)
		j->progress = pc;
}

/* Under r->lock.  A failed update is said in the log; the next may work. */
static void save(struct runner *r)
{
	struct bc_error e = { 0 };

	r->job.updated = (int64_t)time(NULL);
	if (bc_job_write(r->dfd, &r->job, &e) < 0)
		bc_cli_error(&e);
	r->last_write = now_mono();
	r->last_written_progress = r->job.progress;
}

static void on_progress(const struct bc_copy_stats *st, void *arg)
{
	const struct pair_ctx *pc = arg;
	struct runner *r = pc->r;
	struct bc_job_pair *p;
	double t = now_mono();

	pthread_mutex_lock(&r->lock);
	p = &r->job.pairs[pc->i];
	if (st->total_bytes)
		p->bytes_total = st->total_bytes;
	if (st->done_bytes > p->bytes_done) {
		p->bytes_done = st->done_bytes;
		r->last_progress = t;
	}
	sum_up(&r->job);
	/* at most every second or every 1%: no write (and never an fsync)
	 * per callback; and when the destination made more of the copy
	 * durable (once per write-behind flush, 128 MiB): from there a job
	 * whose process dies resumes, whatever killed it */
	if (st->durable_offset > p->resume_offset && r->block[pc->i] &&
	    st->durable_offset <= p->bytes_total) {
		p->resume_lba = st->durable_offset / r->block[pc->i];
		p->resume_offset = p->resume_lba * r->block[pc->i];
		save(r);
	} else if (t - r->last_write >= 1.0 ||
		   r->job.progress - r->last_written_progress >= 1.0) {
		save(r);
	}
	pthread_mutex_unlock(&r->lock);
}

/* Says in the log when a cancel arrives, and stops a copy that made no
 * progress for the stall timeout. */
static void *watchdog(void *arg)
{
	struct runner *r = arg;
	bool told = false;

	for (;;) {
		struct pollfd pf = { .fd = r->wake[0], .events = POLLIN };
		char b[16];

		if (poll(&pf, 1, 1000) > 0 && read(r->wake[0], b, sizeof(b)) < 0)
			break;
		pthread_mutex_lock(&r->lock);
		if (r->done) {
			pthread_mutex_unlock(&r->lock);
			break;
		}
		if (job_cancel && !told && !r->stalled) {
			bc_cli_msg("job %s: cancel requested: stopping at the next safe point",
				   r->job.id);
			told = true;
		}
		if (r->stall_s && !r->stalled && !job_cancel &&
		    now_mono() - r->last_progress >= r->stall_s) {
			r->stalled = true;
			job_cancel = 1;
			bc_cli_msg("job %s: no progress for %u s: stopping the copy",
				   r->job.id, r->stall_s);
		}
		pthread_mutex_unlock(&r->lock);
	}
	return NULL;
}

/* Tell the parent @code and the text it prints, then let it go. */
static void tell_parent(int fd, int code, const char *text)
{
	char c = (char)('0' + code);

	if (write(fd, &c, 1) == 1 && text)
		for (size_t off = 0, len = strlen(text); off < len;) {
			ssize_t n = write(fd, text + off, len - off);

			if (n <= 0)
				break;
			off += (size_t)n;
		}
	close(fd);
}

static char *start_text(const struct bc_job_spec *s, const struct bc_job *j)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct bc_json js;

	if (!f)
		return NULL;
	if (!s->json) {
		fprintf(f, "%s\n", j->id);
	} else {
		bc_json_init(&js, f, true);
		bc_json_open_object(&js, NULL);
		bc_json_u64(&js, "schema", 1);
		bc_json_string(&js, "id", j->id);
		bc_json_string(&js, "state", bc_job_state_name(j->state));
		bc_json_string(&js, "consistency", j->consistency);
		bc_json_open_array(&js, "pairs");
		for (size_t i = 0; i < j->n; i++) {
			bc_json_open_object(&js, NULL);
			bc_json_string(&js, "source", j->pairs[i].source);
			bc_json_string(&js, "destination", j->pairs[i].destination);
			bc_json_string(&js, "method", j->pairs[i].method);
			bc_json_string(&js, "consistency", j->pairs[i].consistency);
			bc_json_close_object(&js);
		}
		bc_json_close_array(&js);
		bc_json_close_object(&js);
		bc_json_finish(&js);
	}
	fclose(f);
	return buf;
}

/* Open pair @i: 0, or the exit code "copy" would give.  A volume whose
 * lock is held may be an earlier pair's under another name: its
 * destination (bc_clone_dest_clash), or a source this pair would write
 * or a destination it would read (bc_clone_pair_clash); that is said as
 * such, not as "in use" by another blkclone. */
static int open_pair(struct runner *r, const struct bc_job_spec *s, size_t i)
{
	struct bc_clone_opts o = s->o;
	const struct bc_clone_result *res;
	struct bc_error e = { 0 };

	o.copy.cancel = &job_cancel;
	o.copy.progress = on_progress;
	r->pc[i] = (struct pair_ctx){ r, i };
	o.copy.progress_arg = &r->pc[i];
	o.resume = s->resume_lba[i] > 0;
	o.resume_lba = s->resume_lba[i];
	bc_clone_open(s->src[i], s->dst[i], &o, &r->cl[i], &e);
	if (!r->cl[i]) {
		bc_cli_error(&e);
		return BC_EXIT_FAILED;
	}
	res = bc_clone_result(r->cl[i]);
	if (res->error.err == -EBUSY &&
	    (bc_clone_dest_clash(r->cl, i, s->dst[i], NULL, &e) < 0 ||
	     bc_clone_pair_clash(r->cl, i, s->src[i], true, NULL, &e) < 0 ||
	     bc_clone_pair_clash(r->cl, i, s->dst[i], false, NULL, &e) < 0)) {
		bc_cli_error(&e);
		return BC_EXIT_REFUSED;
	}
	if (res->outcome != BC_CLONE_OK) {
		bc_report_copy_failure(res);
		return bc_cli_exit_for_clone(res) ? bc_cli_exit_for_clone(res) : BC_EXIT_FAILED;
	}
	return 0;
}

/* Plan and start pair @i (opened): 0, or the exit code "copy" would give. */
static int start_pair(struct runner *r, const struct bc_job_spec *s, size_t i)
{
	const struct bc_clone_result *res;
	struct bc_job_pair *p = &r->job.pairs[i];
	struct bc_error e = { 0 };
	int rc;

	rc = bc_clone_plan(r->cl[i], &e);
	if (rc == 0)
		rc = bc_clone_start(r->cl[i], &e);
	res = bc_clone_result(r->cl[i]);
	if (rc < 0) {
		bc_report_copy_failure(res);
		return bc_cli_exit_for_clone(res) ? bc_cli_exit_for_clone(res) : BC_EXIT_FAILED;
	}
	snprintf(p->method, sizeof(p->method), "%s", bc_method_name(res->plan.chosen));
	snprintf(p->consistency, sizeof(p->consistency), "%s",
		 bc_consistency_name(res->consistency));
	p->bytes_total = res->source_size;
	p->resume_lba = s->resume_lba[i];
	p->resume_offset = s->resume_lba[i] * res->source_block_size;
	p->bytes_done = p->resume_offset;
	r->block[i] = res->source_block_size;
	r->run_start[i] = p->resume_offset;
	if (res->consistency != BC_CONSISTENCY_ATOMIC)
		snprintf(r->job.consistency, sizeof(r->job.consistency), "%s",
			 bc_consistency_name(res->consistency));
	return 0;
}

/* The final word on pair @i, from its session's result. */
static int finish_pair(struct runner *r, size_t i, int rc)
{
	const struct bc_clone_result *res = bc_clone_result(r->cl[i]);
	struct bc_job_pair *p = &r->job.pairs[i];
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int ex = bc_cli_exit_for_clone(res);

	if (rc < 0 && !ex)
		ex = BC_EXIT_FAILED;
	if (rc < 0)
		bc_report_copy_failure(res);	/* into the log */
	if ((f = open_memstream(&buf, &len))) {
		bc_report_copy_json(f, res);
		fclose(f);
	}
	pthread_mutex_lock(&r->lock);
	p->report = buf;
	p->exit_code = ex;
	if (res->used != BC_METHOD_NONE)
		snprintf(p->method, sizeof(p->method), "%s", bc_method_name(res->used));
	if (ex == 0) {
		p->resume_offset = p->bytes_done = p->bytes_total;
		p->resume_lba = res->source_block_size ?
				p->bytes_total / res->source_block_size : 0;
	} else if (res->hint == BC_CLONE_HINT_RESUME) {
		p->resume_offset = res->stats.resume_offset;
		p->resume_lba = res->resume_lba;
	} else if (ex) {
		/* nothing to resume (a verify that found a difference, a
		 * failure before the copy): the whole run again, not from
		 * what was durable while it ran */
		p->resume_offset = r->run_start[i];
		p->resume_lba = r->block[i] ? r->run_start[i] / r->block[i] : 0;
	}
	if (ex && !r->job.error[0]) {
		char msg[1024];

		if (r->stalled)
			snprintf(r->job.error, sizeof(r->job.error),
				 "stalled: no progress for %u s", r->stall_s);
		else
			snprintf(r->job.error, sizeof(r->job.error), "%s",
				 bc_error_format(&res->error, msg, sizeof(msg)));
		r->job.exit_code = ex;
	}
	sum_up(&r->job);
	pthread_mutex_unlock(&r->lock);
	return ex;
}

static void close_all(struct runner *r)
{
	for (size_t i = r->job.n; i-- > 0;) {
		bc_clone_close(r->cl[i]);
		r->cl[i] = NULL;
	}
}

static void become_detached(void)
{
	struct sigaction sa;

	setsid();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
}

static int make_record(struct runner *r, const struct bc_job_spec *s,
		       int *logfd, struct bc_error *e)
{
	struct bc_job *j = &r->job;
	int rc;

	if ((rc = bc_job_id_new(j->id)) < 0)
		return bc_error_set(e, rc, "job", "getrandom", NULL);
	if ((r->dfd = bc_job_dir_open(true, e)) < 0)
		return r->dfd;
	if ((*logfd = bc_job_log_create(r->dfd, j->id, e)) < 0)
		return *logfd;
	j->state = BC_JOB_RUNNING;
	j->exit_code = -1;
	j->started = j->updated = (int64_t)time(NULL);
	j->opts = s->jo;
	snprintf(j->consistency, sizeof(j->consistency), "atomic");
	snprintf(j->resumed_from, sizeof(j->resumed_from), "%s", s->resumed_from);
	j->n = s->n;
	for (size_t i = 0; i < s->n; i++) {
		bc_addr_display(s->src[i], j->pairs[i].source, sizeof(j->pairs[i].source));
		bc_addr_display(s->dst[i], j->pairs[i].destination,
				sizeof(j->pairs[i].destination));
		j->pairs[i].exit_code = -1;
	}
	if ((rc = bc_job_set_self(j, e)) < 0)
		return rc;
	return bc_job_write(r->dfd, j, e);
}

/* Refused before any write: no job is left behind. */
static void __attribute__((noreturn)) refuse(struct runner *r, int logfd,
					     int report_fd, int code)
{
	close_all(r);
	if (r->dfd >= 0 && r->job.id[0])
		bc_job_remove(r->dfd, r->job.id, &(struct bc_error){ 0 });
	if (logfd >= 0)
		close(logfd);
	tell_parent(report_fd, code, NULL);
	_exit(code);
}

/*
 * Pairs whose sources are one volume and that copy on the host run as one
 * template fan-out (bc_clone_run_fanout): the source is read once for all
 * of them.  Within it a pair that fails is that pair's failure and the
 * others finish (a template deployed to eight LUNs where one fails is
 * seven clones and one to --resume); the pairs after it, as ever, are
 * not started once one failed.
 */
static bool run_group(struct runner *r, const size_t *group, size_t lead)
{
	struct bc_clone *cl[BC_JOB_MAX_PAIRS];
	size_t at[BC_JOB_MAX_PAIRS], m = 0;
	bool ok = true;
	int rc;

	for (size_t k = lead; k < r->job.n; k++)
		if (group[k] == lead) {
			cl[m] = r->cl[k];
			at[m++] = k;
		}
	pthread_mutex_lock(&r->lock);
	r->last_progress = now_mono();
	pthread_mutex_unlock(&r->lock);
	if (m > 1)
		bc_cli_msg("job %s: pairs %zu..%zu share their source: read once, written %zu times",
			   r->job.id, lead + 1, at[m - 1] + 1, m);
	rc = m > 1 ? bc_clone_run_fanout(cl, m, &(struct bc_error){ 0 }) :
		     bc_clone_run(cl[0], &(struct bc_error){ 0 });
	for (size_t j = 0; j < m; j++) {
		int prc = m == 1 ? rc :
			  bc_clone_result(cl[j])->outcome == BC_CLONE_OK ? 0 : -EIO;

		ok = finish_pair(r, at[j], prc) == 0 && ok;
	}
	return ok;
}

static void run_pairs(struct runner *r)
{
	size_t group[BC_JOB_MAX_PAIRS];
	bool ok = true;

	bc_clone_fanout_groups(r->cl, r->job.n, group);
	for (size_t i = 0; i < r->job.n && ok; i++)
		if (group[i] == i)
			ok = run_group(r, group, i);
	/* the locks go before the record says the job ended: whoever waits
	 * for it may start the next copy onto the same destination */
	close_all(r);
	pthread_mutex_lock(&r->lock);
	if (ok) {
		r->job.state = BC_JOB_COMPLETE;
		r->job.progress = 100;
		r->job.exit_code = 0;
	} else {
		r->job.state = job_cancel && !r->stalled ? BC_JOB_CANCELLED : BC_JOB_FAILED;
	}
	r->done = true;
	save(r);
	pthread_mutex_unlock(&r->lock);
}

void bc_job_child(const struct bc_job_spec *s, int report_fd)
{
	static struct runner r;		/* a few pages of record: not on the stack */
	struct bc_error e = { 0 };
	pthread_t wd;
	int logfd = -1, rc, devnull;
	char *text;

	r.dfd = -1;
	pthread_mutex_init(&r.lock, NULL);
	r.stall_s = s->jo.stall_timeout_s;
	if (pipe2(r.wake, O_CLOEXEC | O_NONBLOCK) < 0)
		refuse(&r, logfd, report_fd, BC_EXIT_FAILED);
	wake_fd = r.wake[1];
	become_detached();
	if ((rc = make_record(&r, s, &logfd, &e)) < 0) {
		bc_cli_error(&e);
		refuse(&r, logfd, report_fd, bc_cli_exit_for_refusal(rc) == BC_EXIT_REFUSED ||
		       rc == -EPERM ? BC_EXIT_REFUSED : BC_EXIT_FAILED);
	}
	/* every destination opened and checked against the others before
	 * any pair is planned and started (a start may write: reflink) */
	for (size_t i = 0; i < s->n; i++)
		if ((rc = open_pair(&r, s, i)) != 0)
			refuse(&r, logfd, report_fd, rc);
	if (bc_clone_check_dests(r.cl, s->n, NULL, NULL, &e) < 0 ||
	    bc_clone_check_pairs(r.cl, s->n, &e) < 0) {
		bc_cli_error(&e);
		refuse(&r, logfd, report_fd, BC_EXIT_REFUSED);
	}
	for (size_t i = 0; i < s->n; i++)
		if ((rc = start_pair(&r, s, i)) != 0)
			refuse(&r, logfd, report_fd, rc);
	pthread_mutex_lock(&r.lock);
	sum_up(&r.job);
	save(&r);
	pthread_mutex_unlock(&r.lock);
	text = start_text(s, &r.job);
	/* stdio to the log before the parent goes: a caller reading the
	 * parent's stdout to its end must not wait for the whole copy */
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull >= 0)
		dup2(devnull, STDIN_FILENO);
	fflush(stdout);
	fflush(stderr);
	dup2(logfd, STDOUT_FILENO);
	dup2(logfd, STDERR_FILENO);
	tell_parent(report_fd, BC_EXIT_OK, text);
	free(text);
	if (pthread_create(&wd, NULL, watchdog, &r) != 0) {
		bc_cli_msg("job %s: no watchdog thread: no stall timeout", r.job.id);
		r.stall_s = 0;
		wd = 0;
	}
	run_pairs(&r);
	if (write(r.wake[1], "d", 1) < 0) {
		/* it sees r.done within a second */
	}
	if (wd)
		pthread_join(wd, NULL);
	bc_job_release(&r.job);
	_exit(0);
}
