// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * --progress: a bar on a terminal; elsewhere "(NN.NN/100%)" lines, the
 * form Proxmox's clone code already parses from qemu-img.
 */
#include <unistd.h>

#include "cli/cli.h"

void bc_progress_init(struct bc_progress *p, FILE *out)
{
	p->out = out;
	p->tty = isatty(fileno(out));
	p->last_hundredths = -1;
}

void bc_progress_cb(const struct bc_copy_stats *st, void *arg)
{
	struct bc_progress *p = arg;
	int h = st->total_bytes ?
		(int)((double)st->done_bytes * 10000.0 / (double)st->total_bytes) :
		10000;

	if (h > 10000)
		h = 10000;
	if (p->tty) {
		char bar[41];
		int fill = h * 40 / 10000;
		double rate = st->seconds > 0 ?
			      (double)st->done_bytes / st->seconds : 0;
		char rb[32];

		if (h == p->last_hundredths)
			return;
		for (int i = 0; i < 40; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[40] = '\0';
		fprintf(p->out, "\r[%s] %6.2f%%  %s/s   ", bar, h / 100.0,
			bc_human_bytes((unsigned long long)rate, rb, sizeof(rb)));
	} else {
		/* One line per 1% step keeps logs short. */
		if (p->last_hundredths >= 0 && h / 100 == p->last_hundredths / 100 &&
		    h != 10000)
			return;
		if (h == p->last_hundredths)
			return;
		fprintf(p->out, "    (%d.%02d/100%%)\n", h / 100, h % 100);
	}
	p->last_hundredths = h;
	fflush(p->out);
}

void bc_progress_end(struct bc_progress *p)
{
	if (p->tty && p->last_hundredths >= 0)
		fputc('\n', p->out);
}
