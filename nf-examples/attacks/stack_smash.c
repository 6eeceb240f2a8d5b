/*
 * Writes through a pointer to a local, upwards, as a classic stack smash does to reach
 * saved registers and the return address: it never finds any (they are on a stack no
 * pointer reaches), and is stopped when it leaves the module's own memory.
 */
#include "attack.h"

int nf_init(void)
{
	attack_init();
	return 0;
}

static __attribute__((noinline)) void smash(volatile uint64_t *p)
{
	for (uint64_t i = 0; i < (1ull << 40); i++)
		p[i] = 0x4141414141414141ull;
}

int nf_process(const struct nfcc_packet *pkt)
{
	volatile uint64_t local[4] = { pkt->len, 0, 0, 0 };

	if (attack_now())
		smash(local);
	return (int)(local[0] & 0);
}
