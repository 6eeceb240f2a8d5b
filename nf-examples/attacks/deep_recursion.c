/* Recurses without end, with a local buffer in every frame. */
#include "attack.h"

static volatile uint64_t sink;

static __attribute__((noinline)) uint64_t dive(uint64_t depth)
{
	volatile uint8_t buf[256];

	buf[depth & 255] = (uint8_t)depth;
	return dive(depth + 1) + buf[0];
}

int nf_init(void)
{
	attack_init();
	return 0;
}

int nf_process(const struct nfcc_packet *pkt)
{
	if (attack_now())
		sink = dive(pkt->len);
	return 0;
}
