/* libFuzzer: the iscsi:// URL parser and the secret-scrubbing display. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "volume/address.h"
#include "transport/iscsi/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bc_iscsi_addr a;
	char *s = malloc(size + 1), why[256], shown[320];

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	why[0] = '\0';
	if (bc_iscsi_parse_url(s, &a, why, sizeof(why)) == 0) {
		if (!a.port || a.port > 65535 || a.lun > 16383 || !a.iqn[0] || !a.host[0])
			__builtin_trap();
		if (strchr(a.user, ':') || strchr(a.user, '%'))
			__builtin_trap();	/* a password slipped through */
	} else if (!why[0]) {
		__builtin_trap();
	}
	bc_addr_display(s, shown, sizeof(shown));
	/* whatever was typed after "user:" up to '@' is never shown */
	{
		const char *at = strchr(s, '@'), *colon = strstr(s, "://");

		if (colon && at && !memchr(s, '\0', 0)) {
			const char *sep = strpbrk(colon + 3, ":%");
			const char *slash = strchr(colon + 3, '/');

			if (sep && sep < at && (!slash || at < slash) &&
			    at - sep > 4 && strlen(shown) < sizeof(shown) - 1) {
				char secret[8];

				memcpy(secret, sep + 1, 4);
				secret[4] = '\0';
				if (!strchr(secret, '*') && !strchr(secret, '@') &&
				    strstr(shown + (sep - s) + 1, secret) == shown + (sep - s) + 1)
					__builtin_trap();
			}
		}
	}
	free(s);
	return 0;
}
