// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Logging in to the target, first and after a lost session: a fresh
 * libiscsi context each time, with the CHAP secret read anew (secret.h)
 * and wiped as soon as libiscsi has its copy.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <iscsi/iscsi.h>

#include "transport/iscsi/secret.h"
#include "transport/iscsi/session-priv.h"

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
int bc_iscsi_login(const struct iscsi_priv *p, struct iscsi_context **out,
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
int bc_iscsi_relogin(const struct iscsi_priv *p, struct iscsi_context **out,
		     char *msg, size_t len)
{
	int rc = -ECONNRESET;

	for (int attempt = 0; attempt < RECONNECT_TRIES; attempt++) {
		struct timespec ts = { 1L << (attempt < 3 ? attempt : 3), 0 };

		rc = bc_iscsi_login(p, out, msg, len);
		if (rc == 0 || rc == -EACCES)
			return rc;
		nanosleep(&ts, NULL);
	}
	return rc;
}
