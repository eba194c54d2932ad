/*
 * The scenario list's row parser, matcher and rules (see scenario.h and
 * the header of tests/scenarios/common.scn).  Everything works on
 * (pointer, length) slices of the caller's line and checks each length
 * before a read, so a malformed line is an error, never a crash.
 */
#include <stdio.h>
#include <string.h>

#include "scenario.h"

static const char *const label_names[SCN_NLABELS] = {
	[SCN_LIO] = "lio",
	[SCN_SIM_LIO] = "sim-lio",
	[SCN_SIM_SPC] = "sim-spc",
	[SCN_TGT] = "tgt",
};

const char *scn_label_name(enum scn_label l)
{
	return (unsigned)l < SCN_NLABELS ? label_names[l] : "?";
}

int scn_label_parse(const char *s, size_t len)
{
	for (int i = 0; i < SCN_NLABELS; i++)
		if (strlen(label_names[i]) == len && !memcmp(label_names[i], s, len))
			return i;
	return -1;
}

/* --- slices ---------------------------------------------------------------- */

struct slice {
	const char *p;
	size_t n;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct slice trim(struct slice s)
{
	while (s.n && is_space(*s.p)) {
		s.p++;
		s.n--;
	}
	while (s.n && is_space(s.p[s.n - 1]))
		s.n--;
	return s;
}

static void skip_space(struct slice *s)
{
	while (s->n && is_space(*s->p)) {
		s->p++;
		s->n--;
	}
}

/* The word @w, not followed by a letter or '-'. */
static bool take_word(struct slice *s, const char *w)
{
	size_t n = strlen(w);

	skip_space(s);
	if (s->n < n || memcmp(s->p, w, n) ||
	    (s->n > n && ((s->p[n] >= 'a' && s->p[n] <= 'z') || s->p[n] == '-')))
		return false;
	s->p += n;
	s->n -= n;
	return true;
}

static bool take_char(struct slice *s, char c)
{
	skip_space(s);
	if (!s->n || *s->p != c)
		return false;
	s->p++;
	s->n--;
	return true;
}

static int digit(char c, unsigned base)
{
	int v = c >= '0' && c <= '9' ? c - '0' :
		c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;

	return v < (int)base ? v : -1;
}

/* An unsigned number in @base, at most @max, right here (no space skipped). */
static bool take_num_here(struct slice *s, unsigned base, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	int d;

	while (i < s->n && (d = digit(s->p[i], base)) >= 0) {
		v = v * base + (unsigned)d;
		if (v > max)
			return false;
		i++;
	}
	if (!i)
		return false;
	s->p += i;
	s->n -= i;
	*out = v;
	return true;
}

static bool take_num(struct slice *s, unsigned base, uint64_t max, uint64_t *out)
{
	skip_space(s);
	return take_num_here(s, base, max, out);
}

static void set_err(char *err, size_t errlen, const char *what, struct slice at)
{
	int n = at.n > 40 ? 40 : (int)at.n;

	if (errlen)
		snprintf(err, errlen, "%s at \"%.*s\"", what, n, at.p);
}

/* --- bytes: "HH", "HH*N" and, where @refs, "@OFF+LEN" ----------------------- */

static int parse_bytes(struct slice s, uint8_t *out, size_t max, struct scn_row *refs,
		       char *err, size_t errlen)
{
	size_t n = 0;

	for (;;) {
		uint64_t v, rep = 1, off, len;

		skip_space(&s);
		if (!s.n)
			return (int)n;
		if (*s.p == '@' && refs) {
			s.p++;
			s.n--;
			if (!take_num_here(&s, 10, SCN_MAX_DATA, &off) || !take_char(&s, '+') ||
			    !take_num(&s, 10, SCN_MAX_DATA, &len) || !len) {
				set_err(err, errlen, "bad @OFF+LEN", s);
				return -1;
			}
			if (refs->nref == SCN_MAX_REFS || len > max - n) {
				set_err(err, errlen, "too many or too long @ pieces", s);
				return -1;
			}
			if (s.n && !is_space(*s.p)) {
				set_err(err, errlen, "junk after @OFF+LEN", s);
				return -1;
			}
			refs->ref[refs->nref++] = (struct scn_ref){ (uint32_t)n,
				(uint32_t)off, (uint32_t)len };
			memset(out + n, 0, (size_t)len);
			n += (size_t)len;
			continue;
		}
		if (!take_num_here(&s, 16, 0xff, &v)) {
			set_err(err, errlen, "not a hex byte", s);
			return -1;
		}
		if (s.n && *s.p == '*') {
			s.p++;
			s.n--;
			if (!take_num_here(&s, 10, SCN_MAX_DATA, &rep)) {
				set_err(err, errlen, "bad repeat count", s);
				return -1;
			}
		}
		if (s.n && !is_space(*s.p)) {
			set_err(err, errlen, "junk after a byte", s);
			return -1;
		}
		if (rep > max - n) {
			set_err(err, errlen, "too many bytes", s);
			return -1;
		}
		memset(out + n, (int)v, (size_t)rep);
		n += (size_t)rep;
	}
}

/* --- expectations ----------------------------------------------------------- */

static int parse_check(struct slice *s, struct scn_check *c, char *err, size_t errlen)
{
	uint64_t off, v;

	memset(c, 0, sizeof(*c));
	c->mask = 0xff;
	if (take_word(s, "bytes")) {
		if (!take_num(s, 10, SCN_MAX_DATA - 1, &off) || !take_char(s, '=')) {
			set_err(err, errlen, "want \"bytes N = HH ...\"", *s);
			return -1;
		}
		c->off = (uint32_t)off;
		while (skip_space(s), s->n && *s->p != ';') {
			if (c->len == SCN_MAX_BYTES || !take_num_here(s, 16, 0xff, &v) ||
			    (s->n && !is_space(*s->p) && *s->p != ';')) {
				set_err(err, errlen, "bad byte list (1 to 16 hex bytes)", *s);
				return -1;
			}
			c->val[c->len++] = (uint8_t)v;
		}
		if (!c->len) {
			set_err(err, errlen, "no bytes", *s);
			return -1;
		}
		return 0;
	}
	if (!take_word(s, "byte") || !take_num(s, 10, SCN_MAX_DATA - 1, &off)) {
		set_err(err, errlen, "want \"byte N [& MASK] = V\" or \"bytes N = ...\"", *s);
		return -1;
	}
	c->off = (uint32_t)off;
	c->len = 1;
	if (take_char(s, '&')) {
		if (!take_num(s, 16, 0xff, &v)) {
			set_err(err, errlen, "bad mask", *s);
			return -1;
		}
		c->mask = (uint8_t)v;
	}
	if (!take_char(s, '=') || !take_num(s, 16, 0xff, &v)) {
		set_err(err, errlen, "want \"= V\"", *s);
		return -1;
	}
	if (v & ~(uint64_t)c->mask) {
		set_err(err, errlen, "value has bits outside the mask: never matches", *s);
		return -1;
	}
	c->val[0] = (uint8_t)v;
	return 0;
}

static int parse_expect(struct slice s, struct scn_expect *ex, char *err, size_t errlen)
{
	uint64_t k, a, q;

	memset(ex, 0, sizeof(*ex));
	if (take_word(&s, "good")) {
		ex->good = true;
	} else if (take_word(&s, "check")) {
		if (!take_num(&s, 16, 0xf, &k)) {
			set_err(err, errlen, "want a sense key", s);
			return -1;
		}
		ex->key = (uint8_t)k;
		if (take_char(&s, '/')) {
			if (!take_num_here(&s, 16, 0xff, &a) || !take_char(&s, '/') ||
			    !take_num_here(&s, 16, 0xff, &q)) {
				set_err(err, errlen, "want KEY/ASC/ASCQ", s);
				return -1;
			}
			ex->has_asc = true;
			ex->asc = (uint8_t)a;
			ex->ascq = (uint8_t)q;
		}
	} else {
		set_err(err, errlen, "want \"good\" or \"check\"", s);
		return -1;
	}
	while (take_char(&s, ';')) {
		if (ex->nchecks == SCN_MAX_CHECKS) {
			set_err(err, errlen, "too many byte checks", s);
			return -1;
		}
		if (parse_check(&s, &ex->check[ex->nchecks++], err, errlen) < 0)
			return -1;
	}
	skip_space(&s);
	if (s.n) {
		set_err(err, errlen, "junk after the expectation", s);
		return -1;
	}
	return 0;
}

/* "a, b, c" -> a label mask; 0 with @err on an unknown or repeated label. */
static unsigned parse_labels(struct slice s, char *err, size_t errlen)
{
	unsigned mask = 0;

	for (;;) {
		const char *c = memchr(s.p, ',', s.n);
		struct slice one = trim((struct slice){ s.p, c ? (size_t)(c - s.p) : s.n });
		int l = scn_label_parse(one.p, one.n);

		if (l < 0 || mask & 1u << l) {
			set_err(err, errlen, l < 0 ? "unknown label" : "label named twice", one);
			return 0;
		}
		mask |= 1u << l;
		if (!c)
			break;
		s.n -= (size_t)(c + 1 - s.p);
		s.p = c + 1;
	}
	return mask;
}

static void copy_text(char *dst, size_t max, struct slice s)
{
	size_t n = s.n < max - 1 ? s.n : max - 1;

	memcpy(dst, s.p, n);
	dst[n] = '\0';
}

/* One field after the data: a label field or a marker. */
static int parse_field(struct slice f, struct scn_row *r, char *err, size_t errlen)
{
	const char *colon = memchr(f.p, ':', f.n), *ne;
	struct slice head, tail;
	unsigned all = 0;

	if (!colon) {
		set_err(err, errlen, "want \"LABELS: expectation\"", f);
		return -1;
	}
	head = trim((struct slice){ f.p, (size_t)(colon - f.p) });
	tail = trim((struct slice){ colon + 1, f.n - (size_t)(colon + 1 - f.p) });
	for (unsigned i = 0; i < r->nfields; i++)
		all |= r->field[i].labels;
	if (head.n == 10 && !memcmp(head.p, "unverified", 10)) {
		unsigned m = parse_labels(tail, err, errlen);

		if (!m || r->unverified) {
			if (m)
				set_err(err, errlen, "two unverified: fields", f);
			return -1;
		}
		r->unverified = m;
		return 0;
	}
	ne = NULL;
	for (size_t i = 0; i + 1 < head.n && !ne; i++)
		if (head.p[i] == '!' && head.p[i + 1] == '=')
			ne = head.p + i;
	if (ne) {
		struct slice a = trim((struct slice){ head.p, (size_t)(ne - head.p) });
		struct slice b = trim((struct slice){ ne + 2, head.n - (size_t)(ne + 2 - head.p) });
		int la = scn_label_parse(a.p, a.n), lb = scn_label_parse(b.p, b.n);

		if (la < 0 || lb < 0 || la == lb || r->differs[0] || !tail.n) {
			set_err(err, errlen, "want one \"LABEL != LABEL: why\"", f);
			return -1;
		}
		r->differs[0] = 1u << la;
		r->differs[1] = 1u << lb;
		copy_text(r->why, sizeof(r->why), tail);
		return 0;
	}
	if (r->nfields == SCN_MAX_FIELDS) {
		set_err(err, errlen, "too many fields", f);
		return -1;
	}
	{
		struct scn_field *fl = &r->field[r->nfields];

		if (!(fl->labels = parse_labels(head, err, errlen)))
			return -1;
		if (fl->labels & all) {
			set_err(err, errlen, "a label has two expectations", head);
			return -1;
		}
		if (parse_expect(tail, &fl->ex, err, errlen) < 0)
			return -1;
		copy_text(fl->text, sizeof(fl->text), tail);
		r->nfields++;
	}
	return 0;
}

static int parse_data(struct slice d, struct scn_row *r, char *err, size_t errlen)
{
	uint64_t n;
	int len;

	if (take_word(&d, "none")) {
		r->dir = SCN_DIR_NONE;
	} else if (take_word(&d, "in")) {
		if (!take_num(&d, 10, SCN_MAX_DATA, &n)) {
			set_err(err, errlen, "want \"in LEN\" (at most 8192)", d);
			return -1;
		}
		r->dir = SCN_DIR_IN;
		r->data_len = (uint32_t)n;
	} else if (take_word(&d, "out")) {
		len = parse_bytes(d, r->data, sizeof(r->data), r, err, errlen);
		if (len <= 0) {
			if (!len)
				set_err(err, errlen, "\"out\" without bytes", d);
			return -1;
		}
		r->dir = SCN_DIR_OUT;
		r->data_len = (uint32_t)len;
		return 0;
	} else {
		set_err(err, errlen, "want none, in LEN or out BYTES", d);
		return -1;
	}
	skip_space(&d);
	if (d.n) {
		set_err(err, errlen, "junk after the data", d);
		return -1;
	}
	return 0;
}

int scn_parse_row(const char *line, struct scn_row *r, char *err, size_t errlen)
{
	size_t len = strnlen(line, SCN_MAX_LINE + 1);
	struct slice s = trim((struct slice){ line, len }), f[3 + SCN_MAX_FIELDS + 1];
	unsigned nf = 0;
	int n;

	if (errlen)
		err[0] = '\0';
	memset(r, 0, sizeof(*r));
	if (len > SCN_MAX_LINE) {
		snprintf(err, errlen, "line longer than %d bytes", SCN_MAX_LINE);
		return -1;
	}
	if (!s.n || *s.p == '#')
		return 0;
	for (;;) {
		const char *bar = memchr(s.p, '|', s.n);

		if (nf == sizeof(f) / sizeof(f[0])) {
			snprintf(err, errlen, "more than %d fields", 3 + SCN_MAX_FIELDS);
			return -1;
		}
		f[nf++] = trim((struct slice){ s.p, bar ? (size_t)(bar - s.p) : s.n });
		if (!bar)
			break;
		s.n -= (size_t)(bar + 1 - s.p);
		s.p = bar + 1;
	}
	if (nf < 4) {
		snprintf(err, errlen, "needs name | CDB | data | LABELS: expectation");
		return -1;
	}
	if (!f[0].n || f[0].n >= sizeof(r->name)) {
		snprintf(err, errlen, "name empty or longer than %d", SCN_MAX_NAME - 1);
		return -1;
	}
	copy_text(r->name, sizeof(r->name), f[0]);
	n = parse_bytes(f[1], r->cdb, sizeof(r->cdb), NULL, err, errlen);
	if (n < 0)
		return -1;
	if (n != 6 && n != 10 && n != 12 && n != 16) {
		snprintf(err, errlen, "CDB of %d bytes (6, 10, 12 or 16)", n);
		return -1;
	}
	r->cdb_len = (uint8_t)n;
	if (parse_data(f[2], r, err, errlen) < 0)
		return -1;
	for (unsigned i = 3; i < nf; i++)
		if (parse_field(f[i], r, err, errlen) < 0)
			return -1;
	if (!r->nfields) {
		snprintf(err, errlen, "no label field");
		return -1;
	}
	return 1;
}

const struct scn_field *scn_row_field(const struct scn_row *r, enum scn_label l)
{
	for (unsigned i = 0; i < r->nfields && i < SCN_MAX_FIELDS; i++)
		if (r->field[i].labels & 1u << l)
			return &r->field[i];
	return NULL;
}

bool scn_expect_equal(const struct scn_expect *a, const struct scn_expect *b)
{
	if (a->good != b->good || a->nchecks != b->nchecks)
		return false;
	if (!a->good && (a->key != b->key || a->has_asc != b->has_asc ||
			 (a->has_asc && (a->asc != b->asc || a->ascq != b->ascq))))
		return false;
	for (unsigned i = 0; i < a->nchecks && i < SCN_MAX_CHECKS; i++) {
		const struct scn_check *x = &a->check[i], *y = &b->check[i];

		if (x->off != y->off || x->len != y->len || x->mask != y->mask ||
		    x->len > SCN_MAX_BYTES || memcmp(x->val, y->val, x->len))
			return false;
	}
	return true;
}

int scn_lint_row(const struct scn_row *r, char *err, size_t errlen)
{
	const struct scn_field *lio = scn_row_field(r, SCN_LIO);
	const struct scn_field *slio = scn_row_field(r, SCN_SIM_LIO);
	const struct scn_field *spc = scn_row_field(r, SCN_SIM_SPC);
	const struct scn_field *tgt = scn_row_field(r, SCN_TGT);
	unsigned spoken = 0;

	for (unsigned i = 0; i < r->nfields && i < SCN_MAX_FIELDS; i++)
		spoken |= r->field[i].labels;
	if (!lio != !slio) {
		snprintf(err, errlen, "%s without %s", lio ? "lio" : "sim-lio",
			 lio ? "sim-lio" : "lio");
		return -1;
	}
	if (lio && !scn_expect_equal(&lio->ex, &slio->ex)) {
		snprintf(err, errlen, "sim-lio expects \"%s\", lio \"%s\"", slio->text,
			 lio->text);
		return -1;
	}
	if (!spc != !tgt) {
		snprintf(err, errlen, "%s without %s", spc ? "sim-spc" : "tgt",
			 spc ? "tgt" : "sim-spc");
		return -1;
	}
	if (r->differs[0]) {
		unsigned pair = r->differs[0] | r->differs[1];

		if (pair != (1u << SCN_SIM_SPC | 1u << SCN_TGT)) {
			snprintf(err, errlen, "only \"sim-spc != tgt\" may differ");
			return -1;
		}
		if (!spc) {
			snprintf(err, errlen, "\"sim-spc != tgt\" on a row without them");
			return -1;
		}
		if (scn_expect_equal(&spc->ex, &tgt->ex)) {
			snprintf(err, errlen, "says sim-spc != tgt, but both expect \"%s\"",
				 spc->text);
			return -1;
		}
	} else if (spc && !scn_expect_equal(&spc->ex, &tgt->ex)) {
		snprintf(err, errlen, "sim-spc expects \"%s\", tgt \"%s\": make them equal "
			 "or say \"sim-spc != tgt: why\"", spc->text, tgt->text);
		return -1;
	}
	if (r->unverified & ~spoken) {
		snprintf(err, errlen, "unverified: names a label the row has no expectation for");
		return -1;
	}
	if (r->unverified & (1u << SCN_SIM_LIO | 1u << SCN_SIM_SPC)) {
		snprintf(err, errlen, "unverified: is for real targets, the simulator always runs");
		return -1;
	}
	return 0;
}

bool scn_expect_match(const struct scn_expect *ex, uint8_t status, uint8_t key,
		      uint8_t asc, uint8_t ascq, const uint8_t *data, size_t len,
		      char *why, size_t wlen)
{
	bool ok = ex->good ? status == 0 :
		  status == 0x02 && key == ex->key &&
		  (!ex->has_asc || (asc == ex->asc && ascq == ex->ascq));

	if (!ok) {
		snprintf(why, wlen, "status %#x, sense %x/%02x/%02x", status, key, asc, ascq);
		return false;
	}
	for (unsigned i = 0; i < ex->nchecks && i < SCN_MAX_CHECKS; i++) {
		const struct scn_check *c = &ex->check[i];

		if (c->off >= len || c->len > len - c->off) {
			snprintf(why, wlen, "only %zu bytes came back (checking byte %u)",
				 len, c->off + c->len - 1);
			return false;
		}
		for (unsigned j = 0; j < c->len && j < SCN_MAX_BYTES; j++)
			if ((data[c->off + j] & c->mask) != c->val[j]) {
				snprintf(why, wlen, "byte %u is %#x", c->off + j,
					 data[c->off + j]);
				return false;
			}
	}
	return true;
}

void scn_fill_refs(struct scn_row *r, const uint8_t *prev, size_t prev_len)
{
	for (unsigned i = 0; i < r->nref && i < SCN_MAX_REFS; i++) {
		const struct scn_ref *f = &r->ref[i];

		for (uint32_t j = 0; j < f->len && f->at + j < SCN_MAX_DATA; j++)
			r->data[f->at + j] = (size_t)f->off + j < prev_len ?
					     prev[f->off + j] : 0;
	}
}
