// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * SCSI transport over libiscsi: iscsi://[user@]host[:port]/iqn/lun with no
 * kernel initiator.  A CHAP secret comes from BLKCLONE_ISCSI_PASSWORD or
 * the file named by BLKCLONE_ISCSI_PASSWORD_FILE, never from the command
 * line, and never appears in a message; it is read for each login and
 * wiped once libiscsi has it (iscsi/secret.h).
 *
 * Many commands in flight on one session.  A libiscsi context is not
 * thread-safe, so one service thread owns the socket (poll, then
 * iscsi_service) and callers only queue PDUs under the session lock:
 * ->execute from several threads at once (the copy engine's workers), or
 * ->submit/->poll from one.  The target sees a queue as deep as its
 * callers make it, within the CmdSN window that libiscsi honours.
 *
 * A dropped connection makes libiscsi cancel every queued task.  The
 * service thread then logs in again, a bounded number of times, and sends
 * those commands again on the new session (block commands are
 * idempotent); if the target does not come back, every command, queued or
 * new, fails with the reason.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "transport/iscsi/secret.h"
#include "transport/iscsi/session.h"
#include "scsi/transport.h"

#define DEFAULT_INITIATOR "iqn.2026-11.invalid.blkclone:initiator"
/* A command with no answer in this long (unless it asks for longer):
 * the session is taken for dead, and the command is sent again on a new
 * one.  A target that drops commands while it is offline (tgt does) also
 * stalls every later CmdSN, so waiting longer would not help. */
#define COMMAND_TIMEOUT_S 30
#define MAX_TIMEOUT_S 3600
#define RECONNECT_TRIES 6
/* Commands one session keeps in flight by default.  Four 1 MiB commands
 * cover a LAN's bandwidth-delay product several times over; more only
 * made the target work harder: against tgt on this 2-core machine, 16 in
 * flight took tgtd from 0.95 to 1.8 s of CPU (page faults on its fresh
 * per-command buffers) and the scattered copy from 1.2 to 2.1 s, and a
 * full 2 GiB copy was no faster.  BLKCLONE_ISCSI_QUEUE_DEPTH raises it for
 * arrays that gain from more. */
#define QUEUE_DEPTH 4
#define MAX_QUEUE_DEPTH 16	/* the host copy runs at most 16 workers */
/* A command that kills the session every time it is sent is not sent a
 * fourth time. */
#define MAX_SENDS 3
/* The service thread wakes at least this often: libiscsi looks for timed
 * out commands and answers the target's NOP-Ins from iscsi_service. */
#define SERVICE_TICK_MS 250

/* One command on its way through the session. */
struct iscsi_req {
	struct bc_scsi_transport *t;
	struct bc_scsi_cmd *cmd;
	struct scsi_task *task;		/* NULL while waiting to be resent */
	struct iscsi_data out;
	struct iscsi_req *prev, *next;	/* on the active or completed list */
	struct bc_error *e;		/* where a delivery failure is told */
	struct bc_error own;		/* ... for ->submit */
	pthread_cond_t done_cond;	/* for ->execute */
	unsigned gen;			/* session it was sent on */
	unsigned sends;
	int rc;
	bool done;
	bool async;
	bool timed_out;			/* its last send got no answer */
};

struct iscsi_priv {
	struct iscsi_context *ctx;
	int lun;
	pthread_mutex_t lock;		/* everything below, and ctx */
	pthread_cond_t cond;		/* an asynchronous command completed */
	pthread_t thread;
	bool thread_started;
	int wake_fd;			/* eventfd: new PDUs to send, or stop */
	bool polling;			/* the service thread is in poll() */
	bool stop;
	bool broken;			/* the session dropped: log in again */
	bool dead;			/* ... and that failed: fail everything */
	char dead_why[256];
	unsigned gen;			/* bumped on every new session */
	unsigned timeout_s;		/* default command timeout */
	unsigned inflight;
	struct iscsi_req *active;	/* sent, not completed */
	struct iscsi_req *completed, *completed_tail;	/* for ->poll */
	/* what a new login needs, kept for reconnecting */
	char initiator[224];
	char iqn[224];
	char portal[320];
	char user[128];		/* the secret is read again for each login */
};

/*
 * libiscsi's text for a failed TCP connect is a chain of its own internals
 * ("iscsi_service failed with : iscsi_service_reconnect_if_loggedin. Can
 * not reconnect right now.") that has lost the socket's error: say what
 * happened in our words (the caller adds the errno's text).  Other texts
 * (the target's login response, CHAP) are kept, on one line.
 */
static void login_error(const char *text, const char *portal, char *msg,
			size_t len)
{
	if (strstr(text, "Can not reconnect right now"))
		snprintf(msg, len, "cannot connect to %.200s", portal);
	else
		snprintf(msg, len, "%s", text);
	msg[strcspn(msg, "\n")] = '\0';
}

/* A fresh context and a full login with the parameters kept in @p. */
static int login(const struct iscsi_priv *p, struct iscsi_context **out,
		 char *msg, size_t len)
{
	struct iscsi_context *ctx;
	char secret[BC_ISCSI_SECRET_MAX];
	int rc;

	/* the secret first: a refusal of it is the caller's to fix */
	if (p->user[0] && (rc = bc_iscsi_secret_load(secret, msg, len)) < 0)
		return rc;
	ctx = iscsi_create_context(p->initiator);
	if (!ctx) {
		if (p->user[0])
			explicit_bzero(secret, sizeof(secret));
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	iscsi_set_targetname(ctx, p->iqn);
	iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	iscsi_set_timeout(ctx, (int)p->timeout_s);
	/* libiscsi's own reconnect retries forever (a killed target leaves
	 * the process spinning): we log in again ourselves, a bounded
	 * number of times, and report the lost command otherwise. */
	iscsi_set_noautoreconnect(ctx, 1);
	if (p->user[0]) {
		/* libiscsi copies it into the context (and clears the context
		 * when it is destroyed); ours goes at once */
		iscsi_set_initiator_username_pwd(ctx, p->user, secret);
		explicit_bzero(secret, sizeof(secret));
	}
	if (iscsi_full_connect_sync(ctx, p->portal, p->lun) != 0) {
		/* libiscsi's text never holds the secret; keep one line */
		login_error(iscsi_get_error(ctx), p->portal, msg, len);
		iscsi_destroy_context(ctx);
		return strstr(msg, "uthentication") || strstr(msg, "CHAP") ?
		       -EACCES : -ECONNREFUSED;
	}
	*out = ctx;
	return 0;
}

/*
 * The session is gone: log in again, a few times with growing pauses
 * (1+2+4+8+8+8 s, about 31 s in all), so a target that restarts is waited
 * for and one that is gone for good is reported in bounded time.
 */
static int reconnect(const struct iscsi_priv *p, struct iscsi_context **out,
		     char *msg, size_t len)
{
	int rc = -ECONNRESET;

	for (int attempt = 0; attempt < RECONNECT_TRIES; attempt++) {
		struct timespec ts = { 1L << (attempt < 3 ? attempt : 3), 0 };

		rc = login(p, out, msg, len);
		if (rc == 0 || rc == -EACCES)
			return rc;
		nanosleep(&ts, NULL);
	}
	return rc;
}

/* A number from the environment in [lo, hi], else @dflt. */
static unsigned env_number(const char *name, unsigned long lo,
			   unsigned long hi, unsigned dflt)
{
	const char *v = getenv(name);
	char *end;
	unsigned long n;

	if (!v || !*v)
		return dflt;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n < lo || n > hi)
		return dflt;
	return (unsigned)n;
}

/* BLKCLONE_ISCSI_TIMEOUT (seconds) overrides the default command timeout,
 * for links or arrays slower than usual (or tests in a hurry);
 * BLKCLONE_ISCSI_QUEUE_DEPTH the commands in flight, for links where a
 * deeper or a shallower queue does better. */
static unsigned default_timeout(void)
{
	return env_number("BLKCLONE_ISCSI_TIMEOUT", 1, MAX_TIMEOUT_S, COMMAND_TIMEOUT_S);
}

static unsigned queue_depth(void)
{
	return env_number("BLKCLONE_ISCSI_QUEUE_DEPTH", 1, MAX_QUEUE_DEPTH, QUEUE_DEPTH);
}

static void list_add(struct iscsi_req **head, struct iscsi_req *r)
{
	r->prev = NULL;
	r->next = *head;
	if (*head)
		(*head)->prev = r;
	*head = r;
}

static void list_del(struct iscsi_req **head, struct iscsi_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void wake_service(struct iscsi_priv *p)
{
	uint64_t one = 1;

	if (p->polling && write(p->wake_fd, &one, sizeof(one)) == sizeof(one))
		p->polling = false;	/* one wake-up is enough */
}

/* Lock held: the command is over, one way or the other. */
static void finish(struct iscsi_priv *p, struct iscsi_req *r, int rc)
{
	list_del(&p->active, r);
	p->inflight--;
	if (r->task) {
		scsi_free_scsi_task(r->task);
		r->task = NULL;
	}
	r->rc = rc;
	r->done = true;
	if (r->async) {
		r->next = NULL;
		if (p->completed_tail)
			p->completed_tail->next = r;
		else
			p->completed = r;
		p->completed_tail = r;
		pthread_cond_broadcast(&p->cond);
	} else {
		pthread_cond_signal(&r->done_cond);
	}
}

/* What the LU answered, into the caller's command (lock held). */
static void take_result(struct iscsi_req *r, struct scsi_task *task)
{
	struct bc_scsi_cmd *cmd = r->cmd;

	cmd->status = (uint8_t)task->status;
	cmd->sense_len = 0;
	cmd->resid = 0;
	if (task->status == SCSI_STATUS_CHECK_CONDITION) {
		/* libiscsi keeps the sense segment (2-byte length first) in
		 * datain; fall back to what it parsed if that is absent. */
		if (task->datain.size >= 2 && task->datain.data) {
			size_t n = (size_t)(task->datain.data[0] << 8 | task->datain.data[1]);

			if (n > (size_t)task->datain.size - 2)
				n = (size_t)task->datain.size - 2;
			if (n > sizeof(cmd->sense))
				n = sizeof(cmd->sense);
			memcpy(cmd->sense, task->datain.data + 2, n);
			cmd->sense_len = n;
		}
		if (cmd->sense_len < 14) {
			memset(cmd->sense, 0, 18);
			cmd->sense[0] = 0x70;
			cmd->sense[2] = (uint8_t)task->sense.key;
			cmd->sense[7] = 10;
			cmd->sense[12] = (uint8_t)(task->sense.ascq >> 8);
			cmd->sense[13] = (uint8_t)task->sense.ascq;
			cmd->sense_len = 18;
		}
	} else if (cmd->dir == BC_SCSI_DIR_IN && task->residual_status ==
		   SCSI_RESIDUAL_UNDERFLOW) {
		/* the data went straight into the caller's buffer */
		cmd->resid = task->residual < cmd->data_len ? task->residual :
							     cmd->data_len;
	}
}

/* libiscsi's completion, from inside iscsi_service (lock held). */
static void task_done(struct iscsi_context *ctx, int status,
		      void *command_data, void *private_data)
{
	struct iscsi_req *r = private_data;
	struct iscsi_priv *p = r->t->priv;

	(void)ctx;
	(void)command_data;
	if (r->gen != p->gen || r->done)
		return;		/* a cancelled session's echo: already requeued */
	switch (status) {
	case SCSI_STATUS_CANCELLED:
	case SCSI_STATUS_ERROR:
		/* no status came back: the session is gone (or broke the
		 * protocol, which ends it too); resend on a new one */
		p->broken = true;
		return;
	case SCSI_STATUS_TIMEOUT:
		/* the target lost it, and maybe everything after it: a new
		 * session and a second chance for every open command */
		r->timed_out = true;
		p->broken = true;
		return;
	default:
		take_result(r, r->task);
		finish(p, r, 0);
	}
}

static unsigned cmd_timeout(const struct iscsi_priv *p, const struct bc_scsi_cmd *cmd)
{
	unsigned s = cmd->timeout_ms ? (cmd->timeout_ms + 999) / 1000 : p->timeout_s;

	return s > MAX_TIMEOUT_S ? MAX_TIMEOUT_S : s;
}

/* Lock held: put @r on the wire of the current session. */
static void send_req(struct iscsi_priv *p, struct iscsi_req *r)
{
	struct bc_scsi_cmd *cmd = r->cmd;
	int dir = cmd->dir == BC_SCSI_DIR_IN ? SCSI_XFER_READ :
		  cmd->dir == BC_SCSI_DIR_OUT ? SCSI_XFER_WRITE : SCSI_XFER_NONE;

	r->gen = p->gen;
	r->sends++;
	r->task = scsi_create_task(cmd->cdb_len, cmd->cdb, dir, (int)cmd->data_len);
	if (!r->task) {
		finish(p, r, bc_error_set(r->e, -ENOMEM, r->t->name, "iSCSI", NULL));
		return;
	}
	/* data-in lands in the caller's buffer, not in a copy of libiscsi's */
	if (cmd->dir == BC_SCSI_DIR_IN && cmd->data_len &&
	    scsi_task_add_data_in_buffer(r->task, (int)cmd->data_len, cmd->data)) {
		finish(p, r, bc_error_set(r->e, -ENOMEM, r->t->name, "iSCSI", NULL));
		return;
	}
	if (cmd->dir == BC_SCSI_DIR_OUT) {
		r->out.data = cmd->data;
		r->out.size = cmd->data_len;
	}
	/* libiscsi stamps each PDU with the context's timeout as it queues it */
	iscsi_set_timeout(p->ctx, (int)cmd_timeout(p, cmd));
	r->timed_out = false;
	if (iscsi_scsi_command_async(p->ctx, p->lun, r->task, task_done,
				     cmd->dir == BC_SCSI_DIR_OUT ? &r->out : NULL, r))
		p->broken = true;	/* not logged in any more */
	wake_service(p);
}

/* Lock held: a new command (or -errno with @r->e filled). */
static int queue_req(struct iscsi_priv *p, struct iscsi_req *r)
{
	if (p->dead)
		return bc_error_set(r->e, -ECONNRESET, r->t->name, "iSCSI",
				    "connection lost, and %d attempts to log in again failed (last: %s)",
				    RECONNECT_TRIES, p->dead_why);
	if (p->stop)
		return bc_error_set(r->e, -ESHUTDOWN, r->t->name, "iSCSI",
				    "session is closing");
	list_add(&p->active, r);
	p->inflight++;
	send_req(p, r);
	return 0;
}

/*
 * Service thread, lock held: the session dropped.  Drop the old context
 * (its tasks' callbacks see an old generation and do nothing), log in
 * again, and send every command still open once more.
 */
static void recover(struct bc_scsi_transport *t, struct iscsi_priv *p)
{
	struct iscsi_context *fresh = NULL;
	struct iscsi_req *r, *next;
	char why[256];
	int rc;

	p->broken = false;
	p->gen++;
	if (p->ctx) {
		iscsi_destroy_context(p->ctx);
		p->ctx = NULL;
	}
	for (r = p->active; r; r = r->next)
		if (r->task) {
			scsi_free_scsi_task(r->task);
			r->task = NULL;
		}
	rc = reconnect(p, &fresh, why, sizeof(why));
	if (rc < 0) {
		p->dead = true;
		snprintf(p->dead_why, sizeof(p->dead_why), "%s", why);
		for (r = p->active; r; r = next) {
			next = r->next;
			if (r->timed_out)
				bc_error_set(r->e, -ETIMEDOUT, t->name, "iSCSI",
					     "no answer in %u s; the session was dropped, and %d attempts to log in again failed (last: %s)",
					     cmd_timeout(p, r->cmd), RECONNECT_TRIES, why);
			else
				bc_error_set(r->e, -ECONNRESET, t->name, "iSCSI",
					     "connection lost, and %d attempts to log in again failed (last: %s)",
					     RECONNECT_TRIES, why);
			finish(p, r, r->e->err);
		}
		return;
	}
	p->ctx = fresh;
	for (r = p->active; r; r = next) {
		next = r->next;
		if (r->sends < MAX_SENDS)
			send_req(p, r);
		else if (r->timed_out)
			finish(p, r, bc_error_set(r->e, -ETIMEDOUT, t->name, "iSCSI",
				   "no answer in %u s, %u times, each on a new session",
				   cmd_timeout(p, r->cmd), r->sends));
		else
			finish(p, r, bc_error_set(r->e, -ECONNRESET, t->name, "iSCSI",
				   "connection lost %u times while this command was out",
				   r->sends));
	}
}

static void *service_main(void *arg)
{
	struct bc_scsi_transport *t = arg;
	struct iscsi_priv *p = t->priv;
	sigset_t pipe;

	/* libiscsi sends data-out with writev, which raises SIGPIPE on a
	 * socket the target closed: here that is a lost session to recover
	 * from, so this thread keeps the signal blocked and sees EPIPE */
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, NULL);
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct pollfd pfd[2];
		uint64_t v;

		if (p->broken && !p->dead) {
			recover(t, p);
			continue;
		}
		pfd[0].fd = p->ctx && !p->dead ? iscsi_get_fd(p->ctx) : -1;
		pfd[0].events = pfd[0].fd >= 0 ? (short)iscsi_which_events(p->ctx) : 0;
		pfd[0].revents = 0;
		pfd[1].fd = p->wake_fd;
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		p->polling = true;
		pthread_mutex_unlock(&p->lock);
		if (poll(pfd, 2, SERVICE_TICK_MS) < 0)
			pfd[0].revents = pfd[1].revents = 0;
		pthread_mutex_lock(&p->lock);
		p->polling = false;
		if (pfd[1].revents & POLLIN)
			(void)!read(p->wake_fd, &v, sizeof(v));
		if (p->stop || p->dead || !p->ctx)
			continue;
		/* with no events this still runs libiscsi's timeout scan */
		if (iscsi_service(p->ctx, pfd[0].revents) < 0)
			p->broken = true;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static int start_service(struct bc_scsi_transport *t, char *why, size_t len)
{
	struct iscsi_priv *p = t->priv;
	int rc;

	p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->wake_fd < 0) {
		snprintf(why, len, "eventfd: %s", strerror(errno));
		return -errno;
	}
	rc = pthread_create(&p->thread, NULL, service_main, t);
	if (rc) {
		snprintf(why, len, "cannot start the session's thread: %s", strerror(rc));
		return -rc;
	}
	p->thread_started = true;
	return 0;
}

/* Several threads may be in here at once, each with one command out. */
static int iscsi_exec(struct bc_scsi_transport *t, struct bc_scsi_cmd *cmd,
		      struct bc_error *e)
{
	struct iscsi_priv *p = t->priv;
	struct iscsi_req r = { .t = t, .cmd = cmd, .e = e };
	int rc;

	pthread_cond_init(&r.done_cond, NULL);
	pthread_mutex_lock(&p->lock);
	rc = queue_req(p, &r);
	if (rc == 0) {
		while (!r.done)
			pthread_cond_wait(&r.done_cond, &p->lock);
		rc = r.rc;
	}
	pthread_mutex_unlock(&p->lock);
	pthread_cond_destroy(&r.done_cond);
	return rc;
}

static int iscsi_submit(struct bc_scsi_transport *t, struct bc_scsi_cmd *cmd,
			struct bc_error *e)
{
	struct iscsi_priv *p = t->priv;
	struct iscsi_req *r;
	int rc;

	r = calloc(1, sizeof(*r));
	if (!r)
		return bc_error_set(e, -ENOMEM, t->name, "iSCSI", NULL);
	r->t = t;
	r->cmd = cmd;
	r->e = &r->own;
	r->async = true;
	pthread_mutex_lock(&p->lock);
	if (p->inflight >= t->max_queue)
		rc = -EAGAIN;
	else
		rc = queue_req(p, r);
	pthread_mutex_unlock(&p->lock);
	if (rc < 0) {
		if (rc != -EAGAIN)
			*e = r->own;
		free(r);
	}
	return rc;
}

static int iscsi_poll(struct bc_scsi_transport *t, int timeout_ms,
		      struct bc_error *e)
{
	struct iscsi_priv *p = t->priv;
	struct iscsi_req *list, *r;
	struct timespec until;
	int n = 0;

	(void)e;
	clock_gettime(CLOCK_REALTIME, &until);
	if (timeout_ms > 0) {
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&p->lock);
	while (!p->completed && p->inflight && timeout_ms != 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&p->cond, &p->lock);
		else if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT)
			break;
	}
	list = p->completed;
	p->completed = p->completed_tail = NULL;
	pthread_mutex_unlock(&p->lock);
	/* callbacks run here, in the caller's thread, without the lock */
	while ((r = list)) {
		list = r->next;
		if (r->cmd->done)
			r->cmd->done(r->cmd, r->rc, r->rc ? &r->own : NULL,
				     r->cmd->done_arg);
		free(r);
		n++;
	}
	return n;
}

