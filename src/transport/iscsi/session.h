/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* iSCSI addresses and sessions through libiscsi. */
#ifndef BC_ISCSI_SESSION_H
#define BC_ISCSI_SESSION_H

#include <stddef.h>

#include <blkclone/error.h>

struct bc_scsi_transport;

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

/* Log in to the target and LUN @url names. */
int bc_iscsi_connect(const char *url, struct bc_scsi_transport **out,
		     struct bc_error *e);

#endif
