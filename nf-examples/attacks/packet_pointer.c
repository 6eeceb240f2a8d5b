/* Writes through a pointer made from packet bytes (attacker-controlled traffic). */
#include "attack.h"

int nf_init(void)
{
	attack_init();
	return 0;
}

int nf_process(const struct nfcc_packet *pkt)
{
	if (attack_now() && pkt->len >= 40) {
		uint64_t *p = (uint64_t *)(uintptr_t)get_u64(pkt->data + 32);
		*p = 0x4141414141414141ull;
	}
	return 0;
}
