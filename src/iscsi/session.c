// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * SCSI transport over libiscsi: iscsi://[user@]host[:port]/iqn/lun with no
 * kernel initiator.  A CHAP secret comes from BLKCLONE_ISCSI_PASSWORD or
 * the file named by BLKCLONE_ISCSI_PASSWORD_FILE, never from the command
 * line, and never appears in a message.
 *
 * This first version runs one command at a time (libiscsi's synchronous
 * calls); the asynchronous submit/poll form comes with the pipelined
 * host copy.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "address.h"
#include "iscsi/session.h"
#include "scsi/transport.h"

#define DEFAULT_INITIATOR "iqn.2026-11.invalid.blkclone:initiator"
#define COMMAND_TIMEOUT_S 60
#define RECONNECT_TRIES 6

struct iscsi_priv {
	struct iscsi_context *ctx;
	int lun;
	/* A libiscsi context is not thread-safe, and the copy engine may
	 * call a volume from its producer and a worker at once: one command
	 * at a time per session. */
	pthread_mutex_t lock;
	bool logged_in;
	/* what a new login needs, kept for reconnecting */
	char initiator[224];
	char iqn[224];
	char portal[320];
	char user[128];
	char secret[256];
};

static bool valid_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '-' || c == ':' ||
	       c == '_';
}

int bc_iscsi_parse_url(const char *url, struct bc_iscsi_addr *a,
		       char *why, size_t whylen)
{
	const char *p, *slash, *at, *host, *lunp;
	char *end;
	unsigned long lun;
	size_t hlen;

	memset(a, 0, sizeof(*a));
	a->port = 3260;
	if (strncasecmp(url, "iscsi://", 8)) {
		snprintf(why, whylen, "not an iscsi:// URL");
		return -EINVAL;
	}
	p = url + 8;
	slash = strchr(p, '/');
	if (!slash) {
		snprintf(why, whylen, "missing /IQN/LUN after the portal");
		return -EINVAL;
	}
	at = memchr(p, '@', (size_t)(slash - p));
	host = p;
	if (at) {
		size_t ulen = (size_t)(at - p);

		if (memchr(p, ':', ulen) || memchr(p, '%', ulen)) {
			snprintf(why, whylen,
				 "a password in the URL is refused: set BLKCLONE_ISCSI_PASSWORD or BLKCLONE_ISCSI_PASSWORD_FILE");
			return -EINVAL;
		}
		if (!ulen || ulen >= sizeof(a->user)) {
			snprintf(why, whylen, "bad user name");
			return -EINVAL;
		}
		memcpy(a->user, p, ulen);
		host = at + 1;
	}
	hlen = (size_t)(slash - host);
	if (hlen && host[0] == '[') {		/* [IPv6]:port */
		const char *close = memchr(host, ']', hlen);

		if (!close || close == host + 1) {
			snprintf(why, whylen, "bad IPv6 portal");
			return -EINVAL;
		}
		if ((size_t)(close - host + 1) >= sizeof(a->host)) {
			snprintf(why, whylen, "host name too long");
			return -EINVAL;
		}
		memcpy(a->host, host, (size_t)(close - host + 1));
		host = close + 1;
		hlen = (size_t)(slash - host);
		if (hlen && host[0] != ':') {
			snprintf(why, whylen, "junk after the IPv6 address");
			return -EINVAL;
		}
	} else {
		const char *colon = memchr(host, ':', hlen);
		size_t n = colon ? (size_t)(colon - host) : hlen;

		if (!n || n >= sizeof(a->host)) {
			snprintf(why, whylen, "missing or too long host name");
			return -EINVAL;
		}
		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)host[i]) && host[i] != '.' &&
			    host[i] != '-') {
				snprintf(why, whylen, "bad character in host name");
				return -EINVAL;
			}
		memcpy(a->host, host, n);
		host += n;
		hlen -= n;
	}
	if (hlen) {			/* ":port" */
		unsigned long port;

		if (hlen < 2 || host[0] != ':' || !isdigit((unsigned char)host[1])) {
			snprintf(why, whylen, "bad port");
			return -EINVAL;
		}
		errno = 0;
		port = strtoul(host + 1, &end, 10);
		if (errno || end != slash || !port || port > 65535) {
			snprintf(why, whylen, "bad port");
			return -EINVAL;
		}
		a->port = (unsigned)port;
	}
	lunp = strrchr(slash + 1, '/');
	if (!lunp || lunp == slash + 1) {
		snprintf(why, whylen, "missing IQN or LUN (iscsi://host[:port]/IQN/LUN)");
		return -EINVAL;
	}
	if ((size_t)(lunp - slash - 1) >= sizeof(a->iqn)) {
		snprintf(why, whylen, "target name too long");
		return -EINVAL;
	}
	memcpy(a->iqn, slash + 1, (size_t)(lunp - slash - 1));
	if (strncmp(a->iqn, "iqn.", 4) && strncmp(a->iqn, "eui.", 4) &&
	    strncmp(a->iqn, "naa.", 4)) {
		snprintf(why, whylen, "target name must start with iqn., eui. or naa.");
		return -EINVAL;
	}
	for (const char *c = a->iqn; *c; c++)
		if (!valid_name_char(*c)) {
			snprintf(why, whylen, "bad character in target name");
			return -EINVAL;
		}
	if (!isdigit((unsigned char)lunp[1])) {
		snprintf(why, whylen, "LUN must be a decimal number");
		return -EINVAL;
	}
	errno = 0;
	lun = strtoul(lunp + 1, &end, 10);
	if (errno || *end || lun > 16383) {
		snprintf(why, whylen, "LUN must be a number from 0 to 16383");
		return -EINVAL;
	}
	a->lun = (unsigned)lun;
	return 0;
}

