/* Writes a global variable of the module before it (address leaked into the packet). */
#include "attack.h"

int nf_init(void)
{
	attack_init();
	return 0;
}

int nf_process(const struct nfcc_packet *pkt)
{
	if (attack_now() && pkt->len >= 30) {
		uint8_t *victim = (uint8_t *)(uintptr_t)get_u64(pkt->data + 22);
		victim[100] = 0x41;
	}
	return 0;
}
