/* Writes 64 bytes just past the end of the packet it is processing. */
#include "attack.h"

int nf_init(void)
{
	attack_init();
	return 0;
}

int nf_process(const struct nfcc_packet *pkt)
{
	if (attack_now())
		for (uint32_t i = 0; i < 64; i++)
			pkt->data[pkt->len + i] = 0x41;
	return 0;
}
