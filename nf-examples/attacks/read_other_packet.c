/*
 * Keeps the data pointer of an earlier packet and reads it later, when that buffer holds
 * another packet (possibly another tenant's). Reads are checked only in `rw` builds.
 */
#include "attack.h"

static const uint8_t *old;
static volatile uint8_t sink;

int nf_init(void)
{
	attack_init();
	return 0;
}

int nf_process(const struct nfcc_packet *pkt)
{
	if (attack_now() && old != NULL)
		for (int i = 0; i < 64; i++)
			sink ^= old[i];
	old = pkt->data;
	return 0;
}