static unsigned iscsi_inflight(struct bc_scsi_transport *t)
{
	struct iscsi_priv *p = t->priv;
	unsigned n;

	pthread_mutex_lock(&p->lock);
	n = p->inflight;
	pthread_mutex_unlock(&p->lock);
	return n;
}

static void iscsi_close(struct bc_scsi_transport *t)
{
	struct iscsi_priv *p = t->priv;
	struct iscsi_req *r;

	if (p && p->thread_started) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		p->polling = true;
		wake_service(p);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
	}
	if (p && p->ctx) {
		p->gen++;	/* callbacks from here on are for nobody */
		if (!p->dead && !p->broken)
			iscsi_logout_sync(p->ctx);
		iscsi_destroy_context(p->ctx);
	}
	if (p) {
		/* submitted and never polled for: the caller gave up on them */
		while ((r = p->active)) {
			list_del(&p->active, r);
			if (r->task)
				scsi_free_scsi_task(r->task);
			if (r->async)
				free(r);
		}
		while ((r = p->completed)) {
			p->completed = r->next;
			free(r);
		}
		if (p->wake_fd >= 0)
			close(p->wake_fd);
		pthread_cond_destroy(&p->cond);
		pthread_mutex_destroy(&p->lock);
	}
	free(p);
	free(t);
}

