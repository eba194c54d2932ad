/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The CHAP secret: from BLKCLONE_ISCSI_PASSWORD, or the file named by
 * BLKCLONE_ISCSI_PASSWORD_FILE, never from the command line and never in
 * a message.  It is read for each login (a lost session logs in again)
 * and wiped right after libiscsi took it; libiscsi keeps its own copy in
 * the session's context until the context is destroyed (it clears the
 * context then).  Once a secret is in memory the process cannot dump
 * core.
 */
#ifndef BC_ISCSI_SECRET_H
#define BC_ISCSI_SECRET_H

#include <stddef.h>

/* A secret longer than this is refused (CHAP secrets are far shorter). */
#define BC_ISCSI_SECRET_MAX 256

/*
 * The secret into @buf (BC_ISCSI_SECRET_MAX bytes; the caller wipes it
 * with explicit_bzero after use).  The file must be a regular file, not
 * reached through a symbolic link, owned by root or the caller, and
 * neither readable nor writable by group or others.  0, or -EACCES with
 * the reason in @why.
 */
int bc_iscsi_secret_load(char *buf, char *why, size_t whylen);

/*
 * For the program, first thing in main(): a secret in
 * BLKCLONE_ISCSI_PASSWORD is moved into a copy of the environment in the
 * heap (where the logins find it) and overwritten in the block the
 * kernel placed at exec, which /proc/PID/environ shows to other
 * processes; core dumps are turned off.  Nothing happens without it.
 */
void bc_iscsi_secret_hide_env(void);

#endif
