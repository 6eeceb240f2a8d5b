/* Inline assembly cannot be checked: refused at build time. */
#include "attack.h"

int nf_process(const struct nfcc_packet *pkt)
{
	uint64_t v = pkt->len;

	__asm__ volatile("movq %0, (%%rsp)" : : "r"(v));
	return 0;
}
