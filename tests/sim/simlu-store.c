// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The sparse medium of a simulated LU (see simlu-int.h): 64 KiB chunks in
 * an open addressing hash table with linear probing, bitmaps of mapped and
 * of anchored blocks per chunk.  A chunk is freed when its last block is
 * deallocated, so memory follows what is allocated, not the LU's size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "simlu-int.h"

static size_t hash_idx(uint64_t idx, size_t cap)
{
	/* Fibonacci hashing: sequential chunk indexes spread evenly */
	return (size_t)((idx * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

int sim_store_init(struct sim_store *st, uint32_t bs)
{
	memset(st, 0, sizeof(*st));
	st->bs = bs;
	st->chunk_blocks = bs >= SIM_CHUNK_BYTES ? 1 : SIM_CHUNK_BYTES / bs;
	st->cap = 64;
	st->slot = calloc(st->cap, sizeof(*st->slot));
	return st->slot ? 0 : -ENOMEM;
}

void sim_store_free(struct sim_store *st)
{
	for (size_t i = 0; i < st->cap; i++)
		free(st->slot[i]);
	free(st->slot);
	st->slot = NULL;
	st->cap = st->used = 0;
}

static struct sim_chunk *find(const struct sim_store *st, uint64_t idx)
{
	for (size_t i = hash_idx(idx, st->cap);; i = (i + 1) & (st->cap - 1)) {
		if (!st->slot[i])
			return NULL;
		if (st->slot[i]->idx == idx)
			return st->slot[i];
	}
}

static void insert_slot(struct sim_chunk **slot, size_t cap, struct sim_chunk *ch)
{
	size_t i = hash_idx(ch->idx, cap);

	while (slot[i])
		i = (i + 1) & (cap - 1);
	slot[i] = ch;
}

static int grow(struct sim_store *st)
{
	size_t cap = st->cap * 2;
	struct sim_chunk **slot = calloc(cap, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; i < st->cap; i++)
		if (st->slot[i])
			insert_slot(slot, cap, st->slot[i]);
	free(st->slot);
	st->slot = slot;
	st->cap = cap;
	return 0;
}

static struct sim_chunk *get(struct sim_store *st, uint64_t idx)
{
	struct sim_chunk *ch = find(st, idx);
	size_t bytes = (size_t)st->chunk_blocks * st->bs;

	if (ch)
		return ch;
	/* keep the table at most half full so probes stay short */
	if ((st->used + 1) * 2 > st->cap && grow(st) < 0)
		return NULL;
	ch = calloc(1, sizeof(*ch) + bytes);
	if (!ch)
		return NULL;
	ch->idx = idx;
	insert_slot(st->slot, st->cap, ch);
	st->used++;
	return ch;
}

/* Remove @ch, shifting later members of its probe run back (no tombstones). */
static void drop(struct sim_store *st, struct sim_chunk *ch)
{
	size_t mask = st->cap - 1, i = hash_idx(ch->idx, st->cap), j;

	while (st->slot[i] != ch)
		i = (i + 1) & mask;
	st->slot[i] = NULL;
	free(ch);
	st->used--;
	for (j = (i + 1) & mask; st->slot[j]; j = (j + 1) & mask) {
		size_t home = hash_idx(st->slot[j]->idx, st->cap);

		/* move slot[j] into the hole unless its home lies in (i, j] */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			st->slot[i] = st->slot[j];
			st->slot[j] = NULL;
			i = j;
		}
	}
}

static bool bit(const struct sim_chunk *ch, uint32_t b)
{
	return ch->map[b / 64] >> (b % 64) & 1;
}

static bool anch_bit(const struct sim_chunk *ch, uint32_t b)
{
	return ch->anch[b / 64] >> (b % 64) & 1;
}

static enum sim_blk_state state_of(const struct sim_chunk *ch, uint32_t b)
{
	if (!ch)
		return SIM_BLK_DEALLOCATED;
	return bit(ch, b) ? SIM_BLK_MAPPED :
	       anch_bit(ch, b) ? SIM_BLK_ANCHORED : SIM_BLK_DEALLOCATED;
}

static bool chunk_empty(const struct sim_chunk *ch)
{
	return !ch->map[0] && !ch->map[1] && !ch->anch[0] && !ch->anch[1];
}

void sim_store_read(const struct sim_store *st, uint64_t lba, uint64_t n,
		    uint8_t *out, uint8_t fill)
{
	while (n) {
		uint64_t idx = lba / st->chunk_blocks;
		uint32_t b = (uint32_t)(lba % st->chunk_blocks);
		uint64_t k = st->chunk_blocks - b;
		const struct sim_chunk *ch = find(st, idx);

		if (k > n)
			k = n;
		for (uint64_t i = 0; i < k; i++, b++, out += st->bs) {
			if (ch && bit(ch, b))
				memcpy(out, ch->data + (size_t)b * st->bs, st->bs);
			else
				memset(out, fill, st->bs);
		}
		lba += k;
		n -= k;
	}
}

int sim_store_write(struct sim_store *st, uint64_t lba, uint64_t n,
		    const uint8_t *in)
{
	while (n) {
		uint64_t idx = lba / st->chunk_blocks;
		uint32_t b = (uint32_t)(lba % st->chunk_blocks);
		uint64_t k = st->chunk_blocks - b;
		struct sim_chunk *ch = get(st, idx);

		if (!ch)
			return -ENOMEM;
		if (k > n)
			k = n;
		memcpy(ch->data + (size_t)b * st->bs, in, (size_t)k * st->bs);
		for (uint64_t i = 0; i < k; i++, b++) {
			ch->anch[b / 64] &= ~(1ull << (b % 64));
			if (!bit(ch, b)) {
				ch->map[b / 64] |= 1ull << (b % 64);
				st->mapped++;
			}
		}
		in += k * st->bs;
		lba += k;
		n -= k;
	}
	return 0;
}

void sim_store_unmap(struct sim_store *st, uint64_t lba, uint64_t n)
{
	while (n) {
		uint64_t idx = lba / st->chunk_blocks;
		uint32_t b = (uint32_t)(lba % st->chunk_blocks);
		uint64_t k = st->chunk_blocks - b;
		struct sim_chunk *ch = find(st, idx);

		if (k > n)
			k = n;
		if (ch) {
			for (uint64_t i = 0; i < k; i++, b++) {
				ch->anch[b / 64] &= ~(1ull << (b % 64));
				if (bit(ch, b)) {
					ch->map[b / 64] &= ~(1ull << (b % 64));
					st->mapped--;
				}
			}
			if (chunk_empty(ch))
				drop(st, ch);
		}
		lba += k;
		n -= k;
	}
}

int sim_store_anchor(struct sim_store *st, uint64_t lba, uint64_t n)
{
	while (n) {
		uint64_t idx = lba / st->chunk_blocks;
		uint32_t b = (uint32_t)(lba % st->chunk_blocks);
		uint64_t k = st->chunk_blocks - b;
		struct sim_chunk *ch = get(st, idx);

		if (!ch)
			return -ENOMEM;
		if (k > n)
			k = n;
		memset(ch->data + (size_t)b * st->bs, 0, (size_t)k * st->bs);
		for (uint64_t i = 0; i < k; i++, b++) {
			ch->anch[b / 64] |= 1ull << (b % 64);
			if (bit(ch, b)) {
				ch->map[b / 64] &= ~(1ull << (b % 64));
				st->mapped--;
			}
		}
		lba += k;
		n -= k;
	}
	return 0;
}

bool sim_store_mapped(const struct sim_store *st, uint64_t lba)
{
	const struct sim_chunk *ch = find(st, lba / st->chunk_blocks);

	return ch && bit(ch, (uint32_t)(lba % st->chunk_blocks));
}

enum sim_blk_state sim_store_state(const struct sim_store *st, uint64_t lba)
{
	return state_of(find(st, lba / st->chunk_blocks),
			(uint32_t)(lba % st->chunk_blocks));
}

/* Smallest chunk index >= @idx that is present, or UINT64_MAX. */
static uint64_t next_present(const struct sim_store *st, uint64_t idx)
{
	uint64_t best = UINT64_MAX;

	for (size_t i = 0; i < st->cap; i++)
		if (st->slot[i] && st->slot[i]->idx >= idx && st->slot[i]->idx < best)
			best = st->slot[i]->idx;
	return best;
}

uint64_t sim_store_run(const struct sim_store *st, uint64_t lba, uint64_t max,
		       enum sim_blk_state *state)
{
	uint64_t n = 0;

	*state = sim_store_state(st, lba);
	while (n < max) {
		uint64_t cur = lba + n, idx = cur / st->chunk_blocks;
		uint32_t b = (uint32_t)(cur % st->chunk_blocks);
		const struct sim_chunk *ch = find(st, idx);

		if (!ch) {
			uint64_t next, gap;

			if (*state != SIM_BLK_DEALLOCATED)
				break;
			/* skip the absent chunks in one step: huge sparse
			 * LUs must not cost a probe per chunk */
			next = next_present(st, idx + 1);
			gap = next == UINT64_MAX ? UINT64_MAX :
			      next * st->chunk_blocks - cur;
			n = gap >= max - n ? max : n + gap;
			continue;
		}
		for (; b < st->chunk_blocks && n < max; b++, n++)
			if (state_of(ch, b) != *state)
				return n;
	}
	return n;
}
