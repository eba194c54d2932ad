/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A volume is anything blkclone can clone from or to: a regular file, a
 * Linux block device, a SCSI LU (SG_IO or iSCSI), an NVMe namespace.  The
 * planner and the copy engine only ever see struct bc_volume and its ops;
 * which transport sits underneath is the backend's business.
 *
 * All offsets and lengths at this layer are in bytes and must be multiples
 * of the volume's logical block size.
 */
#ifndef BLKCLONE_VOLUME_H
#define BLKCLONE_VOLUME_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <blkclone/error.h>

#ifdef __cplusplus
extern "C" {
#endif

enum bc_support {
	BC_SUP_UNKNOWN = 0,
	BC_SUP_YES,
	BC_SUP_NO,
};

/* One capability: a state and the evidence behind it, for humans. */
struct bc_feature {
	enum bc_support state;
	char reason[200];
};

#define BC_MAX_DESIGNATORS 8
#define BC_DESIGNATOR_MAX 32
#define BC_MAX_UNIT_KEYS 12
#define BC_UNIT_KEY_MAX 256

/* A VPD 0x83 designator (or NVMe EUI-64/NGUID/UUID mapped onto one). */
struct bc_designator {
	uint8_t protocol_id;
	uint8_t code_set;
	bool piv;
	uint8_t association;	/* 0 = the LU, 1 = target port, 2 = target */
	uint8_t type;		/* 1 T10, 2 EUI-64, 3 NAA, 8 SCSI name, ... */
	uint8_t len;
	uint8_t id[BC_DESIGNATOR_MAX];
};

/* One window of a volume onto its unit: bytes [offset, +length) of it. */
#define BC_MAX_LU_WINDOWS 32
struct bc_lu_window {
	uint64_t offset;
	uint64_t length;
};

/* One path of a dm-multipath map a volume lies on. */
#define BC_MAX_PATHS 16
struct bc_path {
	char device[32];	/* "sdb" */
	char state[24];		/* sysfs device/state: "running", "offline"... */
	char dm_state[8];	/* the map's: "active", "failed", "" unknown */
	unsigned fail_count;	/* as the map counts them */
	unsigned group;		/* priority group, 1-based */
	bool usable;		/* running and active */
	char designator[80];	/* its first unique designator, "" none */
};

struct bc_identity {
	char backend[16];	/* "file", "block", "iscsi", "sg", "nvme" */
	char location[256];	/* transport address: portal+IQN+LUN, H:C:T:L,
				 * dev_t, inode... unique per volume */
	char copy_domain[256];	/* volumes with the same non-empty domain may
				 * share a copy manager (evidence, not proof) */
	/* A window (partition, LV) onto a LU: the LU's location and where
	 * the window starts on it, so overlapping clones are refused.  The
	 * layers as text: "dm-0 (linear) > sdb". */
	char lu_location[256];
	uint64_t lu_offset;	/* bytes */
	char stack[256];
	/*
	 * The unit this volume lies on (an LU, an NVMe namespace, a file, the
	 * kernel device at the bottom of a stack) by every name it goes by:
	 * "naa:HEX", "eui64:HEX", "name:HEX", "uuid:HEX" (designators that
	 * name an LU or namespace uniquely), "iscsi-lun:TARGET/LUN" (any
	 * portal), "scsi:H:C:T:L" (one kernel path), "dev:MAJ:MIN" (the kernel
	 * device), "file:MAJ:MIN:INO".  Two volumes with a key in common are
	 * on one unit, and their byte ranges [lu_offset, +size) on it must
	 * not overlap (src/volume/identity.h).
	 */
	char unit[16];		/* "LU", "namespace", "file", "device" */
	size_t n_unit_keys;
	char unit_keys[BC_MAX_UNIT_KEYS][BC_UNIT_KEY_MAX];
	/* an LU or namespace that reports no unique designator: known only
	 * by the path it was reached on */
	bool unit_weak;
	char identity[320];	/* how the unit was identified, in words */
	char vendor[9];
	char product[17];
	char revision[5];
	char serial[64];
	size_t n_designators;
	struct bc_designator designators[BC_MAX_DESIGNATORS];
	/* A volume of several windows onto the unit (an LVM LV of several
	 * segments): where each lies on it, in the volume's order; the
	 * first starts at lu_offset.  0: one window, [lu_offset, +size). */
	size_t n_lu_windows;
	struct bc_lu_window lu_windows[BC_MAX_LU_WINDOWS];
	/* The dm-multipath map beneath ("dm-0", "" none) and its paths. */
	char multipath[32];
	size_t n_paths;
	struct bc_path paths[BC_MAX_PATHS];
	/* why the stack walk stopped above the unit ("dm-3 is a
	 * dm-snapshot: not a plain window onto the LU"), "" when it did not */
	char stack_stopped[200];
};

enum bc_provisioning {
	BC_PROV_UNKNOWN = 0,
	BC_PROV_FULL,
	BC_PROV_RESOURCE,
	BC_PROV_THIN,
};

enum bc_map_source {
	BC_MAP_NONE = 0,	/* no map: zero detection on data read */
	BC_MAP_SEEK_HOLE,	/* SEEK_DATA/SEEK_HOLE on a file */
	BC_MAP_GET_LBA_STATUS,	/* SCSI GET LBA STATUS */
	BC_MAP_BACKING_FILE,	/* a loop device's backing file */
};

struct bc_xcopy_limits {
	uint16_t max_cscd;
	uint16_t max_segments;
	uint32_t max_desc_list_len;
	uint32_t max_segment_len;	/* bytes, 0 = not reported */
	uint16_t max_concurrent;	/* TOTAL CONCURRENT COPIES (bytes 34-35) */
	uint8_t max_concurrent_copies;	/* MAXIMUM CONCURRENT COPIES (byte 36) */
	bool has_type_02;
	bool has_type_e4;
};

struct bc_token_limits {
	uint16_t max_range_desc;
	uint32_t max_inactivity_s;
	uint32_t default_inactivity_s;
	uint64_t max_token_transfer;	/* blocks */
	uint64_t optimal_transfer;	/* blocks */
};

struct bc_nvme_copy_limits {
	uint32_t mssrl;		/* blocks per source range */
	uint32_t mcl;		/* blocks per command */
	uint16_t msrc;		/* source ranges per command (1-based here) */
	uint32_t mdts_bytes;
};

struct bc_unmap_limits {
	uint32_t max_lba_count;		/* 0 = not reported */
	uint32_t max_descriptors;
	uint32_t granularity;		/* blocks */
	uint32_t alignment;		/* blocks, valid if ugavalid */
	bool ugavalid;
};

/*
 * What REPORT SUPPORTED OPERATION CODES (all-commands form) listed: extra
 * evidence beside INQUIRY and the VPD pages, never the only evidence (tgt's
 * one-command form misreports, LIO lacks the command).  SCSI LUs only.
 */
struct bc_opcode_report {
	enum bc_support state;		/* YES: the LU answered with a list */
	char reason[160];
	uint32_t commands;		/* descriptors in the list */
	bool truncated;			/* cut by our allocation length */
	bool extended_copy;		/* 83h/00h */
	bool populate_token;		/* 83h/10h */
	bool write_using_token;		/* 83h/11h */
	bool receive_rod_token_info;	/* 84h/07h */
	bool receive_copy_params;	/* 84h/03h */
	bool write_same16;		/* 93h */
	bool unmap;			/* 42h */
	bool get_lba_status;		/* 9Eh/12h */
};

struct bc_caps {
	struct bc_identity id;
	uint64_t size;			/* bytes */
	uint32_t block_size;		/* logical */
	uint32_t physical_block_size;
	uint64_t lowest_aligned_lba;
	uint32_t opt_transfer;		/* bytes, 0 = not reported */
	uint32_t max_transfer;		/* bytes, 0 = not reported */
	bool read_only;

	struct bc_feature xcopy;	/* EXTENDED COPY LID1 */
	struct bc_xcopy_limits xcopy_lim;
	struct bc_feature token;	/* POPULATE TOKEN / WRITE USING TOKEN */
	struct bc_token_limits token_lim;
	struct bc_feature nvme_copy;
	struct bc_nvme_copy_limits nvme_lim;
	struct bc_feature reflink;	/* FICLONE / copy_file_range */

	struct bc_feature write_same;	/* WRITE SAME(16)+UNMAP, zeroes */
	uint64_t max_write_same;	/* blocks, 0 = not reported */
	struct bc_feature zeroout;	/* BLKZEROOUT, fallocate, Write Zeroes */
	struct bc_feature unmap;	/* UNMAP, discard, DSM deallocate */
	struct bc_unmap_limits unmap_lim;

	struct bc_feature extent_map;
	enum bc_map_source map_source;
	struct bc_feature zero_init;	/* deallocated blocks read as zero */
	enum bc_provisioning provisioning;

	struct bc_opcode_report opcodes;	/* SCSI: RSOC, evidence only */

	/*
	 * The offload methods this volume's backend runs (BC_METHOD_BIT),
	 * from its ops.  A backend states only its own methods' features;
	 * bc_volume_caps() states every other one unsupported, with what
	 * the method needs ("not a SCSI device").
	 */
	unsigned methods;
	/* takes a size of any byte count (a file), not only whole blocks */
	bool any_length;
};

enum bc_extent_state {
	BC_EXTENT_MAPPED = 0,	/* mapped, or unknown: must be read */
	BC_EXTENT_DEALLOCATED,
	BC_EXTENT_ANCHORED,
};

struct bc_extent {
	uint64_t offset;	/* bytes */
	uint64_t length;	/* bytes */
	enum bc_extent_state state;
};

/* Offload methods a backend may implement through ops->offload_copy. */
enum bc_method {
	BC_METHOD_NONE = 0,
	BC_METHOD_XCOPY_LID1,
	BC_METHOD_TOKEN,
	BC_METHOD_NVME_COPY,
	BC_METHOD_REFLINK,
	BC_METHOD_HOST,
};

const char *bc_method_name(enum bc_method m);

/* A set of methods, for bc_volume_ops.methods and bc_caps.methods. */
#define BC_METHOD_BIT(m) (1u << (m))

/* Flags for ops->zero. */
#define BC_ZERO_MAY_UNMAP 0x1	/* deallocating is fine if it reads zero */

/* When a copy must be over (copy --timeout): CLOCK_MONOTONIC milliseconds,
 * 0 = never, and the seconds it was given, for messages. */
struct bc_deadline {
	uint64_t at_ms;
	unsigned seconds;
};

/* What stops a long operation early, handed to whatever runs it (the
 * engine between commands, a backend polling the storage, which aborts
 * its operation there). */
struct bc_stop {
	volatile sig_atomic_t *cancel;	/* non-zero: stop (-EINTR); may be NULL */
	struct bc_deadline deadline;	/* passed: stop (-ETIME) */
};

struct bc_volume;

/*
 * A backend's hold on part of a source's content as it was at one point
 * in time, for a copy that writes it later (ROD tokens a copy manager
 * keeps).  Opaque to every other layer.  It may hold credentials (a ROD
 * token is a bearer token): never written to disk or logs.
 */
struct bc_capture;

struct bc_volume_ops {
	const char *name;
	unsigned methods;	/* BC_METHOD_BIT of each method offload_copy runs */
	/* Fill caps; called once, cached by bc_volume_caps(). */
	int (*probe)(struct bc_volume *v, struct bc_caps *caps,
		     struct bc_error *e);
	int (*read)(struct bc_volume *v, void *buf, uint64_t off, size_t len,
		    struct bc_error *e);
	int (*write)(struct bc_volume *v, const void *buf, uint64_t off,
		     size_t len, struct bc_error *e);
	/*
	 * Describe the allocation from @off on: fills at most @max extents,
	 * contiguous from @off, and never past @off + @len.  At least one
	 * extent on success.  NULL when the backend has no map.
	 */
	int (*map)(struct bc_volume *v, uint64_t off, uint64_t len,
		   struct bc_extent *out, size_t max, size_t *n,
		   struct bc_error *e);
	/* Make [off, off+len) read as zeros; -EOPNOTSUPP if it cannot. */
	int (*zero)(struct bc_volume *v, uint64_t off, uint64_t len,
		    unsigned flags, struct bc_error *e);
	/* Deallocate; contents afterwards are whatever zero_init says. */
	int (*discard)(struct bc_volume *v, uint64_t off, uint64_t len,
		       struct bc_error *e);
	int (*flush)(struct bc_volume *v, struct bc_error *e);
	/*
	 * Start writing back what the device caches and return, maybe
	 * before it is done (SYNCHRONIZE CACHE with IMMED): *early says
	 * whether it returned early (then nothing is known durable until a
	 * ->flush succeeds) or was a whole flush.  NULL: ->flush is used.
	 */
	int (*flush_early)(struct bc_volume *v, bool *early,
			   struct bc_error *e);
	/*
	 * Write back what this host caches for the volume and drop it, so a
	 * copy made beside the cache (O_DIRECT, a copy manager, a clone) is
	 * not overwritten later by another opener's dirty pages, and no
	 * stale page hides it.  NULL: the host caches nothing (iSCSI).
	 */
	int (*drop_cache)(struct bc_volume *v, struct bc_error *e);
	/*
	 * Copy inside the storage with @method.  Sets *done to the bytes
	 * known copied from the start of the range, also on failure.
	 * @len 0 asks the copy manager to accept the pair without copying
	 * (or writing) anything (EXTENDED COPY with a zero-block segment;
	 * for files, the filesystem's answer): 0 = accepted, a refusal as
	 * for a copy, -EOPNOTSUPP without status if it cannot be asked.
	 * A failure that is an OS error (status kind NONE) says through
	 * status.cat whether the destination was written: NOT_SUPPORTED =
	 * refused, nothing written; OTHER = it may have been; left at OK,
	 * -EOPNOTSUPP and -EINVAL mean the backend's own checks stopped it
	 * before anything was sent.
	 */
	int (*offload_copy)(struct bc_volume *src, uint64_t src_off,
			    struct bc_volume *dst, uint64_t dst_off,
			    uint64_t len, enum bc_method method,
			    const struct bc_stop *stop, uint64_t *done,
			    struct bc_error *e);
	/*
	 * Fix now the content of the @n extents @x of @src (ascending, not
	 * overlapping, whole blocks) for a later copy with @method onto
	 * @dst (capture_copy) that writes that content, whatever the source
	 * holds by then.  Nothing is written to either volume, except by a
	 * reflink, whose hold is the clone itself: every extent is cloned
	 * onto @dst here and capture_copy only confirms it; one that fails
	 * after cloning punches what it cloned and fails with status.cat
	 * OTHER (written), not as a refusal.  *@out is
	 * the backend's, freed by capture_free; @said says what was asked
	 * of the storage (how many holds, how long they last), for the
	 * user.  A refusal comes as for offload_copy.  NULL: not possible.
	 */
	int (*capture)(struct bc_volume *src, struct bc_volume *dst,
		       enum bc_method method, const struct bc_extent *x,
		       size_t n, const struct bc_stop *stop,
		       struct bc_capture **out, char *said, size_t said_len,
		       struct bc_error *e);
	/*
	 * As offload_copy, of what @cap fixed for [src_off, src_off+len)
	 * (inside its extents).  When the storage no longer holds it (a
	 * token expired or was invalidated) this fails: it never copies
	 * the source's later content instead.
	 */
	int (*capture_copy)(struct bc_capture *cap, struct bc_volume *src,
			    uint64_t src_off, struct bc_volume *dst,
			    uint64_t dst_off, uint64_t len,
			    const struct bc_stop *stop, uint64_t *done,
			    struct bc_error *e);
	/* Forget @cap, wiping what it held. */
	void (*capture_free)(struct bc_capture *cap);
	/* Files we created: set the size, or remove after a failure. */
	int (*resize)(struct bc_volume *v, uint64_t size, struct bc_error *e);
	int (*unlink_created)(struct bc_volume *v);
	void (*close)(struct bc_volume *v);
};

struct bc_volume {
	const struct bc_volume_ops *ops;
	char name[320];		/* the address as the user gave it */
	uint64_t size;		/* bytes */
	uint32_t block_size;
	bool writable;
	bool created;		/* created by us: reads zero everywhere */
	/* the permission bits of the file or device node, where there is
	 * one (not iSCSI): a file made from this volume is no more open */
	bool has_mode;
	unsigned mode;
	bool caps_valid;
	/* threads that may call read, write, map and zero at once (the
	 * host copy settles holes beside its writes); 0 or 1: one at a time */
	unsigned io_threads;
	struct bc_caps caps;
	/* host locks held while the volume is open for writing (iSCSI LUs,
	 * src/volume/lock.h), released after the backend closed */
	struct bc_lock *lock;
	void *priv;		/* backend state */
};

/* Flags for bc_volume_open. */
#define BC_OPEN_WRITE	0x1	/* open for writing, exclusively */
#define BC_OPEN_CREATE	0x2	/* a missing file is created (size set later) */

int bc_volume_open(const char *addr, unsigned flags, struct bc_volume **out,
		   struct bc_error *e);
/* As bc_volume_open; a file it creates gets @mode (less the umask).
 * bc_volume_open creates with 0600. */
int bc_volume_open_mode(const char *addr, unsigned flags, unsigned mode,
			struct bc_volume **out, struct bc_error *e);
/* The mode of a file made from @src: 0600, less what @src's own mode
 * withholds from its owner (a 0400 image gives a 0400 copy). */
unsigned bc_volume_create_mode(const struct bc_volume *src);
void bc_volume_close(struct bc_volume *v);

/* Probe once and cache; returns the cached caps on later calls. */
int bc_volume_caps(struct bc_volume *v, const struct bc_caps **caps,
		   struct bc_error *e);

/* ops->drop_cache where the volume has one, else 0. */
int bc_volume_drop_cache(struct bc_volume *v, struct bc_error *e);

/* Grow a volume we created (files only) to @size bytes. */
int bc_volume_set_size(struct bc_volume *v, uint64_t size, struct bc_error *e);

/* Remove a volume that bc_volume_open created (files only). */
int bc_volume_unlink_created(struct bc_volume *v);

#ifdef __cplusplus
}
#endif
#endif