static const struct bc_scsi_transport_ops iscsi_ops = {
	.name = "iscsi",
	.execute = iscsi_exec,
	.submit = iscsi_submit,
	.poll = iscsi_poll,
	.inflight = iscsi_inflight,
	.close = iscsi_close,
};

/*
 * The LU's location names the portal by the address we are connected to,
 * not by the name typed: iscsi://localhost/... and iscsi://127.0.0.1/...
 * are one LU, and a copy of it onto itself must be refused as such.
 */
static void name_by_peer(struct bc_scsi_transport *t, const struct iscsi_priv *p,
			 unsigned port, const char *iqn)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	int fd = iscsi_get_fd(p->ctx);

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET &&
	    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host)))
		snprintf(t->target_id, sizeof(t->target_id), "iscsi:%s:%u/%.180s",
			 host, port, iqn);
	else if (ss.ss_family == AF_INET6 &&
		 inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
			   sizeof(host)))
		snprintf(t->target_id, sizeof(t->target_id), "iscsi:[%s]:%u/%.180s",
			 host, port, iqn);
}

int bc_iscsi_connect(const char *url, struct bc_scsi_transport **out,
		     struct bc_error *e)
{
	struct bc_scsi_transport *t;
	struct iscsi_priv *p;
	struct bc_iscsi_addr a;
	char why[256], portal[320];
	const char *initiator = getenv("BLKCLONE_INITIATOR_NAME");
	int rc;

