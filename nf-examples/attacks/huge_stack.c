/* Asks for 1 MiB of locals: refused at build time in protected modes. */
#include "attack.h"

int nf_process(const struct nfcc_packet *pkt)
{
	volatile uint8_t big[1 << 20];

	big[pkt->len & 0xfffff] = 1;
	return big[0];
}
