/*
 * hash.c - nfcc_hash, and the trace counters of tracing builds.
 */
#include "nfcc_ds.h"

#ifdef NFCC_DS_TRACE
struct nfcc_ds_trace nfcc_ds_trace;
#endif

/* A bijection on 32-bit words (the policer's mixer): the shifts spread high product bits down. */
static uint32_t mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

uint32_t nfcc_hash(const void *key, uint32_t len, uint32_t seed)
{
	const uint8_t *p = key;
	uint32_t h = seed ^ (len * 0x9e3779b9u);
	uint32_t i = 0;

	/* len / 4 rounds: fixed for a given key size, not a PCV */
	for (; len - i >= 4; i += 4) {
		uint32_t w = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
			     (uint32_t)p[i + 3] << 24;

		h = (h ^ mix32(w)) * 0x9e3779b1u;
		h = h << 13 | h >> 19;
	}
	if (len > i) {
		uint32_t w = p[i];

		if (len - i > 1)
			w |= (uint32_t)p[i + 1] << 8;
		if (len - i > 2)
			w |= (uint32_t)p[i + 2] << 16;
		h = (h ^ mix32(w)) * 0x9e3779b1u;
	}
	return mix32(h);
}
