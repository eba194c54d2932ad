/*
 * The iSCSI transport's asynchronous form against a real target:
 *   iscsi-queue URL
 * Submits max_queue READ(16)s of 64 KiB at once, checks that they are all
 * out together, that one more is refused with -EAGAIN, that ->poll runs
 * every callback, and that each buffer holds what a synchronous READ(16)
 * of the same LBAs returns.  Then the same from several threads through
 * ->execute at once.  Prints "ok"/"not ok" lines; exit 0 only if all pass.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/iscsi/session.h"
#include "scsi/transport.h"

#define PIECE (64u * 1024)
#define MAXQ 16

static int fails;

static void check(const char *what, int ok)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	if (!ok)
		fails++;
}

static void read16(struct bc_scsi_cmd *c, uint64_t lba, void *buf)
{
	uint32_t blocks = PIECE / 512;

	memset(c, 0, sizeof(*c));
	c->cdb[0] = 0x88;
	for (int i = 0; i < 8; i++)
		c->cdb[2 + i] = (uint8_t)(lba >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		c->cdb[10 + i] = (uint8_t)(blocks >> (24 - 8 * i));
	c->cdb_len = 16;
	c->dir = BC_SCSI_DIR_IN;
	c->data = buf;
	c->data_len = PIECE;
}

static void done_cb(struct bc_scsi_cmd *cmd, int rc, const struct bc_error *e,
		    void *arg)
{
	int *n = arg;

	(void)e;
	if (rc == 0 && cmd->status == BC_SAM_GOOD)
		(*n)++;
}

struct job {
	struct bc_scsi_transport *t;
	uint64_t lba;
	uint8_t *buf;
	int rc;
};

static void *exec_thread(void *arg)
{
	struct job *j = arg;
	struct bc_scsi_cmd c;
	struct bc_error e = { 0 };

	read16(&c, j->lba, j->buf);
	j->rc = bc_scsi_execute(j->t, &c, &e);
	if (j->rc == 0 && c.status != BC_SAM_GOOD)
		j->rc = -EIO;
	return NULL;
}

int main(int argc, char **argv)
{
	struct bc_scsi_transport *t;
	struct bc_scsi_cmd cmd[MAXQ + 1], one;
	struct bc_error e = { 0 };
	static uint8_t async_buf[MAXQ + 1][PIECE], sync_buf[PIECE];
	char msg[512];
	unsigned q;
	int completed = 0, same = 1, rc;

	if (argc != 2) {
		fprintf(stderr, "usage: %s URL\n", argv[0]);
		return 2;
	}
	if (bc_iscsi_connect(argv[1], &t, &e) < 0) {
		fprintf(stderr, "%s\n", bc_error_format(&e, msg, sizeof(msg)));
		return 1;
	}
	q = t->max_queue > MAXQ ? MAXQ : t->max_queue;
	check("the session takes more than one command", q > 1 && t->ops->submit);
	/* a new session may have several UNIT ATTENTIONs queued (power on,
	 * LUN inventory changed): take them all before counting */
	for (int i = 0; i < 8; i++) {
		read16(&one, 0, sync_buf);
		if (bc_scsi_execute(t, &one, &e) == 0 && one.status == BC_SAM_GOOD)
			break;
	}
	for (unsigned i = 0; i < q; i++) {
		read16(&cmd[i], (uint64_t)i * 977, async_buf[i]);
		cmd[i].done = done_cb;
		cmd[i].done_arg = &completed;
		rc = t->ops->submit(t, &cmd[i], &e);
		if (rc < 0) {
			check("submit", 0);
			return 1;
		}
	}
	/* The caller holds every read past the first at tgt's backing file
	 * (the FUSE gate), so none of them can have been answered yet
	 * however fast the target is; it lets them go once this is said. */
	check("the submitted commands are out at once (more than one in flight)",
	      t->ops->inflight(t) > 1);
	printf("# in flight %u of %u submitted\n", t->ops->inflight(t), q);
	fflush(stdout);
	read16(&cmd[q], 5, async_buf[q]);
	cmd[q].done = done_cb;
	cmd[q].done_arg = &completed;
	rc = t->ops->submit(t, &cmd[q], &e);
	check("one more than max_queue: -EAGAIN or accepted after completions",
	      rc == -EAGAIN || (rc == 0 && t->ops->inflight(t) <= q));
	for (int spins = 0; t->ops->inflight(t) && spins < 1000; spins++)
		if (t->ops->poll(t, 1000, &e) < 0)
			break;
	t->ops->poll(t, 0, &e);
	printf("# %d completed, %u queued, extra submit rc %d\n", completed, q, rc);
	check("every callback ran from poll, status GOOD",
	      completed == (int)q + (rc == 0));
	for (unsigned i = 0; i < q; i++) {
		read16(&one, (uint64_t)i * 977, sync_buf);
		if (bc_scsi_execute(t, &one, &e) < 0 || memcmp(sync_buf, async_buf[i], PIECE))
			same = 0;
	}
	check("asynchronous reads hold what synchronous reads return", same);

	/* ->execute from many threads at once */
	{
		pthread_t th[MAXQ];
		struct job j[MAXQ];
		int ok = 1;

		for (unsigned i = 0; i < q; i++) {
			j[i] = (struct job){ t, (uint64_t)i * 977, async_buf[i], 0 };
			memset(async_buf[i], 0xa5, PIECE);
			pthread_create(&th[i], NULL, exec_thread, &j[i]);
		}
		for (unsigned i = 0; i < q; i++) {
			pthread_join(th[i], NULL);
			read16(&one, j[i].lba, sync_buf);
			if (j[i].rc || bc_scsi_execute(t, &one, &e) < 0 ||
			    memcmp(sync_buf, async_buf[i], PIECE))
				ok = 0;
		}
		check("execute from 16 threads at once: every read right", ok);
	}
	bc_scsi_transport_close(t);
	return fails ? 1 : 0;
}