/* The secret for CHAP, from the environment or a file; never argv. */
static int load_secret(char *buf, size_t len, char *why, size_t whylen)
{
	const char *env = getenv("BLKCLONE_ISCSI_PASSWORD");
	const char *file = getenv("BLKCLONE_ISCSI_PASSWORD_FILE");
	FILE *f;

	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return 0;
	}
	if (!file || !*file) {
		snprintf(why, whylen,
			 "a user is given but no secret: set BLKCLONE_ISCSI_PASSWORD or BLKCLONE_ISCSI_PASSWORD_FILE");
		return -EACCES;
	}
	f = fopen(file, "re");
	if (!f) {
		snprintf(why, whylen, "cannot read the secret file named by BLKCLONE_ISCSI_PASSWORD_FILE: %s",
			 strerror(errno));
		return -EACCES;
	}
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0]) {
		snprintf(why, whylen, "the secret file is empty");
		return -EACCES;
	}
	return 0;
}

static int iscsi_exec_locked(struct bc_scsi_transport *t, struct iscsi_priv *p,
			     struct bc_scsi_cmd *cmd, int dir, struct bc_error *e);

/*
 * The session is gone: log in again, a few times with growing pauses
 * (about 15 s in all).  Block commands are idempotent, so the caller then
 * sends the lost command once more.
 */