	*out = NULL;
	rc = bc_iscsi_parse_url(url, &a, why, sizeof(why));
	if (rc < 0) {
		char shown[320];

		return bc_error_set(e, rc, bc_iscsi_url_display(url, shown, sizeof(shown)),
				    "parse address", "%s", why);
	}
	t = calloc(1, sizeof(*t));
	p = calloc(1, sizeof(*p));
	if (!t || !p) {
		free(t);
		free(p);
		return bc_error_set(e, -ENOMEM, url, "iSCSI login", NULL);
	}
	t->ops = &iscsi_ops;
	t->priv = p;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->wake_fd = -1;
	t->lun = a.lun;
	t->max_queue = queue_depth();
	p->timeout_s = default_timeout();
	snprintf(t->name, sizeof(t->name), "iscsi://%.127s%s%.64s:%u/%.110s/%u",
		 a.user, a.user[0] ? "@" : "", a.host, a.port, a.iqn, a.lun);
	snprintf(t->target_id, sizeof(t->target_id), "iscsi:%.64s:%u/%.180s",
		 a.host, a.port, a.iqn);
	/* A target name is global and its portals are paths to it: LUs of
	 * one target may share its copy manager whichever portal we use.
	 * The target has the last word (LIO refuses LUs of another portal
	 * group with COPY ABORTED 0D/02), and a refusal is remembered. */
	snprintf(t->copy_domain, sizeof(t->copy_domain), "iscsi:%.200s", a.iqn);
	/* one LU by that name, whatever the portal: RFC 3720 target names
	 * compare without case */
	{
		size_t k = (size_t)snprintf(t->unit_key, sizeof(t->unit_key),
					    "iscsi-lun:");

		for (const char *c = a.iqn; *c && k + 1 < sizeof(t->unit_key); c++)
			t->unit_key[k++] = *c >= 'A' && *c <= 'Z' ?
					   (char)(*c - 'A' + 'a') : *c;
		t->unit_key[k] = '\0';
		snprintf(t->unit_key + k, sizeof(t->unit_key) - k, "/%u", a.lun);
	}
	snprintf(portal, sizeof(portal), "%s:%u", a.host, a.port);
	p->lun = (int)a.lun;
	snprintf(p->initiator, sizeof(p->initiator), "%s",
		 initiator && *initiator ? initiator : DEFAULT_INITIATOR);
	snprintf(p->iqn, sizeof(p->iqn), "%s", a.iqn);
	snprintf(p->portal, sizeof(p->portal), "%s", portal);
	snprintf(p->user, sizeof(p->user), "%s", a.user);
	rc = login(p, &p->ctx, why, sizeof(why));
	if (rc == 0) {
		name_by_peer(t, p, a.port, a.iqn);
		rc = start_service(t, why, sizeof(why));
	}
	if (rc < 0) {
		bc_error_set(e, rc, t->name, "iSCSI login", "%s", why);
		iscsi_close(t);
		return rc;
	}
	*out = t;
	return 0;
}
