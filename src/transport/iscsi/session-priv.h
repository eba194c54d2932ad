/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the files of one iSCSI session share (session.c has the design):
 * the session and its commands, the login (login.c), and the service
 * thread that carries the commands (service.c).  Private to
 * src/transport/iscsi/.
 */
#ifndef BC_ISCSI_SESSION_PRIV_H
#define BC_ISCSI_SESSION_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "scsi/transport.h"

/* The longest command timeout honoured, asked for or from the environment. */
#define MAX_TIMEOUT_S 3600
/* Logins after a lost session before every command fails (login.c). */
#define RECONNECT_TRIES 6

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

/* The list of commands sent and not completed (p->active). */
static inline void list_add(struct iscsi_req **head, struct iscsi_req *r)
{
	r->prev = NULL;
	r->next = *head;
	if (*head)
		(*head)->prev = r;
	*head = r;
}

static inline void list_del(struct iscsi_req **head, struct iscsi_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

/* login.c: a fresh context and a full login with what @p keeps; 0, or
 * -errno with one line in @msg (-EACCES: the secret or CHAP refused). */
int bc_iscsi_login(const struct iscsi_priv *p, struct iscsi_context **out,
		   char *msg, size_t len);
/* login.c: bc_iscsi_login, up to RECONNECT_TRIES times with pauses. */
int bc_iscsi_relogin(const struct iscsi_priv *p, struct iscsi_context **out,
		     char *msg, size_t len);

/* service.c: start the thread that owns the socket; 0 or -errno with @why. */
int bc_iscsi_service_start(struct bc_scsi_transport *t, char *why, size_t len);
/* service.c: stop it, if it runs, and wait for it to end. */
void bc_iscsi_service_stop(struct iscsi_priv *p);
/* service.c, lock held: send a new command; 0, or -errno with @r->e filled. */
int bc_iscsi_queue(struct iscsi_priv *p, struct iscsi_req *r);

#endif
