/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* iSCSI sessions through libiscsi, to the LU an iscsi:// URL names. */
#ifndef BC_ISCSI_SESSION_H
#define BC_ISCSI_SESSION_H

#include <blkclone/error.h>

#include "transport/iscsi/url.h"

struct bc_scsi_transport;

/* Log in to the target and LUN @url names. */
int bc_iscsi_connect(const char *url, struct bc_scsi_transport **out,
		     struct bc_error *e);

#endif
