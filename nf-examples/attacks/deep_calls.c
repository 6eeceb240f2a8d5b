/* Recurses without end and without locals: only return addresses pile up on the call stack. */
#include "attack.h"

static volatile uint64_t sink;

static __attribute__((noinline)) uint64_t dive(uint64_t depth)
{
	/* The store after the call keeps the compiler from turning this into a loop. */
	uint64_t r = depth == 0 ? sink : dive(depth + 1);

	sink = r;
	return r + depth;
}

int nf_init(void)
{
	attack_init();
	return 0;
}

int nf_process(const struct nfcc_packet *pkt)
{
	if (attack_now())
		sink = dive(pkt->len + 1);
	return 0;
}
