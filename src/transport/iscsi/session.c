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
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "transport/iscsi/session.h"
#include "transport/iscsi/session-priv.h"
#include "scsi/transport.h"

#define DEFAULT_INITIATOR "iqn.2026-11.invalid.blkclone:initiator"
/* A command with no answer in this long (unless it asks for longer):
 * the session is taken for dead, and the command is sent again on a new
 * one.  A target that drops commands while it is offline (tgt does) also
 * stalls every later CmdSN, so waiting longer would not help. */
#define COMMAND_TIMEOUT_S 30
/* Commands one session lets the host copy keep in flight by default: as
 * many as its engine runs workers.  That is a ceiling, not a setting:
 * the copy's controller (core/iotune.h) starts there and walks down while
 * fewer in flight move the data as fast, so a target that a deep queue
 * only loads ends shallow, and one that gains from it keeps it.  (The old
 * default of 4 was set before the controller existed, when 16 was a fixed
 * depth and made tgtd fault in more per-command buffers.)  Linux's own
 * initiator allows 32 per session.  Against tgt on this 2-core machine
 * kind, interleaved runs against a ceiling of 4: the scattered 4 GiB copy
 * on tmpfs 0.66 s against 0.80 s (medians of 8; the controller held
 * 11-16), onto old data on ext4 1.40 s against 1.70 s (of 6);
 * the full 2 GiB copy was slower at 16 in one bench run (1.12-1.28) and
 * faster in three interleaved runs the next day (0.77-0.92 on tmpfs).
 * bench/bench-iscsi.sh keeps the ceiling of 4 as a peer (blkclone-q4).
 * (16 was the default, then 4 again for a day: a fan-out test whose
 * source went offline mid-copy resumed past the read held at the fault.
 * That was right -- tgt had accepted the held reads before the LU went
 * offline -- and the test now bounds it by what tgt read.)
 * BLKCLONE_ISCSI_QUEUE_DEPTH lowers it for a target better served with
 * fewer. */
#define QUEUE_DEPTH 16
#define MAX_QUEUE_DEPTH 16	/* the host copy runs at most 16 workers */

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

/* Several threads may be in here at once, each with one command out. */
static int iscsi_exec(struct bc_scsi_transport *t, struct bc_scsi_cmd *cmd,
		      struct bc_error *e)
{
	struct iscsi_priv *p = t->priv;
	struct iscsi_req r = { .t = t, .cmd = cmd, .e = e };
	int rc;

	pthread_cond_init(&r.done_cond, NULL);
	pthread_mutex_lock(&p->lock);
	rc = bc_iscsi_queue(p, &r);
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
		rc = bc_iscsi_queue(p, r);
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

	if (p)
		bc_iscsi_service_stop(p);
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

/*
 * The transport's names for the LU @a names (scsi/transport.h): the URL
 * without a secret, the portal and target, the copy domain and the unit
 * key.
 */
static void name_session(struct bc_scsi_transport *t, const struct bc_iscsi_addr *a)
{
	size_t k;

	snprintf(t->name, sizeof(t->name), "iscsi://%.127s%s%.64s:%u/%.110s/%u",
		 a->user, a->user[0] ? "@" : "", a->host, a->port, a->iqn, a->lun);
	snprintf(t->target_id, sizeof(t->target_id), "iscsi:%.64s:%u/%.180s",
		 a->host, a->port, a->iqn);
	/* A target name is global and its portals are paths to it: LUs of
	 * one target may share its copy manager whichever portal we use.
	 * The target has the last word (LIO refuses LUs of another portal
	 * group with COPY ABORTED 0D/02), and a refusal is remembered. */
	snprintf(t->copy_domain, sizeof(t->copy_domain), "iscsi:%.200s", a->iqn);
	/* one LU by that name, whatever the portal: RFC 3720 target names
	 * compare without case */
	k = (size_t)snprintf(t->unit_key, sizeof(t->unit_key), "iscsi-lun:");
	for (const char *c = a->iqn; *c && k + 1 < sizeof(t->unit_key); c++)
		t->unit_key[k++] = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
	t->unit_key[k] = '\0';
	snprintf(t->unit_key + k, sizeof(t->unit_key) - k, "/%u", a->lun);
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
	name_session(t, &a);
	snprintf(portal, sizeof(portal), "%s:%u", a.host, a.port);
	p->lun = (int)a.lun;
	snprintf(p->initiator, sizeof(p->initiator), "%s",
		 initiator && *initiator ? initiator : DEFAULT_INITIATOR);
	snprintf(p->iqn, sizeof(p->iqn), "%s", a.iqn);
	snprintf(p->portal, sizeof(p->portal), "%s", portal);
	snprintf(p->user, sizeof(p->user), "%s", a.user);
	rc = bc_iscsi_login(p, &p->ctx, why, sizeof(why));
	if (rc == 0) {
		name_by_peer(t, p, a.port, a.iqn);
		rc = bc_iscsi_service_start(t, why, sizeof(why));
	}
	if (rc < 0) {
		bc_error_set(e, rc, t->name, "iSCSI login", "%s", why);
		iscsi_close(t);
		return rc;
	}
	*out = t;
	return 0;
}
