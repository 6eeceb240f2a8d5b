/*
 * canary: a benign module that watches its own memory.
 *
 * At init it fills a heap block and a global array with a pattern. On every packet it
 * checks both, then writes their addresses into the packet (bytes 14..30) so a module
 * later in the chain learns where a neighbour's memory is - the "leaked address" of the
 * attack suite. If it ever finds its memory changed, it drops every packet from then on,
 * which the tests see in its counters.
 */
#include <nfcc.h>

#define CANARY_BYTES 4096
#define PATTERN 0xC5

static uint8_t canary_global[CANARY_BYTES];
static uint8_t *canary_heap;
static int corrupted;

int nf_init(void)
{
	canary_heap = nfcc_alloc(CANARY_BYTES);
	if (canary_heap == NULL)
		return -1;
	for (int i = 0; i < CANARY_BYTES; i++) {
		canary_heap[i] = PATTERN;
		canary_global[i] = PATTERN;
	}
	return 0;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int nf_process(const struct nfcc_packet *pkt)
{
	for (int i = 0; i < CANARY_BYTES; i++)
		if (canary_heap[i] != PATTERN || canary_global[i] != PATTERN)
			corrupted = 1;
	if (corrupted)
		return NFCC_DROP;
	if (pkt->len >= 30) {
		put_u64(pkt->data + 14, (uint64_t)(uintptr_t)canary_heap);
		put_u64(pkt->data + 22, (uint64_t)(uintptr_t)canary_global);
	}
	return 1;
}
