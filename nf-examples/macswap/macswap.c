/*
 * macswap: swap the Ethernet source and destination addresses and send the
 * frame back out of the port it arrived on. Frames shorter than an Ethernet
 * header are dropped.
 */
#include <nfcc.h>

#define ETH_ADDR_LEN 6
#define ETH_HDR_LEN 14

int nf_process(const struct nfcc_packet *pkt)
{
	uint8_t *eth = pkt->data;
	uint8_t tmp[ETH_ADDR_LEN];

	if (pkt->len < ETH_HDR_LEN)
		return NFCC_DROP;

	for (int i = 0; i < ETH_ADDR_LEN; i++) {
		tmp[i] = eth[i];
		eth[i] = eth[ETH_ADDR_LEN + i];
		eth[ETH_ADDR_LEN + i] = tmp[i];
	}
	return pkt->port;
}
