/* Fixture loader (see fixture.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

size_t fixture_load(const char *name, uint8_t *buf, size_t max)
{
	char path[1024], line[512];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, name);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "fixture %s: cannot open\n", path);
		abort();
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;

		if (strchr(line, '#'))
			*strchr(line, '#') = '\0';
		for (;;) {
			unsigned long v = strtoul(p, &end, 16);

			if (end == p)
				break;
			if (v > 0xff || n >= max) {
				fprintf(stderr, "fixture %s: bad byte or too long\n", path);
				abort();
			}
			buf[n++] = (uint8_t)v;
			p = end;
		}
	}
	fclose(f);
	return n;
}
