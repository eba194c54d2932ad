// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * iscsi://[user@]host[:port]/iqn/lun, parsed without touching the network.
 * A password in the URL is refused: secrets come from the environment or a
 * file (secret.c), never from argv where ps and /proc show them.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "transport/iscsi/url.h"

static bool valid_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '-' || c == ':' ||
	       c == '_';
}

/* The portal, host[:port] or [IPv6][:port], from @host up to @slash. */
static int parse_portal(const char *host, const char *slash,
			struct bc_iscsi_addr *a, char *why, size_t whylen)
{
	size_t hlen = (size_t)(slash - host);
	char *end;

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
	return 0;
}

int bc_iscsi_parse_url(const char *url, struct bc_iscsi_addr *a,
		       char *why, size_t whylen)
{
	const char *p, *slash, *at, *host, *lunp;
	char *end;
	unsigned long lun;

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
	if (parse_portal(host, slash, a, why, whylen) < 0)
		return -EINVAL;
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

const char *bc_iscsi_url_display(const char *url, char *buf, size_t len)
{
	const char *auth = strstr(url, "://"), *at, *sep, *slash;

	if (!len)
		return buf;
	if (!auth) {
		snprintf(buf, len, "%s", url);
		return buf;
	}
	auth += 3;
	slash = strchr(auth, '/');
	at = strchr(auth, '@');
	if (!at || (slash && at > slash)) {
		snprintf(buf, len, "%s", url);
		return buf;
	}
	sep = strpbrk(auth, ":%");
	if (!sep || sep > at) {
		snprintf(buf, len, "%s", url);
		return buf;
	}
	snprintf(buf, len, "%.*s***%s", (int)(sep + 1 - url), url, at);
	return buf;
}
