/* memcpy with a length taken from the packet that wraps to a huge (or "negative") size. */
#include <string.h>
#include "attack.h"

int nf_init(void)
{
	attack_init();
	return 0;
}

int nf_process(const struct nfcc_packet *pkt)
{
	if (attack_now()) {
		size_t n = (size_t)0 - (size_t)(pkt->len & 7) - 1;
		memcpy(pkt->data, pkt->data + 1, n);
	}
	return 0;
}
