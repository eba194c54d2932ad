// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Token copy in the simulator (SBC-3 / SPC-4): POPULATE TOKEN, WRITE USING
 * TOKEN (also with the block-device-zero ROD token), RECEIVE COPY STATUS
 * (LID4), RECEIVE ROD TOKEN INFORMATION and COPY OPERATION ABORT.
 *
 * A ROD token is 512 bytes the initiator must treat as opaque.  This one
 * holds: its ROD type (0x00800001, point in time, change vulnerable: a
 * write to the source cancels it; or 0x00800002, persistent, when a named
 * type asks for it: simlu-pit.c), length 0x01F8, the token's id, the creator LU as
 * an 0xE4 CSCD (its NAA-6), the bytes it represents, the sim's identity,
 * the LU and up to 20 of its ranges, and a keyed checksum over all of it
 * in bytes 504-511.  The checksum is not cryptography: it catches garbled
 * and hand-made tokens.  The sim's token table is the authority for the
 * ranges, the inactivity timeout and whether the token still lives.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "simlu-int.h"

#define ROD_PIT_VULNERABLE	0x00800001u
#define ROD_BLOCK_ZERO		0xffff0001u
#define TOKEN_LEN		512
#define PT_HDR			16
#define WUT_HDR			536
#define RANGE_LEN		16
#define MAX_RANGES_EVER		1024	/* parser's bound, whatever the limits say */
#define TOK_SIM_ID		128	/* where the sim's identity sits */
#define TOK_SUM			504

/* --- limits --------------------------------------------------------------- */

void sim_tok_limits(const struct sim_lu *lu, struct sim_tok_limits *t)
{
	const struct bc_sim_token_limits *l = &lu->cfg.token_lim;

	t->max_ranges = l->max_ranges ? l->max_ranges : 16;
	if (t->max_ranges > MAX_RANGES_EVER)
		t->max_ranges = MAX_RANGES_EVER;
	t->max_inactivity_s = l->max_inactivity_s ? l->max_inactivity_s : 600;
	t->default_inactivity_s = l->default_inactivity_s ? l->default_inactivity_s : 60;
	t->max_transfer = l->max_transfer;
	t->optimal_transfer = l->optimal_transfer;
	t->wut_max_blocks = l->wut_max_blocks;
	t->immed_polls = l->immed_polls ? l->immed_polls : 1;
	t->max_tokens = l->max_tokens ? l->max_tokens : 64;
	t->status_delay_ms = l->status_delay_ms ? l->status_delay_ms : 10;
	t->never_completes = l->never_completes;
	t->abort_ignored = l->abort_ignored;
}

/* --- the token table ------------------------------------------------------ */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t checksum(const struct bc_sim *sim, const uint8_t *tok)
{
	uint64_t h = sim->secret;

	for (size_t i = 0; i < TOK_SUM; i += 8)
		h = mix(h ^ sim_be64(tok + i));
	return h;
}

static uint64_t sim_ident(const struct bc_sim *sim)
{
	return mix(sim->secret ^ 0x51e5117e51e5117eull);
}

static bool tok_expired(const struct bc_sim *sim, const struct sim_token *t)
{
	return sim->now_ms > t->last_active_ms + (uint64_t)t->timeout_s * 1000;
}

static void tok_drop(struct bc_sim *sim, size_t i)
{
	free(sim->tok[i].ranges);
	free(sim->tok[i].snap);
	sim->tok[i] = sim->tok[--sim->ntok];
}

void sim_tokens_free(struct bc_sim *sim)
{
	while (sim->ntok)
		tok_drop(sim, sim->ntok - 1);
	free(sim->tok);
	sim->tok = NULL;
	sim->captok = 0;
}

void sim_tokens_written(struct bc_sim *sim, unsigned lu, uint64_t lba, uint64_t n)
{
	for (size_t i = 0; i < sim->ntok; i++) {
		struct sim_token *t = &sim->tok[i];

		if (t->state != TOK_VALID || t->lu != lu || t->snap)
			continue;	/* a persistent token kept its blocks */
		for (size_t r = 0; r < t->nranges; r++)
			if (lba < t->ranges[r][0] + t->ranges[r][1] &&
			    t->ranges[r][0] < lba + n) {
				t->state = TOK_CANCELLED;
				break;
			}
	}
}

