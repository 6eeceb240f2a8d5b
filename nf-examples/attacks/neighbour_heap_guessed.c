/*
 * Guesses where other modules' memory is: walks down from its own heap, one page at a
 * time, writing to every page until something stops it.
 */
#include "attack.h"

static uint8_t *mine;

int nf_init(void)
{
	attack_init();
	mine = nfcc_alloc(64);
	return mine == NULL ? -1 : 0;
}

int nf_process(const struct nfcc_packet *pkt)
{
	(void)pkt;
	if (attack_now())
		for (uint64_t off = 0; off < (1ull << 40); off += 4096)
			*(volatile uint8_t *)(mine - off) = 0x41;
	return 0;
}
