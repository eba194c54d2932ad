// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * SCSI transport over SG_IO, through libsgutils2's sg_pt layer, for
 * /dev/sdX, /dev/sgN and their /dev/disk/by-id links.  One sg_pt object per
 * command, so several threads may send commands on one device at once
 * (SG_IO is synchronous per call and safe to issue concurrently).
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <scsi/sg_pt.h>

#include "scsi/transport.h"
#include "transport/sg.h"
#include "util/sysfs.h"

#define DEFAULT_TIMEOUT_S 60

struct sg_priv {
	int fd;
};

static int sg_execute(struct bc_scsi_transport *t, struct bc_scsi_cmd *cmd,
		      struct bc_error *e)
{
	struct sg_priv *p = t->priv;
	struct sg_pt_base *pt;
	int res, cat, timeout;

	pt = construct_scsi_pt_obj_with_fd(p->fd, 0);
	if (!pt)
		return bc_error_set(e, -ENOMEM, t->name, "SG_IO", NULL);
	set_scsi_pt_cdb(pt, cmd->cdb, cmd->cdb_len);
	set_scsi_pt_sense(pt, cmd->sense, sizeof(cmd->sense));
	if (cmd->dir == BC_SCSI_DIR_IN)
		set_scsi_pt_data_in(pt, cmd->data, (int)cmd->data_len);
	else if (cmd->dir == BC_SCSI_DIR_OUT)
		set_scsi_pt_data_out(pt, cmd->data, (int)cmd->data_len);
	timeout = cmd->timeout_ms ? (int)((cmd->timeout_ms + 999) / 1000) :
				    DEFAULT_TIMEOUT_S;
	res = do_scsi_pt(pt, p->fd, timeout, 0);
	if (res < 0) {
		destruct_scsi_pt_obj(pt);
		return bc_error_set(e, res, t->name, "SG_IO", NULL);
	}
	if (res == SCSI_PT_DO_TIMEOUT) {
		destruct_scsi_pt_obj(pt);
		return bc_error_set(e, -ETIMEDOUT, t->name, "SG_IO",
				    "no answer within %d s", timeout);
	}
	if (res) {
		destruct_scsi_pt_obj(pt);
		return bc_error_set(e, -EINVAL, t->name, "SG_IO",
				    "sg_pt refused the request (%d)", res);
	}
	cat = get_scsi_pt_result_category(pt);
	if (cat == SCSI_PT_RESULT_TRANSPORT_ERR || cat == SCSI_PT_RESULT_OS_ERR) {
		char msg[128];
		int os = get_scsi_pt_os_err(pt);

		if (cat == SCSI_PT_RESULT_OS_ERR)
			snprintf(msg, sizeof(msg), "%s", strerror(os ? os : EIO));
		else
			get_scsi_pt_transport_err_str(pt, sizeof(msg), msg);
		destruct_scsi_pt_obj(pt);
		return bc_error_set(e, os ? -os : -EIO, t->name, "SG_IO",
				    "%s", msg);
	}
	cmd->status = (uint8_t)get_scsi_pt_status_response(pt);
	res = get_scsi_pt_sense_len(pt);
	cmd->sense_len = res < 0 ? 0 : (size_t)res > sizeof(cmd->sense) ?
			 sizeof(cmd->sense) : (size_t)res;
	res = get_scsi_pt_resid(pt);
	cmd->resid = res < 0 ? 0 : (size_t)res > cmd->data_len ? cmd->data_len :
		     (size_t)res;
	destruct_scsi_pt_obj(pt);
	return 0;
}

static void sg_close(struct bc_scsi_transport *t)
{
	struct sg_priv *p = t->priv;

	if (p && p->fd >= 0)
		scsi_pt_close_device(p->fd);
	free(p);
	free(t);
}

static const struct bc_scsi_transport_ops sg_ops = {
	.name = "sg",
	.execute = sg_execute,
	.close = sg_close,
};

static int sg_open(const char *path, const dev_t *via, bool write,
		   struct bc_scsi_transport **out, struct bc_error *e)
{
	struct bc_scsi_transport *t;
	struct sg_priv *p;
	struct stat st;
	unsigned h, c, tg;
	uint64_t l;
	int fd;

	*out = NULL;
	if (stat(path, &st) < 0)
		return bc_error_set(e, -errno, path, "open", NULL);
	if (!S_ISBLK(st.st_mode) && !S_ISCHR(st.st_mode))
		return bc_error_set(e, -ENOTBLK, path, "open",
				    "not a block or SCSI generic device");
	if (via && !S_ISBLK(st.st_mode))
		return bc_error_set(e, -ENOTBLK, path, "open",
				    "a multipath map's node is a block device");
	if (bc_sysfs_scsi_address(via || S_ISBLK(st.st_mode),
				  via ? *via : st.st_rdev, &h, &c, &tg, &l) < 0)
		return bc_error_set(e, -ENODEV, path, "open",
				    via ? "its path is not a SCSI device (no H:C:T:L in sysfs)" :
				    "not a SCSI device (no H:C:T:L in sysfs)");
	/* read-only for the source: SG_IO reads need no write access, and
	 * the destination's exclusivity comes from the block volume's O_EXCL */
	fd = scsi_pt_open_device(path, !write, 0);
	if (fd < 0)
		return bc_error_set(e, fd, path, "open", "SG_IO device");
	t = calloc(1, sizeof(*t));
	p = calloc(1, sizeof(*p));
	if (!t || !p) {
		free(t);
		free(p);
		scsi_pt_close_device(fd);
		return bc_error_set(e, -ENOMEM, path, "open", NULL);
	}
	p->fd = fd;
	t->ops = &sg_ops;
	t->priv = p;
	t->lun = l;
	t->max_queue = 1;
	snprintf(t->name, sizeof(t->name), "%s", path);
	snprintf(t->target_id, sizeof(t->target_id), "scsi:%u:%u:%u", h, c, tg);
	/* LUs behind one SCSI target (same host, channel, target id) may
	 * share its copy manager; tcm_loop and FC/iSCSI HBAs look like this */
	snprintf(t->copy_domain, sizeof(t->copy_domain), "scsi:%u:%u:%u", h, c, tg);
	/* /dev/sgN and /dev/sdX of one LU on one path share it */
	snprintf(t->unit_key, sizeof(t->unit_key), "scsi:%u:%u:%u:%" PRIu64,
		 h, c, tg, l);
	*out = t;
	return 0;
}

int bc_sg_open(const char *path, bool write, struct bc_scsi_transport **out,
	       struct bc_error *e)
{
	return sg_open(path, NULL, write, out, e);
}

int bc_sg_open_via(const char *path, dev_t via, bool write,
		   struct bc_scsi_transport **out, struct bc_error *e)
{
	return sg_open(path, &via, write, out, e);
}
