/* Fixture files: commented hex, 16 bytes a line ('#' starts a comment). */
#ifndef BC_TEST_FIXTURE_H
#define BC_TEST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of fixtures/@name into @buf; returns the count, aborts on error. */
size_t fixture_load(const char *name, uint8_t *buf, size_t max);

#endif
