// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What every SCSI transport shares (transport.h).  Callers close a
 * transport without knowing which one it is, so this sits with the
 * command set and not with any one transport.
 */
#include <stddef.h>

#include "scsi/transport.h"

void bc_scsi_transport_close(struct bc_scsi_transport *t)
{
	if (t && t->ops->close)
		t->ops->close(t);
}
