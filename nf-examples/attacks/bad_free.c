/* Frees a pointer that nfcc_alloc did not return: the packet's own data. */
#include "attack.h"

int nf_init(void)
{
	attack_init();
	return 0;
}

int nf_process(const struct nfcc_packet *pkt)
{
	if (attack_now())
		nfcc_free(pkt->data);
	return 0;
}
