/* libFuzzer: the scenario list's row parser and rules (tests/sim/scenario.c):
 * each input line is parsed and linted; a parsed row's expectations are
 * matched against a reply made from the input and its "@OFF+LEN" pieces
 * are filled from it, as tests/sim/scsi-scenario.c does. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../sim/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct scn_row row;
	static char line[SCN_MAX_LINE + 2];
	char err[256], why[256];
	size_t off = 0;

	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t n = nl ? (size_t)(nl - (data + off)) : size - off;
		size_t keep = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
		int rc;

		memcpy(line, data + off, keep);
		line[keep] = '\0';
		off += n + 1;
		rc = scn_parse_row(line, &row, err, sizeof(err));
		if (rc < 0 && !err[0])
			__builtin_trap();	/* every refusal says why */
		if (rc <= 0)
			continue;
		if (row.cdb_len > 16 || row.data_len > SCN_MAX_DATA || row.nref > SCN_MAX_REFS ||
		    !row.nfields || row.nfields > SCN_MAX_FIELDS)
			__builtin_trap();
		for (unsigned i = 0; i < row.nref; i++)
			if (row.ref[i].at + row.ref[i].len > row.data_len)
				__builtin_trap();
		scn_lint_row(&row, err, sizeof(err));
		for (unsigned i = 0; i < row.nfields; i++) {
			const struct scn_expect *ex = &row.field[i].ex;

			if (!scn_expect_equal(ex, ex))
				__builtin_trap();
			scn_expect_match(ex, data[0] & 2, data[0] & 0xf, (uint8_t)size,
					 0, data, size, why, sizeof(why));
		}
		scn_fill_refs(&row, data, size);
	}
	return 0;
}
