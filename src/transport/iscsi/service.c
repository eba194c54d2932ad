// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The service thread of an iSCSI session (session.c has the design): it
 * alone touches the libiscsi context outside a login, sends what callers
 * queue, hands each answer back, and when the session drops logs in
 * again and sends every open command once more.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "transport/iscsi/session-priv.h"
#include "util/sigpipe.h"

/* A command that kills the session every time it is sent is not sent a
 * fourth time. */
#define MAX_SENDS 3
/* The service thread wakes at least this often: libiscsi looks for timed
 * out commands and answers the target's NOP-Ins from iscsi_service. */
#define SERVICE_TICK_MS 250

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
}

/*
 * Lock held, in the caller's thread: put what was just queued on the wire
 * here instead of waking the service thread for it.  libiscsi 1.19 only
 * queues a new PDU, and the service thread, asleep in poll() for answers,
 * would wake only to write it: a hand-off on every command, a quarter of
 * a copy's context switches.  The service thread is still woken when the
 * socket took only part (it must poll for POLLOUT) or the session broke.
 * SIGPIPE is held off while writing, as the service thread keeps it:
 * here a closed socket is a lost session, not a signal.
 */
static void push_out(struct iscsi_priv *p)
{
	struct bc_sigpipe_guard guard;

	bc_sigpipe_block(&guard);
	if (iscsi_service(p->ctx, POLLOUT) < 0)
		p->broken = true;
	bc_sigpipe_restore(&guard);
	if (p->broken || (iscsi_which_events(p->ctx) & POLLOUT))
		wake_service(p);
}

/* Lock held: a new command (or -errno with @r->e filled). */
int bc_iscsi_queue(struct iscsi_priv *p, struct iscsi_req *r)
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
	if (r->done || p->broken)
		wake_service(p);
	else
		push_out(p);
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
	rc = bc_iscsi_relogin(p, &fresh, why, sizeof(why));
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

int bc_iscsi_service_start(struct bc_scsi_transport *t, char *why, size_t len)
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

void bc_iscsi_service_stop(struct iscsi_priv *p)
{
	if (!p->thread_started)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	p->polling = true;	/* wake it even if it is not in poll() yet */
	wake_service(p);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
}
