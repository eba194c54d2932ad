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
#include <sys/sysmacros.h>
#include <unistd.h>

#include <scsi/sg_pt.h>

#include "scsi/transport.h"
#include "transport/sg.h"
#include "util/sysfs.h"

#define DEFAULT_TIMEOUT_S 60

#define MPATH_PATHS 16

struct sg_priv {
	int fd;
	bool write;
	/* a multipath map's paths (block devices), to send a command to
	 * when the map's current path failed under it; none on a plain device */
	size_t n_paths;
	dev_t paths[MPATH_PATHS];
};

static int sg_once(struct bc_scsi_transport *t, int fd, struct bc_scsi_cmd *cmd,
		   struct bc_error *e)
{
	struct sg_pt_base *pt;
	int res, cat, timeout;

	pt = construct_scsi_pt_obj_with_fd(fd, 0);
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
	res = do_scsi_pt(pt, fd, timeout, 0);
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

/* An error the path under a map gave: the device is gone or offline, or
 * the transport lost it.  Not a timeout: the command may still run. */
static bool path_error(int rc)
{
	return rc == -ENODEV || rc == -ENXIO || rc == -EIO || rc == -ENOTCONN ||
	       rc == -EHOSTDOWN || rc == -ENOLINK;
}

/* EXTENDED COPY, POPULATE TOKEN, WRITE USING TOKEN (83h) and their
 * results (84h): what a copy manager runs in the session they come on. */
static bool third_party(const struct bc_scsi_cmd *cmd)
{
	return cmd->cdb_len && (cmd->cdb[0] == 0x83 || cmd->cdb[0] == 0x84);
}

/* A command as it was before it was sent. */
static void reset(struct bc_scsi_cmd *cmd, struct bc_error *e)
{
	bc_error_clear(e);
	memset(cmd->sense, 0, sizeof(cmd->sense));
	cmd->sense_len = 0;
	cmd->status = 0;
	cmd->resid = 0;
}

/* One path of a map, if sysfs says it runs and /dev holds its node. */
static int sg_on_path(struct bc_scsi_transport *t, dev_t dev,
		      struct bc_scsi_cmd *cmd, struct bc_error *e)
{
	struct sg_priv *p = t->priv;
	char kname[64], node[80], attr[96], state[32];
	struct stat st;
	int fd, rc;

	snprintf(attr, sizeof(attr), "/sys/dev/block/%u:%u/device/state",
		 major(dev), minor(dev));
	if (bc_sysfs_read_path(attr, state, sizeof(state)) < 0 ||
	    strcmp(state, "running") || bc_sysfs_kname(dev, kname, sizeof(kname)) < 0)
		return -ENODEV;
	snprintf(node, sizeof(node), "/dev/%s", kname);
	fd = scsi_pt_open_device(node, !p->write, 0);
	if (fd < 0)
		return fd;
	/* the node must be that path, not whatever /dev holds by its name */
	if (fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode) || st.st_rdev != dev) {
		scsi_pt_close_device(fd);
		return -ENODEV;
	}
	rc = sg_once(t, fd, cmd, e);
	scsi_pt_close_device(fd);
	return rc;
}

/*
 * SG_IO on a multipath map goes down a path the map chooses, and the map
 * does not fail a path for an ioctl's error (only a failed read or write
 * does, or multipathd): a command can land on a path that is offline.
 * Then it is sent again on each path that sysfs says is running, in the
 * map's order, until one answers.  Copy manager commands go first to the
 * path that named the LU (paths[0]), whose target is the copy domain the
 * plan relied on; the map and the other paths only when it is dead.  Every command blkclone sends may be
 * repeated: a copy or a zeroing of the same blocks ends the same.  With
 * no path answering, the map's error is returned, said so.
 */
static int sg_execute(struct bc_scsi_transport *t, struct bc_scsi_cmd *cmd,
		      struct bc_error *e)
{
	struct sg_priv *p = t->priv;
	struct bc_error first, scratch;
	int rc;

	if (!e) {	/* a caller that wants no error text still gets the retries */
		bc_error_clear(&scratch);
		e = &scratch;
	}
	/* a copy manager's command goes down the path whose target was
	 * planned as the copy domain: another path's session may not reach
	 * the other LU (LIO: COPY ABORTED, 0D/02) */
	if (p->n_paths && third_party(cmd)) {
		rc = sg_on_path(t, p->paths[0], cmd, e);
		if (rc == 0 || !path_error(rc))
			return rc;
		reset(cmd, e);
	}
	rc = sg_once(t, p->fd, cmd, e);
	if (!p->n_paths || !path_error(rc))
		return rc;
	first = *e;
	for (size_t i = 0; i < p->n_paths; i++) {
		reset(cmd, e);
		rc = sg_on_path(t, p->paths[i], cmd, e);
		if (rc == 0 || !path_error(rc))
			return rc;
	}
	*e = first;
	{
		size_t n = strlen(e->detail);

		snprintf(e->detail + n, sizeof(e->detail) - n,
			 "%sand on no path of the multipath map either", n ? "; " : "");
	}
	return first.err;
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

static int sg_open(const char *path, const dev_t *via, size_t n_via,
		   bool write, struct bc_scsi_transport **out, struct bc_error *e)
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
				  via ? via[0] : st.st_rdev, &h, &c, &tg, &l) < 0)
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
	p->write = write;
	for (size_t i = 0; via && i < n_via && i < MPATH_PATHS; i++)
		p->paths[p->n_paths++] = via[i];
	t->ops = &sg_ops;
	t->priv = p;
	t->lun = l;
	/* each SG_IO is its own request (one sg_pt object per call): as many
	 * threads as like may each have one out; this is what callers that
	 * run commands side by side (EXTENDED COPY) may assume */
	t->max_queue = 8;
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
	return sg_open(path, NULL, 0, write, out, e);
}

int bc_sg_open_via(const char *path, const dev_t *paths, size_t n, bool write,
		   struct bc_scsi_transport **out, struct bc_error *e)
{
	if (!n)
		return bc_error_set(e, -ENODEV, path, "open",
				    "a multipath map without paths");
	return sg_open(path, paths, n, write, out, e);
}