static struct sim_token *tok_find(struct bc_sim *sim, uint64_t id)
{
	for (size_t i = 0; i < sim->ntok; i++)
		if (sim->tok[i].id == id)
			return &sim->tok[i];
	return NULL;
}

/* Room for one more token: dead ones go first.  NULL when full. */
static struct sim_token *tok_alloc(struct bc_sim *sim, unsigned max)
{
	for (size_t i = 0; i < sim->ntok && sim->ntok >= max;)
		if (sim->tok[i].state != TOK_VALID || tok_expired(sim, &sim->tok[i]))
			tok_drop(sim, i);
		else
			i++;
	if (sim->ntok >= max)
		return NULL;
	if (sim->ntok == sim->captok) {
		size_t cap = sim->captok ? 2 * sim->captok : 8;
		struct sim_token *t = realloc(sim->tok, cap * sizeof(*t));

		if (!t)
			return NULL;
		sim->tok = t;
		sim->captok = cap;
	}
	memset(&sim->tok[sim->ntok], 0, sizeof(sim->tok[0]));
	return &sim->tok[sim->ntok++];
}

static void tok_bytes(const struct bc_sim *sim, const struct sim_lu *lu,
		      const struct sim_token *t, uint8_t *p)
{
	memset(p, 0, TOKEN_LEN);
	sim_put32(p, t->rod_type);
	sim_put16(p + 6, TOKEN_LEN - 8);
	sim_put64(p + 8, t->id);
	/* creator LU as an identification CSCD */
	p[16] = 0xe4;
	p[20] = 0x01;
	p[21] = 0x03;
	p[23] = 16;
	memcpy(p + 24, lu->cfg.naa, 16);
	p[16 + 29] = (uint8_t)(lu->cfg.block_size >> 16);
	p[16 + 30] = (uint8_t)(lu->cfg.block_size >> 8);
	p[16 + 31] = (uint8_t)lu->cfg.block_size;
	sim_put64(p + 56, t->blocks * lu->cfg.block_size);	/* 128-bit count */
	sim_put32(p + 96, lu->cfg.block_size);
	sim_put64(p + TOK_SIM_ID, sim_ident(sim));
	sim_put32(p + 136, lu->index);
	sim_put32(p + 140, (uint32_t)t->nranges);
	for (size_t r = 0; r < t->nranges && r < 20; r++) {
		sim_put64(p + 144 + 12 * r, t->ranges[r][0]);
		sim_put32(p + 152 + 12 * r, (uint32_t)t->ranges[r][1]);
	}
	sim_put64(p + TOK_SUM, checksum(sim, p));
}

/* --- range descriptor lists ----------------------------------------------- */

/*
 * Check @n range descriptors at @d against @lu and the limits; returns the
 * total blocks, or -1 with the sense set.  @at is the list's offset in the
 * parameter data, for the sense's field pointer.
 */
