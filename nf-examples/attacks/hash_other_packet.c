/*
 * Keeps the data pointer of an earlier packet and later hands it to the data-structure
 * library's key hash, which runs as nfcc's runtime code: reading through the runtime must
 * be checked like reading directly (the hashed range is checked at the call; `rw` only).
 */
#include "attack.h"
#include <nfcc_ds.h>

static const uint8_t *old;
static volatile uint32_t sink;

int nf_init(void)
{
	attack_init();
	return 0;
}

int nf_process(const struct nfcc_packet *pkt)
{
	if (attack_now() && old != NULL)
		sink ^= nfcc_hash(old, 64, 0);
	old = pkt->data;
	return 0;
}
