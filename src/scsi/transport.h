/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One way to send a CDB to a SCSI logical unit.  The command set in
 * src/scsi/ builds CDBs and parses responses; a transport (SG_IO through
 * libsgutils2's sg_pt in src/transport/sg.c, libiscsi in
 * src/transport/iscsi/, the in-memory simulator in tests/sim/) only moves
 * a CDB, its data and its sense.  Each declares its own constructor
 * (transport/sg.h, transport/iscsi/session.h); only the code that opens a
 * volume knows which transport it has.
 */
#ifndef BC_SCSI_TRANSPORT_H
#define BC_SCSI_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <blkclone/error.h>
#include <blkclone/volume.h>

enum bc_scsi_dir {
	BC_SCSI_DIR_NONE = 0,
	BC_SCSI_DIR_IN,		/* device to host */
	BC_SCSI_DIR_OUT,	/* host to device */
};

/* SAM status values. */
#define BC_SAM_GOOD			0x00
#define BC_SAM_CHECK_CONDITION		0x02
#define BC_SAM_CONDITION_MET		0x04
#define BC_SAM_BUSY			0x08
#define BC_SAM_RESERVATION_CONFLICT	0x18
#define BC_SAM_TASK_SET_FULL		0x28
#define BC_SAM_ACA_ACTIVE		0x30
#define BC_SAM_TASK_ABORTED		0x40

struct bc_scsi_cmd {
	/* in */
	uint8_t cdb[32];
	uint8_t cdb_len;
	enum bc_scsi_dir dir;
	void *data;		/* data-in or data-out buffer */
	size_t data_len;
	unsigned timeout_ms;	/* 0 = transport default */
	/* out: valid when execute/submit completion returns 0 */
	uint8_t status;		/* SAM status */
	uint8_t sense[BC_SENSE_MAX];
	size_t sense_len;
	size_t resid;		/* bytes of data-in not transferred */
	/* for ->submit: runs from inside ->poll(); @e says why when rc < 0 */
	void (*done)(struct bc_scsi_cmd *cmd, int rc, const struct bc_error *e,
		     void *arg);
	void *done_arg;
};

struct bc_scsi_transport;

struct bc_scsi_transport_ops {
	const char *name;	/* "sg", "iscsi", "sim" */
	/*
	 * Run one command synchronously.  Returns 0 when the LU answered
	 * (look at cmd->status, sense, resid), or -errno when the command
	 * could not be delivered (connection lost, timeout, ioctl failed);
	 * then @e says why.  Thread-safe: with max_queue > 1 several threads
	 * may each have a command out at once.
	 */
	int (*execute)(struct bc_scsi_transport *t, struct bc_scsi_cmd *cmd,
		       struct bc_error *e);
	/*
	 * Queue a command; cmd->done(cmd, rc, e, cmd->done_arg) runs from
	 * inside ->poll() when it completes, rc as for ->execute.  Returns
	 * -EAGAIN when max_queue commands are already out.  NULL if the
	 * transport has no asynchronous form (sg): callers use ->execute.
	 */
	int (*submit)(struct bc_scsi_transport *t, struct bc_scsi_cmd *cmd,
		      struct bc_error *e);
	/*
	 * Wait up to @timeout_ms (-1 = forever) for completions and run
	 * their callbacks.  Returns the number completed or -errno.
	 */
	int (*poll)(struct bc_scsi_transport *t, int timeout_ms,
		    struct bc_error *e);
	/* Commands submitted and not yet completed. */
	unsigned (*inflight)(struct bc_scsi_transport *t);
	void (*close)(struct bc_scsi_transport *t);
};

struct bc_scsi_transport {
	const struct bc_scsi_transport_ops *ops;
	char name[320];		/* device or URL without secrets */
	/* Identity of the I_T nexus and LU, for "same copy domain" checks:
	 * "iscsi:127.0.0.1:3260/iqn.x:t1" + lun, or "scsi:H:C:T" + lun. */
	char target_id[256];
	/* LUs with the same non-empty copy domain may share a copy manager
	 * (evidence, not proof): "iscsi:IQN" or "scsi:H:C:T". */
	char copy_domain[256];
	/* The LU's name on this transport, for "same LU" checks beside its
	 * designators (src/volume/identity.h): "iscsi-lun:TARGET/LUN", the target
	 * name in lower case and any portal, or "scsi:H:C:T:L", the kernel's
	 * path; empty when the transport has none. */
	char unit_key[BC_UNIT_KEY_MAX];
	uint64_t lun;
	unsigned max_queue;	/* commands the transport accepts in flight */
	void *priv;
};

static inline int bc_scsi_execute(struct bc_scsi_transport *t,
				  struct bc_scsi_cmd *cmd, struct bc_error *e)
{
	return t->ops->execute(t, cmd, e);
}

/* Close @t through its own ->close, whichever transport it is; NULL is
 * ignored.  src/scsi/transport.c */
void bc_scsi_transport_close(struct bc_scsi_transport *t);

#endif