static int64_t ranges_check(struct sim_ctx *c, const struct sim_lu *lu,
			    const uint8_t *d, size_t n, unsigned at,
			    const struct sim_tok_limits *t)
{
	uint64_t total = 0;

	if (n > t->max_ranges) {
		sim_bad_param(c, ASC_TOO_MANY_SEGMENTS, at - 2);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t lba = sim_be64(d + RANGE_LEN * i), cnt = sim_be32(d + RANGE_LEN * i + 8);

		if (lba > lu->cfg.blocks || cnt > lu->cfg.blocks - lba) {
			sim_sense(c, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			uint64_t l2 = sim_be64(d + RANGE_LEN * j), c2 = sim_be32(d + RANGE_LEN * j + 8);

			if (cnt && c2 && lba < l2 + c2 && l2 < lba + cnt) {
				sim_bad_param(c, ASC_INVALID_PARAM_FIELD,
					      at + (unsigned)(RANGE_LEN * i));
				return -1;
			}
		}
		total += cnt;
	}
	if (!total || (t->max_transfer && total > t->max_transfer)) {
		sim_bad_param(c, ASC_INVALID_PARAM_FIELD, at);
		return -1;
	}
	return (int64_t)total;
}

/* Store the sense of a failed operation in its list. */
static void list_failed(struct sim_ctx *c, struct sim_list *l)
{
	l->state = SIM_LIST_ERROR;
	l->sense_len = (uint8_t)(c->cmd->sense_len < sizeof(l->sense) ?
				 c->cmd->sense_len : sizeof(l->sense));
	memcpy(l->sense, c->cmd->sense, l->sense_len);
}

/* Keep a copy of the parameter list for an IMMED operation. */
static int list_defer(struct sim_ctx *c, struct sim_list *l, const uint8_t *p,
		      size_t len, const struct sim_tok_limits *t)
{
	l->params = malloc(len);
	if (!l->params) {
		sim_sense(c, SK_HARDWARE_ERROR, ASC_INTERNAL_FAILURE);
		l->state = SIM_LIST_FREE;
		return -1;
	}
	memcpy(l->params, p, len);
	l->params_len = len;
	l->polls_left = t->immed_polls;
	l->state = SIM_LIST_PENDING;
	return 0;
}

/* --- POPULATE TOKEN ------------------------------------------------------- */

/* Make the token (parameters already checked); the list holds it. */
static void populate(struct sim_ctx *c, struct sim_list *l, const uint8_t *p)
{
	struct sim_tok_limits t;
	struct sim_token *tok;
	size_t n = sim_be16(p + 14) / RANGE_LEN;
	uint32_t timeout = sim_be32(p + 4);

	sim_tok_limits(c->lu, &t);
	tok = tok_alloc(c->sim, t.max_tokens);
	if (!tok || !(tok->ranges = calloc(n, sizeof(*tok->ranges)))) {
		if (tok)
			c->sim->ntok--;
		sim_sense(c, SK_ILLEGAL_REQUEST, ASC_NO_ROD_TOKEN_RES);
		list_failed(c, l);
		return;
	}
	tok->id = c->sim->next_token_id++;
	tok->lu = c->lu->index;
	tok->bs = c->lu->cfg.block_size;
	for (size_t i = 0; i < n; i++) {
		uint64_t cnt = sim_be32(p + PT_HDR + RANGE_LEN * i + 8);

		if (!cnt)
			continue;	/* an empty range adds nothing to the ROD */
		tok->ranges[tok->nranges][0] = sim_be64(p + PT_HDR + RANGE_LEN * i);
		tok->ranges[tok->nranges++][1] = cnt;
		tok->blocks += cnt;
	}
	tok->rod_type = sim_pit_rod_type(c->lu, p[2] & 0x02, sim_be32(p + 8));
	if (tok->rod_type != ROD_PIT_VULNERABLE && sim_pit_snapshot(c->sim, tok) < 0) {
		tok_drop(c->sim, (size_t)(tok - c->sim->tok));
		sim_sense(c, SK_HARDWARE_ERROR, ASC_INTERNAL_FAILURE);
		list_failed(c, l);
		return;
	}
	tok->timeout_s = timeout ? timeout : t.default_inactivity_s;
	tok->last_active_ms = c->sim->now_ms;
	tok->state = TOK_VALID;
	tok_bytes(c->sim, c->lu, tok, l->token);
	l->has_token = true;
	l->blocks_done = tok->blocks;
	l->ops_done = 1;
	l->state = SIM_LIST_DONE;
}

void sim_cmd_populate_token(struct sim_ctx *c)
{
	uint32_t id = sim_be32(c->cdb + 6), plen = sim_be32(c->cdb + 10);
	size_t usable, rdl;
	struct sim_tok_limits t;
	struct sim_list *l;
	const uint8_t *p;

	sim_tok_limits(c->lu, &t);
	if (!(p = sim_param_list(c, plen, PT_HDR + RANGE_LEN, &usable)))
		return;
	rdl = sim_be16(p + 14);
	if (usable < PT_HDR || rdl % RANGE_LEN || !rdl || PT_HDR + rdl > usable) {
		sim_bad_param(c, ASC_INVALID_PARAM_FIELD, usable < PT_HDR ? 0 : 14);
		return;
	}
	if (sim_be32(p + 4) > t.max_inactivity_s) {
		sim_bad_param(c, ASC_INVALID_PARAM_FIELD, 4);
		return;
	}
	/* RTV: the initiator names a ROD type (bc_sim_token_limits.pit) */
	if (!sim_pit_rod_type(c->lu, p[2] & 0x02, sim_be32(p + 8))) {
		sim_bad_param(c, ASC_INVALID_PARAM_FIELD, 8);
		return;
	}
	if (ranges_check(c, c->lu, p + PT_HDR, rdl / RANGE_LEN, PT_HDR, &t) < 0)
		return;
	if (!(l = sim_list_new(c, false, id, 0x10)))
		return;
	if (p[2] & 0x01) {		/* IMMED: made when polled */
		list_defer(c, l, p, PT_HDR + rdl, &t);
		return;
	}
	populate(c, l, p);
}

/* --- WRITE USING TOKEN ---------------------------------------------------- */

/* The live token @tok names, or NULL with INVALID TOKEN OPERATION sent. */
static struct sim_token *token_check(struct sim_ctx *c, const uint8_t *tok)
{
	struct sim_token *t;
	uint16_t why = 0;

	if (!sim_pit_known(sim_be32(tok)))
		why = ASC_TOKEN_UNSUP_TYPE;
	else if (sim_be16(tok + 6) != TOKEN_LEN - 8)
		why = ASC_TOKEN_LENGTH;
	else if (sim_be64(tok + TOK_SIM_ID) != sim_ident(c->sim))
		why = ASC_TOKEN_REMOTE;		/* another copy manager's */
	else if (sim_be64(tok + TOK_SUM) != checksum(c->sim, tok))
		why = ASC_TOKEN_CORRUPT;
	else if (!(t = tok_find(c->sim, sim_be64(tok + 8))))
		why = ASC_TOKEN_UNKNOWN;
	else if (t->state == TOK_CANCELLED)
		why = ASC_TOKEN_CANCELLED;
	else if (t->state == TOK_DELETED)
		why = ASC_TOKEN_DELETED;
	else if (tok_expired(c->sim, t))
		why = ASC_TOKEN_EXPIRED;
	else if (t->bs != c->lu->cfg.block_size)
		why = ASC_INVALID_COPY_OP;
	if (why) {
		sim_sense(c, SK_ILLEGAL_REQUEST, why);
		return NULL;
	}
	return t;
}

/* Where ROD block @off lies in the token's source ranges. */
static void rod_seek(const struct sim_token *t, uint64_t off, size_t *r, uint64_t *in)
{
	for (*r = 0; *r < t->nranges && off >= t->ranges[*r][1]; (*r)++)
		off -= t->ranges[*r][1];
	*in = off;
}

/* Do the writes of a checked WRITE USING TOKEN into list @l. */
static void write_using(struct sim_ctx *c, struct sim_list *l, const uint8_t *p)
{
	struct sim_fault *sf = sim_copy_fault(c);
	size_t nd = sim_be16(p + 534) / RANGE_LEN, sr = 0;
	const uint8_t *d = p + WUT_HDR;
	bool zero = sim_be32(p + 16) == ROD_BLOCK_ZERO;
	uint64_t off = sim_be64(p + 8), want = 0, budget, done = 0, sin = 0;
	uint64_t rodpos = off;	/* ROD block being written */
	struct sim_token *t = NULL;
	struct sim_lu *src = NULL;
	uint64_t (*ranges)[2] = NULL;
	struct sim_tok_limits tl;
	int rc = 0;

	sim_tok_limits(c->lu, &tl);
	for (size_t i = 0; i < nd; i++)
		want += sim_be32(d + RANGE_LEN * i + 8);
	budget = want;
	if (!zero) {
		/* a deferred operation looks at the token again: it may
		 * have died while the initiator was polling */
		if (!(t = token_check(c, p + 16)) || off >= t->blocks) {
			if (t)
				sim_bad_param(c, ASC_INVALID_PARAM_FIELD, 8);
			list_failed(c, l);
			return;
		}
		src = c->sim->lu[t->lu];
		if (t->blocks - off < budget)
			budget = t->blocks - off;
		/* the writes below may cancel the token (a destination over
		 * its own source): walk a copy of its ranges */
		ranges = malloc(t->nranges * sizeof(*ranges));
		if (!ranges) {
			sim_sense(c, SK_HARDWARE_ERROR, ASC_INTERNAL_FAILURE);
			list_failed(c, l);
			return;
		}
		memcpy(ranges, t->ranges, t->nranges * sizeof(*ranges));
		rod_seek(t, off, &sr, &sin);
	}
	if (tl.wut_max_blocks && budget > tl.wut_max_blocks)
		budget = tl.wut_max_blocks;
	for (size_t i = 0; i < nd && done < budget && !rc; i++) {
		uint64_t dlba = sim_be64(d + RANGE_LEN * i), dn = sim_be32(d + RANGE_LEN * i + 8);

		while (dn && done < budget && !rc) {
			uint64_t k = dn < budget - done ? dn : budget - done;

			if (!zero) {
				if (k > ranges[sr][1] - sin)
					k = ranges[sr][1] - sin;
			}
			if (sf && done + k > sf->f.after_blocks)
				k = sf->f.after_blocks - done;
			if (!k)
				break;
			rc = zero ? sim_lu_zero(c->sim, c->lu, dlba, k) :
			     t->snap ? sim_pit_write(c->sim, t, rodpos, c->lu, dlba, k) :
			     sim_lu_copy(c->sim, src, ranges[sr][0] + sin, c->lu, dlba, k);
			done += k;
			rodpos += k;
			dlba += k;
			dn -= k;
			l->ops_done++;
			if (!zero && (sin += k) == ranges[sr][1]) {
				sr++;
				sin = 0;
			}
		}
		if (sf && done >= sf->f.after_blocks)
			break;
	}
	free(ranges);
	l->blocks_done = done;
	l->segs_done = 1;
	if (t) {
		t->last_active_ms = c->sim->now_ms;
		if (p[2] & 0x02 && t->state == TOK_VALID)
			t->state = TOK_DELETED;		/* DEL_TKN */
	}
	if (rc < 0 || sf) {
		/* the fault stopped the writes; one whose block count was
		 * not reached fails the command after all of them, as a
		 * lost completion would */
		uint16_t ascq = rc < 0 ? ASC_THIRD_PARTY_FAILURE :
			sf->f.asc || sf->f.ascq ? (uint16_t)(sf->f.asc << 8 | sf->f.ascq) :
			ASC_COPY_TARGET_UNREACH;

		sim_sense(c, SK_COPY_ABORTED, ascq);
		list_failed(c, l);
		return;
	}
	l->state = done < want ? SIM_LIST_RESID : SIM_LIST_DONE;
}

void sim_cmd_write_using_token(struct sim_ctx *c)
{
	uint32_t id = sim_be32(c->cdb + 6), plen = sim_be32(c->cdb + 10);
	size_t usable, rdl;
	struct sim_tok_limits t;
	struct sim_list *l;
	const uint8_t *p;
	bool zero;

	sim_tok_limits(c->lu, &t);
	if (!(p = sim_param_list(c, plen, WUT_HDR + RANGE_LEN, &usable)))
		return;
	rdl = sim_be16(p + 534);
	if (usable < WUT_HDR || rdl % RANGE_LEN || !rdl || WUT_HDR + rdl > usable) {
		sim_bad_param(c, ASC_INVALID_PARAM_FIELD, usable < WUT_HDR ? 0 : 534);
		return;
	}
	if (ranges_check(c, c->lu, p + WUT_HDR, rdl / RANGE_LEN, WUT_HDR, &t) < 0)
		return;
	zero = sim_be32(p + 16) == ROD_BLOCK_ZERO;
	if (!zero) {
		struct sim_token *tok = token_check(c, p + 16);

		if (!tok)
			return;
		if (sim_be64(p + 8) >= tok->blocks) {
			sim_bad_param(c, ASC_INVALID_PARAM_FIELD, 8);
			return;
		}
	}
	if (!(l = sim_list_new(c, false, id, 0x11)))
		return;
	if (p[2] & 0x01) {		/* IMMED: written when polled */
		list_defer(c, l, p, WUT_HDR + rdl, &t);
		return;
	}
	write_using(c, l, p);
}

/* --- status, abort -------------------------------------------------------- */

void sim_token_run_pending(struct sim_ctx *c, struct sim_list *l)
{
	struct bc_scsi_cmd saved = *c->cmd;
	const uint8_t *cdb = c->cdb, own[16] = { 0x83, l->sa };
	uint8_t *p = l->params;

	/* run it as if it were the command itself (faults armed for it
	 * match), then give the polling command back its own status: the
	 * outcome lives in @l */
	l->params = NULL;
	l->state = SIM_LIST_DONE;
	c->cmd->status = BC_SAM_GOOD;
	c->cmd->sense_len = 0;
	c->cdb = own;
	if (l->sa == 0x10)
		populate(c, l, p);
	else
		write_using(c, l, p);
	c->cdb = cdb;
	free(p);
	*c->cmd = saved;
}

void sim_cmd_rcs_lid4(struct sim_ctx *c)
{
	bool rrti = (c->cdb[1] & 0x1f) == 0x07;
	uint32_t alloc = sim_be32(c->cdb + 10);
	uint8_t buf[32 + 32 + 4 + 2 + TOKEN_LEN];
	struct sim_tok_limits t;
	struct sim_list *l = sim_list_find(c, false, sim_be32(c->cdb + 2));
	size_t n;

	if (!l) {
		sim_bad_cdb(c, 2);
		return;
	}
	sim_tok_limits(c->lu, &t);
	if (l->state == SIM_LIST_PENDING && !t.never_completes) {
		if (l->polls_left)
			l->polls_left--;
		else
			sim_token_run_pending(c, l);
	}
	memset(buf, 0, sizeof(buf));
	buf[4] = l->sa;
	switch (l->state) {
	case SIM_LIST_PENDING:
		buf[5] = 0x12;		/* in progress, in the background */
		sim_put32(buf + 8, t.status_delay_ms);
		break;
	case SIM_LIST_ERROR:
		buf[5] = 0x02;
		buf[12] = BC_SAM_CHECK_CONDITION;
		break;
	case SIM_LIST_RESID:
		buf[5] = 0x04;		/* completed: check the transfer count */
		break;
	case SIM_LIST_ABORTED:
		buf[5] = 0x60;
		break;
	default:
		buf[5] = 0x01;
		break;
	}
	sim_put16(buf + 6, l->ops_done);
	buf[13] = l->sense_len;
	buf[14] = l->sense_len;
	buf[15] = 0xf1;			/* transfer count in logical blocks */
	sim_put64(buf + 16, l->blocks_done);
	sim_put16(buf + 24, l->segs_done);
	memcpy(buf + 32, l->sense, l->sense_len);
	n = 32 + l->sense_len;
	if (rrti) {
		bool tok = l->has_token && l->state == SIM_LIST_DONE;

		sim_put32(buf + n, tok ? 2 + TOKEN_LEN : 0);
		n += 4;
		if (tok) {
			memcpy(buf + n + 2, l->token, TOKEN_LEN);
			n += 2 + TOKEN_LEN;
		}
	}
	sim_put32(buf, (uint32_t)(n - 4));
	sim_data_in(c, buf, n, alloc);
}

void sim_cmd_copy_abort(struct sim_ctx *c)
{
	struct sim_list *l = sim_list_find(c, false, sim_be32(c->cdb + 2));
	struct sim_tok_limits t;

	if (!l) {
		sim_bad_cdb(c, 2);
		return;
	}
	sim_tok_limits(c->lu, &t);
	/* only what has not run yet can be stopped; a finished operation
	 * keeps its outcome */
	if (l->state == SIM_LIST_PENDING && !t.abort_ignored) {
		free(l->params);
		l->params = NULL;
		l->state = SIM_LIST_ABORTED;
	}
}
