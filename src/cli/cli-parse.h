/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Option values an admin types, parsed without side effects (no
 * messages, no globals) so they can be tested and fuzzed apart from
 * getopt: 0 with the value in @out, or -EINVAL and @out untouched.
 */
#ifndef BC_CLI_PARSE_H
#define BC_CLI_PARSE_H

#include <stdint.h>

#include <blkclone/copy.h>

/* --offload=auto|require|never, exactly (no abbreviations, no case folding) */
int bc_cli_parse_offload(const char *s, enum bc_offload_policy *out);
/* --flush: end or never. */
int bc_cli_parse_flush(const char *s, enum bc_flush_policy *out);

/* An LBA: decimal digits only (no sign, spaces, 0x or suffix), at most
 * 2^64 - 1. */
int bc_cli_parse_lba(const char *s, uint64_t *out);

/* A number of seconds, as an LBA is written, from 1 to 2^32 - 1: no time
 * at all is no bound. */
int bc_cli_parse_seconds(const char *s, unsigned *out);

/* A size as an admin writes it: decimal digits and an optional K, M, G
 * or T (powers of 1024: 256K, 1M), nothing else; at most 2^64 - 1. */
int bc_cli_parse_size(const char *s, uint64_t *out);

#endif
