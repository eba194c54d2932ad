/* libFuzzer: NVMe Identify Controller and Namespace decoders, and the
 * Namespace Identification Descriptor list. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nvme/identify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bc_nvme_ctrl_info c;
	struct bc_nvme_ns_info n;

	/* Pages are read into fixed 4096-byte buffers: feed both the exact
	 * input (short ones must be refused) and the input padded. */
	bc_nvme_decode_id_ctrl(data, size, &c);
	bc_nvme_decode_id_ns(data, size, &n);
	if (size < BC_NVME_IDENTIFY_LEN) {
		uint8_t page[BC_NVME_IDENTIFY_LEN] = { 0 };

		memcpy(page, data, size);
		if (bc_nvme_decode_id_ns(page, sizeof(page), &n) == 0 &&
		    (n.lba_size < 512 || n.lba_size > 65536 || n.msrc == 0))
			__builtin_trap();
		bc_nvme_decode_ns_descs(page, sizeof(page), &n);
		if (n.has_uuid && !memcmp(n.uuid, (uint8_t[16]){ 0 }, 16))
			__builtin_trap();
		bc_nvme_decode_id_ctrl(page, sizeof(page), &c);
		if (strlen(c.serial) > 20 || strlen(c.model) > 40)
			__builtin_trap();
	}
	return 0;
}
