/* A variable-length array sized by the packet: refused at build time in protected modes. */
#include "attack.h"

int nf_process(const struct nfcc_packet *pkt)
{
	volatile uint8_t buf[pkt->len + 1];

	buf[0] = 1;
	return buf[0];
}
