/* In-memory volume for engine tests: sparse blocks, a map, call counts
 * and fault injection.  Not a SCSI simulator (that is tests/sim/). */
#ifndef BC_TEST_MEMVOL_H
#define BC_TEST_MEMVOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <blkclone/volume.h>

struct memvol {
	uint8_t *data;
	bool *allocated;	/* per block */
	uint32_t bs;
	uint64_t nblocks;
	bool has_map;
	bool zero_init;		/* deallocated blocks read zero */
	/* unallocated blocks in [anchor_off, anchor_off + anchor_len) are
	 * reported anchored by the map (bytes; 0 = none) */
	uint64_t anchor_off, anchor_len;
	/* counters */
	unsigned reads, writes, zeros, maps;
	uint64_t read_bytes, written_bytes, zeroed_bytes;
	/* faults: fail the Nth write/read (1-based), 0 = never */
	unsigned fail_write_at, fail_read_at, fail_zero_at;
	/* a volatile write cache: writes and zeros reach stable storage at
	 * the next flush; the fail_flush_at-th flush (1-based) fails and
	 * loses them (their blocks then read 0xEE) */
	bool volatile_cache;
	unsigned flushes, fail_flush_at;
	bool *dirty;		/* per block: written since the last flush */
	/* what the probe says the map comes from (names it in messages) */
	enum bc_map_source map_source;
	/* a map that cannot be trusted: the query at byte map_lie_at fails
	 * with map_fail (an errno), or else answers map_lie_ext (at most max
	 * of them copied) and claims map_lie_n extents */
	bool map_lie;
	uint64_t map_lie_at;
	struct bc_extent map_lie_ext[8];
	size_t map_lie_n;
	int map_fail;
	/* zero op unsupported: the engine must write zeros itself */
	bool no_zero_op;
	uint32_t opt_transfer, max_transfer;	/* bytes, as probe reports */
	char location[64];
	/* a copy manager: offload_copy between memvols of one domain */
	bool offload;
	uint64_t offload_fail_after;	/* bytes copied, then -ECANCELED;
					 * 0 = never fail */
	bool offload_refuse;		/* refuse every command */
	/* like a file's FICLONERANGE: the zero-length pair check cannot
	 * confirm (-EOPNOTSUPP, no status), or refuses (pair_os_refuse:
	 * category NOT_SUPPORTED); the first data command fails with an OS
	 * error (no device status) of this errno and category, after
	 * writing its first block if offload_os_partial */
	bool pair_cannot_ask, pair_os_refuse;
	int offload_os_err;
	enum bc_status_cat offload_os_cat;
	bool offload_os_partial;
	/* the first data command fails with a device status of this
	 * category (BC_CAT_OK: never), nothing copied */
	enum bc_status_cat offload_dev_cat;
	unsigned offload_calls;
	uint64_t offloaded_bytes;
	char domain[32];
	/* a reflink's point in time (memvol_reflink): capture copies every
	 * extent onto the destination at once, as file.c clones them; the
	 * capture_fail_at-th extent (1-based, 0 = none) fails with
	 * capture_err after the earlier ones were written (they are
	 * deallocated again, status OTHER), or, as the first, refused
	 * (status NOT_SUPPORTED, nothing written) */
	unsigned capture_fail_at;
	int capture_err;
	unsigned captures;
	/* called before a read or a flush takes the memvols' lock, from the
	 * engine's thread: a test may hold it there (flush: off = len = 0) */
	void (*before_io)(struct memvol *m, bool flush, uint64_t off,
			  size_t len, void *arg);
	void *before_io_arg;
	/* called before a zero op takes the memvols' lock, likewise */
	void (*before_zero)(struct memvol *m, uint64_t off, uint64_t len,
			    void *arg);
	void *before_zero_arg;
};

/*
 * A before_zero hook that tells whether zero ops run at once: each one
 * waits until another is in its hook too (then both go on), or until
 * 60 s passed -- a bound for the failing case, not a wait.  One struct
 * may serve several volumes.
 */
struct memvol_overlap {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	unsigned in;		/* in the hook now */
	unsigned calls;
	bool seen;		/* two were in it at once */
};
#define MEMVOL_OVERLAP_INIT { .lock = PTHREAD_MUTEX_INITIALIZER, \
			      .cv = PTHREAD_COND_INITIALIZER }
void memvol_overlap_zero(struct memvol *m, uint64_t off, uint64_t len,
			 void *arg);
/* The engines' parallel-settle case: a 64 MiB source with 1 MiB of data
 * at every 16 MiB (four holes of 15 MiB), a destination of old data
 * (every hole must be zeroed) whose zero ops wait on @t; four I/O
 * threads each. */
void memvol_overlap_pair(struct bc_volume **src, struct bc_volume **dst,
			 struct memvol_overlap *t);

struct bc_volume *memvol_new(const char *name, uint64_t size, uint32_t bs,
			     bool has_map, bool zero_init, bool writable);
struct memvol *memvol_of(struct bc_volume *v);
/* Make @v a volume that clones (method reflink, capture ops): before
 * its caps are first read. */
void memvol_reflink(struct bc_volume *v);
/* Fill [off, off+len) with a pattern derived from @seed and allocate. */
void memvol_fill(struct bc_volume *v, uint64_t off, uint64_t len, unsigned seed);
/* Fill the whole volume with garbage, all allocated (old data). */
void memvol_garbage(struct bc_volume *v, unsigned seed);
uint64_t memvol_allocated_bytes(struct bc_volume *v);
/* Do the first @len bytes of two volumes read the same (through ->read)? */
bool memvol_same(struct bc_volume *a, struct bc_volume *b, uint64_t len);

#endif