/* A fresh context and a full login with the parameters kept in @p. */
static int login(struct iscsi_priv *p, char *msg, size_t len)
{
	struct iscsi_context *ctx = iscsi_create_context(p->initiator);

	if (!ctx) {
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	iscsi_set_targetname(ctx, p->iqn);
	iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	iscsi_set_timeout(ctx, COMMAND_TIMEOUT_S);
	/* libiscsi's own reconnect retries forever (a killed target leaves
	 * the process spinning): we log in again ourselves, a bounded
	 * number of times, and report the lost command otherwise. */
	iscsi_set_noautoreconnect(ctx, 1);
	if (p->user[0])
		iscsi_set_initiator_username_pwd(ctx, p->user, p->secret);
	if (iscsi_full_connect_sync(ctx, p->portal, p->lun) != 0) {
		/* libiscsi's text never holds the secret; keep one line */
		snprintf(msg, len, "%s", iscsi_get_error(ctx));
		msg[strcspn(msg, "\n")] = '\0';
		iscsi_destroy_context(ctx);
		return strstr(msg, "uthentication") || strstr(msg, "CHAP") ?
		       -EACCES : -ECONNREFUSED;
	}
	if (p->ctx)
		iscsi_destroy_context(p->ctx);
	p->ctx = ctx;
	p->logged_in = true;
	return 0;
}

static int reconnect(struct iscsi_priv *p, char *msg, size_t len)
{
	int rc = -ECONNRESET;

	for (int attempt = 0; attempt < RECONNECT_TRIES; attempt++) {
		struct timespec ts = { 1L << (attempt < 3 ? attempt : 3), 0 };

		rc = login(p, msg, len);
		if (rc == 0 || rc == -EACCES)
			return rc;
		nanosleep(&ts, NULL);
	}
	return rc;
}

static int iscsi_exec(struct bc_scsi_transport *t, struct bc_scsi_cmd *cmd,
		      struct bc_error *e)
{
	struct iscsi_priv *p = t->priv;
	int dir = cmd->dir == BC_SCSI_DIR_IN ? SCSI_XFER_READ :
		  cmd->dir == BC_SCSI_DIR_OUT ? SCSI_XFER_WRITE : SCSI_XFER_NONE;

	int rc;

	pthread_mutex_lock(&p->lock);
	rc = iscsi_exec_locked(t, p, cmd, dir, e);
	if (rc == -EPIPE) {
		char why[256];

		if (reconnect(p, why, sizeof(why)) == 0) {
			rc = iscsi_exec_locked(t, p, cmd, dir, e);
		} else {
			rc = -ECONNRESET;
			bc_error_set(e, rc, t->name, "iSCSI",
				     "connection lost, and %d attempts to log in again failed: %s",
				     RECONNECT_TRIES, why);
		}
		if (rc == -EPIPE)
			rc = -ECONNRESET;
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static int iscsi_exec_locked(struct bc_scsi_transport *t, struct iscsi_priv *p,
			     struct bc_scsi_cmd *cmd, int dir, struct bc_error *e)
{
	struct scsi_task *task;
	struct iscsi_data out = { 0 };

	task = scsi_create_task(cmd->cdb_len, cmd->cdb, dir, (int)cmd->data_len);
	if (!task)
		return bc_error_set(e, -ENOMEM, t->name, "iSCSI", NULL);
	if (cmd->dir == BC_SCSI_DIR_OUT) {
		out.data = cmd->data;
		out.size = cmd->data_len;
	}
	if (!iscsi_scsi_command_sync(p->ctx, p->lun, task,
				     cmd->dir == BC_SCSI_DIR_OUT ? &out : NULL)) {
		/* no status came back: the connection is the likely cause */
		bc_error_set(e, -EPIPE, t->name, "iSCSI", "%s",
			     iscsi_get_error(p->ctx));
		scsi_free_scsi_task(task);
		return -EPIPE;
	}
	if (task->status == SCSI_STATUS_CANCELLED ||
	    task->status == SCSI_STATUS_ERROR ||
	    task->status == SCSI_STATUS_TIMEOUT) {
		int err = task->status == SCSI_STATUS_TIMEOUT ? -ETIMEDOUT : -EPIPE;

		bc_error_set(e, err, t->name, "iSCSI", "%s",
			     task->status == SCSI_STATUS_TIMEOUT ? "command timed out" :
			     iscsi_get_error(p->ctx));
		scsi_free_scsi_task(task);
		return err;
	}
	cmd->status = (uint8_t)task->status;
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
	} else if (cmd->dir == BC_SCSI_DIR_IN) {
		size_t n = task->datain.size > 0 ? (size_t)task->datain.size : 0;

		if (n > cmd->data_len)
			n = cmd->data_len;
		if (n)
			memcpy(cmd->data, task->datain.data, n);
		cmd->resid = cmd->data_len - n;
	}
	scsi_free_scsi_task(task);
	return 0;
}

static void iscsi_close(struct bc_scsi_transport *t)
{
	struct iscsi_priv *p = t->priv;

	if (p && p->ctx) {
		if (p->logged_in)
			iscsi_logout_sync(p->ctx);
		iscsi_destroy_context(p->ctx);
	}
	if (p) {
		pthread_mutex_destroy(&p->lock);
		explicit_bzero(p->secret, sizeof(p->secret));
	}
	free(p);
	free(t);
}

static const struct bc_scsi_transport_ops iscsi_ops = {
	.name = "iscsi",
	.execute = iscsi_exec,
	.close = iscsi_close,
};

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

		return bc_error_set(e, rc, bc_addr_display(url, shown, sizeof(shown)),
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
	t->lun = a.lun;
	t->max_queue = 1;
	snprintf(t->name, sizeof(t->name), "iscsi://%.127s%s%.64s:%u/%.110s/%u",
		 a.user, a.user[0] ? "@" : "", a.host, a.port, a.iqn, a.lun);
	snprintf(t->target_id, sizeof(t->target_id), "iscsi:%.64s:%u/%.180s",
		 a.host, a.port, a.iqn);
	/* A target name is global and its portals are paths to it: LUs of
	 * one target may share its copy manager whichever portal we use.
	 * The target has the last word (LIO refuses LUs of another portal
	 * group with COPY ABORTED 0D/02), and a refusal is remembered. */
	snprintf(t->copy_domain, sizeof(t->copy_domain), "iscsi:%.200s", a.iqn);
	snprintf(portal, sizeof(portal), "%s:%u", a.host, a.port);
	p->lun = (int)a.lun;
	snprintf(p->initiator, sizeof(p->initiator), "%s",
		 initiator && *initiator ? initiator : DEFAULT_INITIATOR);
	snprintf(p->iqn, sizeof(p->iqn), "%s", a.iqn);
	snprintf(p->portal, sizeof(p->portal), "%s", portal);
	snprintf(p->user, sizeof(p->user), "%s", a.user);
	if (a.user[0]) {
		rc = load_secret(p->secret, sizeof(p->secret), why, sizeof(why));
		if (rc < 0) {
			bc_error_set(e, rc, t->name, "iSCSI login", "%s", why);
			iscsi_close(t);
			return rc;
		}
	}
	rc = login(p, why, sizeof(why));
	if (rc < 0) {
		bc_error_set(e, rc, t->name, "iSCSI login", "%s", why);
		iscsi_close(t);
		return rc;
	}
	p->logged_in = true;
	*out = t;
	return 0;
}

void bc_scsi_transport_close(struct bc_scsi_transport *t)
{
	if (t && t->ops->close)
		t->ops->close(t);
}
