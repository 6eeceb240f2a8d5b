/*
 * Allocates until its heap is exhausted (which must only ever hurt itself), then writes
 * past the end of the last block it got.
 */
#include "attack.h"

int nf_init(void)
{
	attack_init();
	return 0;
}

int nf_process(const struct nfcc_packet *pkt)
{
	(void)pkt;
	if (attack_now()) {
		uint8_t *last = NULL, *p;
		while ((p = nfcc_alloc(1 << 20)) != NULL)
			last = p;
		if (last != NULL)
			for (uint64_t i = 0;; i += 4096)
				last[i] = 0x41;
	}
	return 0;
}
