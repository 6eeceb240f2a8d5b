/* Calls a host function (libc's abort) through a function pointer. */
#include <stdlib.h>
#include "attack.h"

static void (*volatile target)(void);

int nf_init(void)
{
	attack_init();
	target = abort;
	return 0;
}

int nf_process(const struct nfcc_packet *pkt)
{
	(void)pkt;
	if (attack_now())
		target();
	return 0;
}
