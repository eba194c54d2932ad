/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iscsi://[user@]host[:port]/iqn/lun: parsed, and shown in messages,
 * without touching the network (url.c).
 */
#ifndef BC_ISCSI_URL_H
#define BC_ISCSI_URL_H

#include <stddef.h>

struct bc_iscsi_addr {
	char user[128];
	char host[256];		/* name, IPv4, or [IPv6] with brackets */
	unsigned port;
	char iqn[224];
	unsigned lun;
};

/* Pure: 0, or -EINVAL with the reason in @why. */
int bc_iscsi_parse_url(const char *url, struct bc_iscsi_addr *a,
		       char *why, size_t whylen);

/*
 * @url for messages and JSON: a secret typed into the user part
 * ("scheme://user:secret@host", or "user%secret") is replaced by "***".
 * The parser refuses such a URL, and the message that says so must not
 * repeat the secret; any scheme is masked alike, so a mistyped one hides
 * its secret too.  Anything else is shown as it is.  Returns @buf.
 */
const char *bc_iscsi_url_display(const char *url, char *buf, size_t len);

#endif
