// SPDX-License-Identifier: LGPL-2.1-or-later
/* The host locks of one destination, gathered while it opens (lockset.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "volume/lock.h"
#include "volume/lockset.h"

void bc_lockset_init(struct bc_lockset *s, const char *shown)
{
	char when[40];
	time_t now = time(NULL);
	struct tm tm;

	memset(s, 0, sizeof(*s));
	snprintf(s->shown, sizeof(s->shown), "%s", shown);
	if (!localtime_r(&now, &tm) ||
	    !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(when, sizeof(when), "?");
	snprintf(s->holder, sizeof(s->holder), "pid %d writing %.300s since %s",
		 (int)getpid(), shown, when);
}

int bc_lockset_take(struct bc_lockset *s, const char *key, bool shared,
		    struct bc_error *e)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->keys[i], key))
			return 0;
	if (s->n == sizeof(s->keys) / sizeof(s->keys[0]))
		return bc_error_set(e, -ENOLCK, s->shown, "lock",
				    "more names than locks: %s", key);
	snprintf(s->keys[s->n++], BC_LOCK_KEY_MAX, "%s", key);
	return bc_lock_take(&s->chain, key, shared, s->shown, s->holder, e);
}

int bc_lockset_take_designators(struct bc_lockset *s, struct bc_volume *v,
				bool shared, struct bc_error *e)
{
	const struct bc_caps *c;
	char key[BC_LOCK_KEY_MAX];
	int rc = bc_volume_caps(v, &c, e);

	for (size_t i = 0; rc == 0 && i < c->id.n_designators; i++)
		if (bc_lock_key_designator(key, sizeof(key),
					   &c->id.designators[i]) >= 0)
			rc = bc_lockset_take(s, key, shared, e);
	return rc;
}

int bc_lockset_settle(struct bc_lockset *s, int rc, struct bc_volume **out)
{
	if (rc < 0) {
		bc_lock_release(s->chain);
		bc_volume_close(*out);	/* NULL is fine */
		*out = NULL;
	} else {
		(*out)->lock = s->chain;
	}
	s->chain = NULL;
	return rc;
}
