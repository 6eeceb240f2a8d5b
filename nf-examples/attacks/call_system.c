/* Calls system(3): outside the module, refused at build time. */
#include <stdlib.h>
#include "attack.h"

int nf_process(const struct nfcc_packet *pkt)
{
	(void)pkt;
	return system("touch /tmp/nfcc-pwned");
}
